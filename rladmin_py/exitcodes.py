"""Exit codes, documented in README.md; a module of its own so ``--help`` imports nothing else."""

EXIT_OK = 0  # ok
EXIT_FAILED = 1  # a command failed
EXIT_USAGE = 2  # usage or syntax error
EXIT_CONNECTION = 3  # connection, authentication or configuration error
EXIT_INTERRUPTED = 130  # interrupted (Ctrl-C)
