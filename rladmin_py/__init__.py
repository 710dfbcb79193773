"""rladmin-py: an interactive, rladmin-style admin shell for Redis Enterprise Software clusters."""

__version__ = "0.1.0"
