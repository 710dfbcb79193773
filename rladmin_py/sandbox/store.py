"""The sandbox's state store: one JSON file, written atomically, shared safely between processes.

The state file holds the cluster object, the nodes, the database, every certificate and key
and the admin credentials. It holds private keys, so it is created 0600 and written atomically
(a new temp file in the same directory, never through a symlink or a planted file, fsync,
rename, fsync of the directory; :func:`rladmin_py.safefiles.write_secret_file`), in a directory
made 0700. Updates take an exclusive ``flock`` on a side lock file around read-modify-write, so
several shells and the sandbox server can share one sandbox without losing each other's changes;
a lock held by a stuck process is waited for at most :data:`LOCK_WAIT` seconds, and the holder
writes its pid into the lock file so that the others can name it.

A state file or lock file of another user, or one that others may write to, is refused: its keys
and password would be someone else's. Temp files a killed writer left behind (they hold every
key) are removed on the next open. What a new state holds is the caller's business
(:func:`rladmin_py.sandbox.cluster.new_state`).

Reads cost a ``stat``, not a parse: the state last parsed is kept per path for the whole process
(every ``StateStore`` on that path shares it, so the server's per-request stores do too) and
parsed again only when the file changed: another inode, size, mtime or ctime (every write here
renames a new file over the old one). A file read within :data:`RACY_NS` of its last change may
still change within the same timestamp tick: until that window has passed, its bytes are read
again and compared (a read, not a parse). What :meth:`StateStore.view` and
:meth:`StateStore.ensure` return is that shared copy: **read-only** for every caller (copy what
you change; :meth:`StateStore.update` gives a private copy to change). :func:`parse_count` says
how many times this process parsed a state file (the server's stats show it).
"""
from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .. import safefiles
from ..backends import ConfigurationProblem

#: 2: self-signed certificates as RS makes them, node records with expiry, a database (rladmin-py 0.2).
STATE_FORMAT = 2
LOCK_WAIT = 5.0  # seconds to wait for a lock another process holds
MAX_STATE_SIZE = 64 << 20  # a state file larger than this is not a sandbox's
STATE_TEMP_PREFIX = ".sandbox-"
TRUST_TEMP_PREFIX = ".ca-"
#: The temp files this store writes beside the state (``.sandbox-<pid>-<hex>.tmp``, ``.ca-...``; older
#: versions: ``tempfile.mkstemp``'s ``.sandbox-<8 chars>.tmp``), and nothing else.
TEMP_FILE = re.compile(r"\.(?:sandbox|ca)-(?:(?P<pid>[0-9]{1,10})-[0-9a-f]{12}|[a-z0-9_]{8})\.tmp")
_cleaned: set[str] = set()  # directories already swept by this process
#: A file changed less than this long before it was read may change again within the same
#: timestamp tick (mtime/ctime granularity: a jiffy on Linux, 2 s on FAT): re-checked by content.
RACY_NS = 2_000_000_000


@dataclass
class _Parsed:
    """The state file as last read: its stat stamp, bytes, and what they parse to (or why not)."""

    stamp: tuple
    raw: bytes
    value: object = None
    error: str | None = None  # the file does not parse: the message, for every reader until it changes
    clean: bool = False  # read long enough after its last change that the stamp alone is trusted


_cache: dict[str, _Parsed] = {}  # path -> the state last parsed there (shared, read-only)
_cache_lock = threading.Lock()
_parses = 0
_parses_lock = threading.Lock()


def parse_count() -> int:
    """How many times this process parsed a state file (for the server's stats and the tests)."""
    return _parses


def _stamp(st: os.stat_result) -> tuple:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class SandboxBusy(ConfigurationProblem):
    """The state's lock is held by another process for longer than :data:`LOCK_WAIT` (exit 3;
    503 from the sandbox server)."""


def default_path() -> str:
    from ..paths import sandbox_state

    return sandbox_state()


def ca_path_for(state_path: str) -> str:
    """Where the certificates clients trust are written, beside the state file (``sandbox-ca.pem``
    for ``sandbox.json``): the self-signed certificates the sandbox serves."""
    root, _ = os.path.splitext(state_path)
    return root + "-ca.pem"


class StateStore:
    """The state file of one sandbox. Thread- and process-safe."""

    def __init__(self, path: str | None, create: Callable[[], dict], trust: Callable[[dict], str],
                 damage: Callable[[dict], str | None] = lambda state: None):
        path = os.path.abspath(os.path.expanduser(path or default_path()))
        if os.path.isdir(path):
            path = os.path.join(path, "sandbox.json")
        self.path = path
        self.trust_path = ca_path_for(path)
        self._create = create
        self._trust = trust
        self._damage = damage  # why a state of the right format is still not usable (None: it is)
        self._lock_fd: int | None = None
        self._batch: dict | None = None  # state held across a batch of commands
        self._batch_dirty = False

    @property
    def lock_path(self) -> str:
        return self.path + ".lock"

    def _open_lock(self) -> int:
        """The lock file, opened once: never through a symlink, and refused unless it is a regular
        file of this user that nobody else may write to."""
        if self._lock_fd is None:
            lock = self.lock_path
            try:
                safefiles.make_private_dirs(os.path.dirname(self.path))
                fd, _ = safefiles.open_regular(lock, os.O_RDWR | os.O_CREAT | safefiles.NOFOLLOW, private=True)
            except safefiles.Unusable as err:
                why = err.why if isinstance(err, safefiles.Foreign) else "it is not a regular file"
                raise ConfigurationProblem(f"the sandbox lock file {lock} is refused: {why}; remove it") from None
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise ConfigurationProblem(f"the sandbox lock file {lock} is a symbolic link: refused; "
                                               "remove it") from None
                raise ConfigurationProblem(f"cannot use the sandbox at {self.path}: {err.strerror}") from None
            self._lock_fd = fd
            self._sweep()
        return self._lock_fd

    @contextlib.contextmanager
    def _locked(self, exclusive: bool):
        fd = self._open_lock()
        self._acquire(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            if exclusive:  # who holds it, for those who wait
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _acquire(self, fd: int, kind: int) -> None:
        """flock, waiting at most LOCK_WAIT seconds for another process (a stopped or stuck one
        must not hang everybody): non-blocking tries, short pauses between them."""
        deadline = time.monotonic() + LOCK_WAIT
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, kind | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._busy(fd)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.02)

    def _busy(self, fd: int) -> SandboxBusy:
        holder = ""
        with contextlib.suppress(OSError, ValueError, IndexError):  # an empty or foreign lock file: no name
            pid = int(os.pread(fd, 32, 0).split()[0])
            if pid != os.getpid() and safefiles.pid_alive(pid):
                holder = f"pid {pid} "
        return SandboxBusy(f"the sandbox is busy (locked by another rladmin-py process): {holder}has held "
                           f"{self.lock_path} for more than {LOCK_WAIT:g} s; try again once it has finished",
                           error_code="sandbox_busy", status=503)

    def _sweep(self) -> None:
        """Remove the temp files killed writers left beside the state (they hold every key): this
        tool's names only, older than a minute or of a process that is gone. Once per process."""
        directory = os.path.dirname(self.path)
        if directory in _cleaned:
            return
        _cleaned.add(directory)
        for path in safefiles.stale_temp_files(directory, TEMP_FILE):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _unreadable(self, why) -> ConfigurationProblem:
        return ConfigurationProblem(f"the sandbox state file {self.path} is unreadable ({why}); "
                                    "run 'sandbox reset' or remove the file")

    def _refused(self, err: OSError) -> ConfigurationProblem:
        """What :func:`.safefiles.check_regular` refused, said of the state file."""
        if isinstance(err, safefiles.Foreign):  # its keys and password would be someone else's
            return ConfigurationProblem(f"the sandbox state file {self.path} is refused: {err.why}; remove it, or "
                                        "run 'sandbox reset' (it keeps the file aside)")
        return ConfigurationProblem(f"the sandbox state file {self.path} is not a regular file; remove it")

    def _read_raw(self) -> tuple[os.stat_result, bytes] | None:
        """The file's bytes and the stat of what was read (None: no file)."""
        try:
            st, raw = safefiles.read_checked(self.path, MAX_STATE_SIZE, private=True)
        except FileNotFoundError:
            return None
        except safefiles.Unusable as err:
            raise self._refused(err) from None
        except OSError as err:
            raise self._unreadable(err.strerror or err) from None
        if len(raw) > MAX_STATE_SIZE:
            raise self._unreadable(f"larger than {MAX_STATE_SIZE >> 20} MiB")
        return st, raw

    @staticmethod
    def _parse(raw: bytes) -> object:
        global _parses
        with _parses_lock:
            _parses += 1
        return json.loads(raw)

    def _checked(self, state: object) -> dict:
        """A parsed state, refused unless it is a usable sandbox of this version."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            older = isinstance(state, dict) and isinstance(state.get("format"), int) and state["format"] < STATE_FORMAT
            what = "was made by an older rladmin-py" if older else "is not a sandbox of this version"
            raise ConfigurationProblem(f"the sandbox state file {self.path} {what}; "
                                       "run 'sandbox reset' or remove the file")
        damage = self._damage(state)
        if damage:
            raise ConfigurationProblem(f"the sandbox state file {self.path} is damaged ({damage}); "
                                       "run 'sandbox reset' (it keeps the damaged file aside)")
        return state

    def _read(self) -> dict | None:
        """A private, fresh parse of the state (to change it under the lock); None: no file."""
        self._sweep()
        got = self._read_raw()
        if got is None:
            return None
        try:
            state = self._parse(got[1])
        except (ValueError, RecursionError) as err:  # RecursionError: nested too deeply
            raise self._unreadable(err) from None
        return self._checked(state)

    def _read_shared(self) -> dict | None:
        """The state as this process last parsed it, parsed again only if the file changed since
        (shared by every reader of this path: read-only). None: no file."""
        self._sweep()
        with _cache_lock:
            entry = _cache.get(self.path)
            if entry is not None and entry.clean:
                try:
                    st = os.stat(self.path)
                except OSError:
                    st = None  # gone or unreadable: the full read below says which
                if st is not None and _stamp(st) == entry.stamp:
                    try:
                        safefiles.check_regular(st, private=True)
                    except safefiles.Unusable as err:
                        raise self._refused(err) from None
                    return self._value(entry)
            started = time.time_ns()  # before the read: a change after it has a later ctime
            got = self._read_raw()
            if got is None:
                _cache.pop(self.path, None)
                return None
            st, raw = got
            if entry is None or entry.raw != raw:
                entry = _Parsed(_stamp(st), raw)
                try:
                    entry.value = self._parse(raw)
                except (ValueError, RecursionError) as err:
                    entry.error = str(err)
            else:  # the same bytes (re-checked within the racy window, or only touched): no parse
                entry.stamp = _stamp(st)
            entry.clean = started - max(st.st_ctime_ns, st.st_mtime_ns) > RACY_NS
            _cache[self.path] = entry
            return self._value(entry)

    def _value(self, entry: _Parsed) -> dict:
        if entry.error is not None:
            raise self._unreadable(entry.error)
        return self._checked(entry.value)

    def _write(self, state: dict) -> None:
        """Atomic and durable: a reader sees the old file or the new one, never half of one."""
        state["generation"] = state.get("generation", 0) + 1
        data = json.dumps(state, separators=(",", ":"))  # the C encoder: json.dump is pure Python
        try:
            safefiles.make_private_dirs(os.path.dirname(self.path))
            safefiles.write_secret_file(self.path, data, mode=0o600, temp_prefix=STATE_TEMP_PREFIX, durable=True)
        except OSError as err:  # disk full, read-only file system: the old state stays whole
            raise ConfigurationProblem(f"cannot write the sandbox state file {self.path}: "
                                       f"{err.strerror or err}; nothing was changed") from None

    def write_trust(self, state: dict) -> None:
        """The certificates clients trust, beside the state file, 0644: clients must read it."""
        safefiles.write_secret_file(self.trust_path, self._trust(state), mode=0o644,  # public certificates only
                                    temp_prefix=TRUST_TEMP_PREFIX)

    def replace(self, state: dict, *, keep_old: bool = False) -> str | None:
        """Put ``state`` in place of whatever the file holds, readable or not (``sandbox reset``).
        ``keep_old``: the old file is moved aside first (``sandbox.json.corrupt-<time>``, 0600, it
        may hold keys); returns where it went."""
        import time

        aside = None
        with self._locked(True):
            if keep_old and os.path.lexists(self.path):
                aside = f"{self.path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
                os.replace(self.path, aside)
                with contextlib.suppress(OSError):
                    os.chmod(aside, 0o600, follow_symlinks=False)
            self._write(state)
        self.write_trust(state)
        return aside

    def _load_or_create(self) -> dict:
        """Under the exclusive lock: the state, made by ``create`` on first use."""
        state = self._read()
        if state is None:
            state = self._create()
            self._write(state)
            self.write_trust(state)
        return state

    def ensure(self) -> dict:
        """The current state (created on first use), shared and **read-only** (see the module's
        docstring). Inside a batch, the batch's working copy."""
        if self._batch is not None:
            return self._batch
        state = self._read_shared()
        if state is not None:
            return state
        with self._locked(True):
            return self._load_or_create()

    @property
    def in_batch(self) -> bool:
        return self._batch is not None

    def view(self) -> dict:
        """The state for reading: **read-only**, shared with every reader in this process and
        parsed only when the file changed (copy what you change). Inside a batch, a copy of the
        batch's working state (it must not leak)."""
        return copy.deepcopy(self._batch) if self._batch is not None else self.ensure()

    def peek(self) -> dict | None:
        """As :meth:`view`, but None when there is no state file (nothing is created)."""
        return copy.deepcopy(self._batch) if self._batch is not None else self._read_shared()

    @contextlib.contextmanager
    def update(self):
        """Read-modify-write under the exclusive lock; the change is on disk when this exits.

        An exception in the block writes nothing (the state read is this call's own).
        """
        if self._batch is not None:
            yield self._batch
            self._batch_dirty = True
            return
        with self._locked(True):
            state = self._load_or_create()
            yield state
            self._write(state)

    @contextlib.contextmanager
    def batch(self):
        """Hold the lock across many commands and write once at the end (fast long scripts).

        Callers must not report a command successful until this block has exited normally.
        """
        if self._batch is not None:
            yield
            return
        with self._locked(True):
            self._batch = self._load_or_create()
            self._batch_dirty = False
            try:
                yield
                if self._batch_dirty:
                    self._write(self._batch)
            finally:
                self._batch = None

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
