"""The shell's history file, and the filter that keeps secrets out of it.

The file is created 0600 (its directory 0700) before anything writes to it. Lines that look
like they carry a secret (a PEM block or one of its base64 lines pasted by mistake, a password)
are never written (redis-cli's ``isSensitiveCommand``, iredis' ``SkipAuthFileHistory``).
"""
from __future__ import annotations

import os
import re

from .. import paths


def history_path() -> str:
    return paths.history()


def prepare_history_file(path: str) -> str:
    """Create the history file 0600 (its directory 0700) before anything writes to it; tighten
    the mode of an existing one."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


_SECRET = re.compile(r"-----BEGIN|PRIVATE KEY|passw(?:or)?d|\bpwd\b|secret|api[_-]?key|token", re.IGNORECASE)


#: A word that looks like a line of a PEM body (a key pasted at the prompt by mistake).
_PEM_BODY = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9+/]{40,}={0,2}(?![\w/+=.-])")


def may_hold_secret(line: str) -> bool:
    """True for lines that must never reach the history file (PEM blocks and their base64
    lines, passwords...)."""
    return bool(_SECRET.search(line) or _PEM_BODY.search(line))
