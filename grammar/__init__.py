"""The command grammar as data (rladmin.grammar); installed as rladmin_py.grammar_data."""
