"""The sandbox's state store: one JSON file, written atomically, shared safely between processes.

The state file holds the cluster object, the nodes, the database, every certificate and key
and the admin credentials. It holds private keys, so it is created 0600 and written atomically
(temp file in the same directory, fsync, rename, fsync of the directory). Updates take an
exclusive ``flock`` on a side lock file around read-modify-write, so several shells and the
sandbox server can share one sandbox without losing each other's changes. What a new state
holds is the caller's business (:func:`rladmin_py.sandbox.cluster.new_state`).
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import tempfile
from typing import Callable

from ..backends import ConfigurationProblem

#: 2: self-signed certificates as RS makes them, node records with expiry, a database (rladmin-py 0.2).
STATE_FORMAT = 2


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

    def _open_lock(self) -> int:
        if self._lock_fd is None:
            directory = os.path.dirname(self.path)
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as err:
                raise ConfigurationProblem(f"cannot use the sandbox at {self.path}: {err.strerror}") from None
        return self._lock_fd

    @contextlib.contextmanager
    def _locked(self, exclusive: bool):
        fd = self._open_lock()
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _read(self) -> dict | None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                state = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise ConfigurationProblem(
                f"the sandbox state file {self.path} is unreadable ({getattr(err, 'strerror', None) or err}); "
                "run 'sandbox reset' or remove the file") from None
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

    def _write(self, state: dict) -> None:
        """Atomic and durable: a reader sees the old file or the new one, never half of one."""
        directory = os.path.dirname(self.path)
        state["generation"] = state.get("generation", 0) + 1
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(state, separators=(",", ":")))  # the C encoder: json.dump is pure Python
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException as err:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(err, OSError):  # disk full, read-only file system: the old state stays whole
                raise ConfigurationProblem(f"cannot write the sandbox state file {self.path}: "
                                           f"{err.strerror or err}; nothing was changed") from None
            raise
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def write_trust(self, state: dict) -> None:
        """The certificates clients trust, beside the state file, 0644: clients must read it."""
        fd, tmp = tempfile.mkstemp(prefix=".ca-", suffix=".tmp", dir=os.path.dirname(self.path))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self._trust(state))
        os.chmod(tmp, 0o644)  # public certificates only: clients must read them
        os.replace(tmp, self.trust_path)

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
        """The current state (created on first use). Inside a batch, the batch's working copy."""
        if self._batch is not None:
            return self._batch
        state = self._read()
        if state is not None:
            return state
        with self._locked(True):
            return self._load_or_create()

    @property
    def in_batch(self) -> bool:
        return self._batch is not None

    def view(self) -> dict:
        """The state for reading: a fresh read is private; the batch's copy must not leak."""
        return copy.deepcopy(self._batch) if self._batch is not None else self.ensure()

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
