"""``python -m rladmin_py``: the same as the ``rladmin-py`` console script."""
import sys

from .cli import main

sys.exit(main())
