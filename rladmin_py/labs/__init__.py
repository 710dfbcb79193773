"""Training labs: guided exercises on the sandbox, checked on the wire (issue 16).

Each lab is one data file in ``data/`` (:mod:`.catalog` reads and checks them): a story, the
changes and files its setup makes (:mod:`.scenario`), objectives from a small typed vocabulary
(:mod:`.objectives`, composed from the probes of :mod:`rladmin_py.verify`), hints and a reference
solution in rladmin-py syntax. :mod:`.commands` holds the ``lab ...`` handlers; progress is kept in
the sandbox state (``state["labs"]``), which ``sandbox reset`` starts again from nothing.
"""
