"""The shell's history file, and the filter that keeps secrets out of it.

The file is created 0600 (its directories 0700, whatever the umask) before anything writes to
it, never through a symlink, and refused if it is not a regular file of this user in a directory
nobody else may write to. Lines that look
like they carry a secret (a PEM block or one of its base64 lines pasted by mistake, a password)
are never written (redis-cli's ``isSensitiveCommand``, iredis' ``SkipAuthFileHistory``).
"""
from __future__ import annotations

import errno
import os
import re

from .. import paths, safefiles


def history_path() -> str:
    return paths.history()


def prepare_history_file(path: str) -> str:
    """Create the history file 0600 (its directories 0700) before anything writes to it; tighten
    the mode of an existing one. Raises OSError (``strerror`` says why) for a symlink, anything
    but a regular file, or a file or directory of another user or writable by others: the shell
    then keeps history in memory only."""
    directory = safefiles.make_private_dirs(os.path.dirname(os.path.abspath(path)))
    why = safefiles.foreign_file(os.stat(directory))
    if why:
        raise OSError(errno.EPERM, f"its directory is refused: {why}")
    try:
        fd, _ = safefiles.open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | safefiles.NOFOLLOW, private=True)
    except safefiles.NotRegular:
        raise OSError(errno.EINVAL, "is not a regular file: refused") from None
    except safefiles.Foreign as err:
        raise OSError(errno.EPERM, f"is refused: {err.why}") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "is a symbolic link: refused (history goes only to a regular file)") from None
        raise
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


_SECRET = re.compile(r"-----BEGIN|PRIVATE KEY|passw(?:or)?d|\bpwd\b|secret|api[_-]?key|token", re.IGNORECASE)


#: A word that looks like a line of a PEM body (a key pasted at the prompt by mistake).
_PEM_BODY = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9+/]{40,}={0,2}(?![\w/+=.-])")


def looks_random(token: str) -> bool:
    """A single word that looks like a password or token typed at the prompt by mistake: long
    enough, and mixing at least three kinds of character (lower, upper, digit, other), with no
    path or option shape a command word has."""
    if len(token) < 12 or token.startswith(("/", "~", "./", "../", "-")):
        return False
    kinds = (any(c.islower() for c in token), any(c.isupper() for c in token), any(c.isdigit() for c in token),
             any(not c.isalnum() for c in token))
    if sum(kinds) < 3:
        return False
    # a dotted or underscored word of letters (a parameter, a host name, a file) is not a secret
    return not re.fullmatch(r"[A-Za-z][A-Za-z_.-]*[0-9._-]*", token)


def may_hold_secret(line: str) -> bool:
    """True for lines that must never reach the history file (PEM blocks and their base64
    lines, passwords, a lone random-looking word...)."""
    words = line.split()
    return bool(_SECRET.search(line) or _PEM_BODY.search(line) or (len(words) == 1 and looks_random(words[0])))
