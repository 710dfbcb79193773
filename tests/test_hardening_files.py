"""Hardening (issue 14), the files: symlinks and planted files (1), someone else's state (2), key
material left behind (6). Each test reproduces the attack through the console script (or the
function the shell uses) and fails on the code before the fix.

Ownership tests need a second user: as root (CI) the files are given to uid 65534 with
os.chown; otherwise they are skipped. Every process a test starts is stopped in a ``finally``;
waits are bounded polls or reads with deadlines, never sleeps.
"""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import console_script

OTHER_UID = 65534  # nobody
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user (os.chown)")
BUSY = "the sandbox is busy (locked by another rladmin-py process)"


def run(*argv: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    # the timeout is a hang guard only: without the fixes some of these block until killed
    return subprocess.run([console_script(), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, **kw)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- 1. symlinks and planted files ----------------------------------------------------------------
@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
def test_a_symlink_planted_as_the_lock_file_is_never_followed(sandbox_path, tmp_path, dangling):
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("precious\n")
        os.chmod(victim, 0o644)
    lock = Path(str(sandbox_path) + ".lock")
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    r = run("--sandbox", str(sandbox_path), "sandbox", "node", "2", "down")
    assert r.returncode == 3, r.stderr
    assert r.stderr == f"error: the sandbox lock file {lock} is a symbolic link: refused; remove it\n"
    if dangling:
        assert not victim.exists()  # O_CREAT through a dangling link would have made it
    else:
        assert victim.read_text() == "precious\n" and mode(victim) == 0o644
    assert lock.is_symlink()


def test_the_history_file_is_never_written_through_a_symlink(tmp_path):
    from rladmin_py.shell.history import prepare_history_file

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    directory = tmp_path / "state" / "rladmin-py"
    directory.mkdir(parents=True, mode=0o700)
    history = directory / "history"
    history.symlink_to(victim)
    with pytest.raises(OSError) as caught:
        prepare_history_file(str(history))
    assert "symbolic link" in caught.value.strerror
    assert victim.read_text() == "precious\n" and mode(victim) == 0o644  # not even its mode changed


def test_history_directories_are_private_whatever_the_umask(tmp_path):
    from rladmin_py.shell.history import prepare_history_file

    history = tmp_path / "a" / "b" / "rladmin-py" / "history"
    old = os.umask(0)
    try:
        prepare_history_file(str(history))
    finally:
        os.umask(old)
    for directory in (tmp_path / "a", tmp_path / "a" / "b", history.parent):
        assert mode(directory) == 0o700, directory
    assert mode(history) == 0o600


def test_sandbox_directories_are_private_whatever_the_umask(tmp_path):
    state = tmp_path / "a" / "b" / "c" / "sandbox.json"
    r = run("--sandbox", str(state), "info", "cluster", umask=0)
    assert r.returncode == 0, r.stderr
    for directory in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert mode(directory) == 0o700, directory
    assert mode(state) == 0o600 and mode(str(state) + ".lock") == 0o600
    assert mode(tmp_path / "a" / "b" / "c" / "sandbox-ca.pem") == 0o644  # certificates only: clients read it


def test_write_secret_file_never_writes_through_planted_names(tmp_path, monkeypatch):
    """The one function every secret goes through: whatever is planted under its temporary name
    or its final name (a symlink, a 0666 file), the secret lands in a new file of the right mode."""
    from rladmin_py import safefiles

    tmp_path = tmp_path / "w"
    tmp_path.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    target = tmp_path / "key.pem"
    target.symlink_to(victim)
    pid = os.getpid()
    names = iter(["0" * 12, "0" * 12, "1" * 12])  # the first name is taken (planted): the next is used
    monkeypatch.setattr("secrets.token_hex", lambda n: next(names))
    planted = tmp_path / f".key.pem-{pid}-{'0' * 12}.tmp"
    planted.symlink_to(victim)
    old = os.umask(0)
    try:
        safefiles.write_secret_file(str(target), b"-----BEGIN PRIVATE KEY-----\n", mode=0o600)
    finally:
        os.umask(old)
    assert victim.read_text() == "precious\n" and mode(victim) == 0o644
    assert not target.is_symlink() and target.read_bytes() == b"-----BEGIN PRIVATE KEY-----\n"
    assert mode(target) == 0o600
    assert planted.is_symlink()  # left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["victim.txt", "key.pem", planted.name])


def test_write_secret_file_removes_its_temp_file_on_failure(tmp_path):
    from rladmin_py import safefiles

    tmp_path = tmp_path / "w"
    tmp_path.mkdir()
    target = tmp_path / "adir"
    target.mkdir()  # os.replace of a file onto a directory fails
    with pytest.raises(OSError):
        safefiles.write_secret_file(str(target), b"secret")
    assert [p.name for p in tmp_path.iterdir()] == ["adir"]


def test_make_certs_never_writes_through_planted_files(tmp_path):
    """sandbox make-certs DIR, with a symlink planted under a temp name and under a final name,
    and a 0666 file planted under another temp name (the attack of issue 14, item 1): no key is
    written through a link, and every key file comes out 0600. Passes once
    certificates/practice.py writes through safefiles.write_secret_file."""
    out = tmp_path / "lab" / "certs"
    out.parent.mkdir(mode=0o700)
    out.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    (out / "good-key.pem.tmp").symlink_to(victim)
    (out / "ecdsa-key.pem").symlink_to(victim)
    planted = out / "wrong-key.pem.tmp"
    planted.write_text("")
    os.chmod(planted, 0o666)
    r = run("sandbox", "make-certs", str(out), umask=0)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n" and mode(victim) == 0o644
    for name in ("good-key.pem", "wrong-key.pem", "ecdsa-key.pem", "encrypted-key.pem"):
        path = out / name
        assert not path.is_symlink() and path.is_file(), name
        assert mode(path) == 0o600, name
        assert b"PRIVATE KEY" in path.read_bytes()
    assert planted.read_text() == ""  # never reused


def test_make_certs_directories_are_private_whatever_the_umask(tmp_path):
    """Passes once certificates/practice.py creates its directory with safefiles.make_private_dirs."""
    out = tmp_path / "a" / "b" / "certs"
    r = run("sandbox", "make-certs", str(out), umask=0)
    assert r.returncode == 0, r.stderr
    for directory in (tmp_path / "a", tmp_path / "a" / "b", out):
        assert mode(directory) == 0o700, directory


# -- 2. someone else's state ------------------------------------------------------------------------
def test_a_world_writable_state_file_is_refused(sandbox_path):
    os.chmod(sandbox_path, 0o666)
    r = run("--sandbox", str(sandbox_path), "info", "cluster")
    assert r.returncode == 3, r.stdout
    assert r.stderr == (f"error: the sandbox state file {sandbox_path} is refused: others can write to it (mode 0666); "
                        "remove it, or run 'sandbox reset' (it keeps the file aside)\n")
    assert r.stdout == ""


def test_a_group_writable_lock_file_is_refused(sandbox_path):
    lock = Path(str(sandbox_path) + ".lock")
    lock.write_text("")
    os.chmod(lock, 0o620)
    r = run("--sandbox", str(sandbox_path), "sandbox", "node", "2", "down")
    assert r.returncode == 3
    assert r.stderr == (f"error: the sandbox lock file {lock} is refused: others can write to it (mode 0620); "
                        "remove it\n")


@as_root
def test_a_state_file_of_another_user_is_refused(sandbox_path):
    os.chown(sandbox_path, OTHER_UID, OTHER_UID)
    r = run("--sandbox", str(sandbox_path), "info", "cluster")
    assert r.returncode == 3, r.stdout
    assert r.stderr == (f"error: the sandbox state file {sandbox_path} is refused: it belongs to another user "
                        f"(uid {OTHER_UID}); remove it, or run 'sandbox reset' (it keeps the file aside)\n")
    # the advice works: reset keeps the foreign file aside and starts a sandbox of our own
    r = run("--sandbox", str(sandbox_path), "-y", "sandbox", "reset")
    assert r.returncode == 0, r.stderr
    assert os.stat(sandbox_path).st_uid == os.geteuid()
    assert run("--sandbox", str(sandbox_path), "info", "cluster").returncode == 0


@as_root
def test_a_lock_file_of_another_user_is_refused(sandbox_path):
    lock = Path(str(sandbox_path) + ".lock")
    lock.write_text("")
    os.chmod(lock, 0o600)
    os.chown(lock, OTHER_UID, OTHER_UID)
    r = run("--sandbox", str(sandbox_path), "sandbox", "node", "2", "down")
    assert r.returncode == 3
    assert r.stderr == (f"error: the sandbox lock file {lock} is refused: it belongs to another user "
                        f"(uid {OTHER_UID}); remove it\n")


HOLDER = """
import sys
from rladmin_py.sandbox.cluster import SandboxCluster

cluster = SandboxCluster(sys.argv[1])
with cluster.store.update() as state:  # the exclusive lock, as a writer mid-update holds it
    print("locked", flush=True)
    sys.stdin.readline()  # until told (or killed)
"""


def test_a_stopped_writer_does_not_hang_the_others(sandbox_path):
    """A writer SIGSTOPped while it holds the lock: the next writer waits a few seconds, then
    says the sandbox is busy, names the holder's pid, and exits 3. Readers are not held up."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(sandbox_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"  # blocks until the lock is held (or the holder died)
        os.kill(holder.pid, signal.SIGSTOP)
        started = time.monotonic()
        r = run("--sandbox", str(sandbox_path), "sandbox", "node", "2", "down", timeout=30)
        waited = time.monotonic() - started
        assert r.returncode == 3, r.stderr
        assert r.stderr.startswith(f"error: {BUSY}: pid {holder.pid} has held {sandbox_path}.lock for more than ")
        assert r.stderr.count("\n") == 1
        assert waited < 15, waited
        reader = run("--sandbox", str(sandbox_path), "info", "cluster", timeout=30)
        assert reader.returncode == 0, reader.stderr
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait(timeout=10)
        holder.stdin.close()
        holder.stdout.close()
    # once the holder is gone, writing works again at once
    r = run("--sandbox", str(sandbox_path), "sandbox", "node", "2", "down")
    assert r.returncode == 0, r.stderr


# -- 6. key material left behind ---------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


@pytest.mark.parametrize("argv", [("info", "cluster"), ("-y", "sandbox", "reset")], ids=["a read", "reset"])
def test_stale_temp_files_are_removed_and_nothing_else(sandbox_path, tmp_path, argv):
    directory = sandbox_path.parent
    dead = _dead_pid()
    old = time.time() - 600
    secret = json.dumps({"certificates": {"api": {"key": "-----BEGIN PRIVATE KEY-----..."}}})
    stale = [directory / ".sandbox-k3x_9q2a.tmp",  # tempfile.mkstemp's names (before this fix), old
             directory / f".sandbox-{dead}-0123456789ab.tmp",  # its writer is gone
             directory / f".ca-{dead}-ba9876543210.tmp",
             directory / f".sandbox-{os.getpid()}-aaaaaaaaaaaa.tmp"]  # a live writer, but an hour old
    for path in stale:
        path.write_text(secret)
    for path in (stale[0], stale[3]):
        os.utime(path, (old, old))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    kept = [directory / f".sandbox-{os.getpid()}-bbbbbbbbbbbb.tmp",  # a live writer's, fresh
            directory / "notes.tmp", directory / ".sandbox-notes.txt", directory / "sandbox.json.corrupt-20250101T000000",
            directory / ".sandbox-k3x_9q2a.tmp.keep", directory / "my.sandbox-k3x_9q2a.tmp"]
    for path in kept:
        path.write_text("mine\n")
        if path.name != kept[0].name:
            os.utime(path, (old, old))
    link = directory / ".sandbox-zzzzzzzz.tmp"  # matches the name, but a symlink: never touched
    link.symlink_to(victim)
    os.utime(link, (old, old), follow_symlinks=False)
    r = run("--sandbox", str(sandbox_path), *argv)
    assert r.returncode == 0, r.stderr
    for path in stale:
        assert not path.exists(), path.name
    for path in kept:
        assert path.read_text() == "mine\n", path.name
    assert link.is_symlink() and victim.read_text() == "precious\n"


def _limits(pid: int) -> dict:
    rows = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        m = re.match(r"(.+?)\s{2,}(\S+)\s+(\S+)", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def _allow_core_files():
    """As a developer's shell may have it: core files allowed up to the hard limit."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/limits"), reason="needs Linux /proc")


@needs_proc
def test_serve_runs_with_core_dumps_off(sandbox_path):
    from test_server import start_server

    import resource

    saved = resource.getrlimit(resource.RLIMIT_CORE)
    _allow_core_files()  # inherited by the server; restored at once
    try:
        served = start_server(sandbox_path)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, saved)
    try:
        assert _limits(served.proc.pid)["Max core file size"] == ("0", "0")
        if os.geteuid() != 0:  # not dumpable: its /proc files belong to root
            assert os.stat(f"/proc/{served.proc.pid}/fd").st_uid == 0
    finally:
        assert served.stop() == 0


@needs_proc
def test_a_shell_runs_with_core_dumps_off(sandbox_path):
    """A script read from a pipe: the process waits for the end of its input (it parses the whole
    script first), long enough to look at its limits."""
    proc = subprocess.Popen([console_script(), "--sandbox", str(sandbox_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_allow_core_files)
    try:
        deadline = time.monotonic() + 30
        limits = {}
        for _ in range(3000):  # until main has started (bounded in time and count)
            limits = _limits(proc.pid)
            if limits.get("Max core file size") == ("0", "0") or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert limits["Max core file size"] == ("0", "0")
        out, err = proc.communicate(b"info cluster\n", timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
