"""Where rladmin-py keeps its files, by the XDG base directory rules.

One place for the three locations, so the shell's banner can name the sandbox without
importing the sandbox backend.
"""
from __future__ import annotations

import os


def _xdg(variable: str, *fallback: str) -> str:
    return os.environ.get(variable) or os.path.join(os.path.expanduser("~"), *fallback)


def sandbox_state() -> str:
    """The default sandbox state file: ``$XDG_DATA_HOME/rladmin-py/sandbox.json``."""
    return os.path.join(_xdg("XDG_DATA_HOME", ".local", "share"), "rladmin-py", "sandbox.json")


def history() -> str:
    """The shell's history: ``$XDG_STATE_HOME/rladmin-py/history``."""
    return os.path.join(_xdg("XDG_STATE_HOME", ".local", "state"), "rladmin-py", "history")


def config_file() -> str:
    """Profiles: ``$XDG_CONFIG_HOME/rladmin-py/config.toml``."""
    return os.path.join(_xdg("XDG_CONFIG_HOME", ".config"), "rladmin-py", "config.toml")
