"""The command language: the grammar data and its loader, the pyparsing parser of record, the one
pure-Python walker (fast match, completion, ``?``, validation, highlighting) and generated help.

Nothing here knows of backends, the shell or the sandbox.
"""
