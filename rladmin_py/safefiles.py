"""Files, safely.

Reading files the user names: only regular files, never blocking, never more than a limit. A
FIFO, a device or a socket named as ``certificate_file`` or ``--ca-cert`` would block an
ordinary ``open`` until Ctrl-C; here it is refused before a byte is read. Files this tool trusts
(the sandbox's state and lock, the shell's history) are opened the same way and refused, too,
when another user owns them or others may write to them (``private``).

Writing files that may hold a secret (:func:`write_secret_file`): never through a symlink or a
file planted under the temporary name, the mode set on the descriptor, atomically; directories
for them (:func:`make_private_dirs`) 0700 from the first component created, whatever the umask.
Leftovers of a killed writer are found by name and age (:func:`stale_temp_files`), and core
dumps of a process holding keys are off (:func:`disable_core_dumps`).
"""
from __future__ import annotations

import errno
import os
import stat
import sys


class Unusable(OSError):
    """A file refused before use (:func:`check_regular`): one of the two below."""


class NotRegular(Unusable):
    """The path names something other than a regular file; ``kind`` says what."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class Foreign(Unusable):
    """A file this tool trusts (sandbox state, lock, history) that must not be used; ``why``
    says why (:func:`foreign_file`)."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)  # not inherited, never a terminal of ours
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def check_regular(st: os.stat_result, *, private: bool = False) -> None:
    """Refuse what is not a regular file (:class:`NotRegular`) and, ``private``, a file of another
    user or one others may write to (:class:`Foreign`): what it holds would be someone else's."""
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(next((kind for test, kind in _KINDS if test(st.st_mode)), "not a regular file"))
    why = foreign_file(st) if private else None
    if why:
        raise Foreign(why)


def open_regular(path: str, flags: int = os.O_RDONLY, *, private: bool = False) -> tuple[int, os.stat_result]:
    """A blocking descriptor on the regular file ``path`` and its ``fstat``; created 0600 with
    ``O_CREAT``, never through a symlink with :data:`NOFOLLOW` (ELOOP).

    Opened non-blocking (a FIFO's open returns at once), checked with :func:`check_regular` on
    the open descriptor (no window between the check and the use), then made blocking. Raises
    :class:`NotRegular`, :class:`Foreign` or the OSError of the open.
    """
    fd = os.open(path, flags | os.O_NONBLOCK | _OPEN_FLAGS, 0o600)
    try:
        st = os.fstat(fd)
        check_regular(st, private=private)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: str, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file (so that the caller can tell "too large"):
    :func:`read_checked` without the stat."""
    return read_checked(path, limit)[1]


def read_checked(path: str, limit: int, *, private: bool = False) -> tuple[os.stat_result, bytes]:
    """The ``fstat`` of a regular file and up to ``limit + 1`` of its bytes, opened and checked by
    :func:`open_regular` (``private``: refused unless this user's alone)."""
    fd, st = open_regular(path, private=private)
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return st, b"".join(chunks)
    finally:
        os.close(fd)


# -- writing files that may hold secrets ----------------------------------------------------------
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | _OPEN_FLAGS


def temp_name(directory: str, prefix: str) -> str:
    """A fresh temporary name in ``directory``: ``<prefix><pid>-<random>.tmp``. The creating pid
    is in the name, so that a later run can tell a dead writer's leftover (:func:`stale_temp_files`)."""
    import secrets

    return os.path.join(directory, f"{prefix}{os.getpid()}-{secrets.token_hex(6)}.tmp")


def write_secret_file(path: str, content: bytes | str, *, mode: int = 0o600, temp_prefix: str | None = None,
                      durable: bool = False) -> None:
    """Put ``content`` at ``path`` atomically, never through anything planted there.

    The content goes to a new temporary file in the same directory, created with
    ``O_CREAT|O_EXCL|O_NOFOLLOW`` (a symlink or a file planted under that name is never opened,
    let alone written through), its mode set on the open descriptor with ``fchmod`` before a byte
    is written (whatever the umask; ``mode=0o644`` for public files such as certificates), then
    renamed over ``path`` (a symlink at ``path`` is replaced, not followed). On any failure the
    temporary file is removed and ``path`` is untouched. ``durable``: fsync the file and the
    directory (the rename survives a power cut). ``temp_prefix`` names the temporary file
    (default ``.<name>-``): ``<prefix><pid>-<random>.tmp``.
    """
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = temp_prefix if temp_prefix is not None else f".{os.path.basename(path)}-"
    for _ in range(100):
        tmp = temp_name(directory, prefix)
        try:
            fd = os.open(tmp, _CREATE_FLAGS, mode & 0o600)
            break
        except FileExistsError:  # a name taken (or planted): another one
            continue
    else:
        raise FileExistsError(f"no free temporary name in {directory}")
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        sync_directory(directory)


def sync_directory(directory: str) -> None:
    """fsync a directory (a rename in it is then on disk); quietly nothing where unsupported."""
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def make_private_dirs(path: str) -> str:
    """Create ``path`` and any missing parents, each 0700 from the first component created,
    whatever the umask (``os.makedirs`` gives intermediate directories 0777 minus the umask).
    Directories that exist already are left as they are. Returns the absolute path."""
    path = os.path.abspath(path)
    missing = []
    head = path
    while not os.path.lexists(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)  # never wider than 0700, whatever the umask
        except FileExistsError:  # made meanwhile by someone else: not ours to change
            if not os.path.isdir(directory):
                raise
            continue
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fchmod(fd, 0o700)  # a umask such as 0o277 would have left it unusable
        finally:
            os.close(fd)
    if not os.path.isdir(path):  # as os.makedirs(exist_ok=True) says it
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    return path


def foreign_file(st: os.stat_result) -> str | None:
    """Why a file this tool trusts (sandbox state, lock) must not be used: owned by another user,
    or writable by group or others. None when it is fine."""
    if st.st_uid != os.geteuid():
        return f"it belongs to another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"others can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


# -- leftovers ---------------------------------------------------------------------------------------
STALE_AFTER = 60.0  # seconds after which a temporary file of ours is a leftover, whoever made it


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (of any user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def stale_temp_files(directory: str, pattern, *, now: float | None = None) -> list[str]:
    """Leftover temporary files in ``directory`` whose names match ``pattern`` (a compiled regex,
    its optional group ``pid`` the creating process): regular files of this user (never a symlink,
    never someone else's), older than :data:`STALE_AFTER` seconds or made by a process that is gone."""
    import time

    now = time.time() if now is None else now
    found = []
    try:
        entries = os.scandir(directory)
    except OSError:
        return found
    with entries:
        for entry in entries:
            m = pattern.fullmatch(entry.name)
            if not m:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                continue
            pid = m.groupdict().get("pid")
            if now - st.st_mtime > STALE_AFTER or (pid is not None and not pid_alive(int(pid))):
                found.append(entry.path)
    return found


# -- the process itself --------------------------------------------------------------------------
def disable_core_dumps() -> None:
    """No core file of this process, ever: it holds private keys and passwords. ``RLIMIT_CORE``
    0 (inherited by children) and, on Linux, ``PR_SET_DUMPABLE`` 0 (no core even through a
    core_pattern pipe, and no ptrace or /proc/<pid>/mem by other processes of the user).
    Quietly does what the platform allows."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError, AttributeError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_dumpable = 4
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)
        except (ImportError, OSError, AttributeError):
            pass
