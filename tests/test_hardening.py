"""What an adversarial review broke (issue "Hardening"), reproduced through the console script."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import console_script


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # a hang guard only: without the fix, opening a FIFO blocks until killed
    return subprocess.run([console_script(), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30, env=env)


# -- 8. blocking inputs ------------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "cert.pem"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("role", ["certificate_file", "key_file"])
def test_a_fifo_as_certificate_or_key_file_is_refused_at_once(sandbox_path, certfactory, fifo, role):
    good = certfactory.leaf()
    files = {"certificate_file": str(good.cert), "key_file": str(good.key), role: str(fifo)}
    r = run("--sandbox", str(sandbox_path), "-y", "cluster", "certificate", "set", "proxy",
            "certificate_file", files["certificate_file"], "key_file", files["key_file"])
    what = "certificate file" if role == "certificate_file" else "key file"
    assert r.returncode == 1 and r.stderr == f"error: {fifo}: is a FIFO (named pipe), not a {what}\n", r.stderr


def test_a_fifo_as_ca_cert_is_refused_at_once(fifo):
    env = dict(os.environ, REDIS_ENTERPRISE_PASSWORD="pw")
    r = run("--cluster", "https://127.0.0.1:9", "--user", "u", "--ca-cert", str(fifo), "info", "cluster", env=env)
    assert r.returncode == 3, r.stderr
    assert r.stderr == f"error: {fifo}: is a FIFO (named pipe), not a CA certificate file (--ca-cert)\n"


def test_a_device_is_refused_too(sandbox_path, certfactory):
    good = certfactory.leaf()
    r = run("--sandbox", str(sandbox_path), "-y", "cluster", "certificate", "set", "proxy",
            "certificate_file", "/dev/zero", "key_file", str(good.key))
    assert r.returncode == 1 and r.stderr == "error: /dev/zero: is a character device, not a certificate file\n"


# -- 7. advice that works ------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["{not json", '{"format": 2, "cluster": {}}', "[]"],
                         ids=["corrupt", "wrong shape", "a list"])
def test_sandbox_reset_works_on_a_damaged_state_and_keeps_it_aside(sandbox_path, content):
    sandbox_path.write_text(content)
    before = run("--sandbox", str(sandbox_path), "info", "cluster")
    assert before.returncode == 3 and "Traceback" not in before.stderr
    r = run("--sandbox", str(sandbox_path), "-y", "sandbox", "reset")
    assert r.returncode == 0, r.stderr
    kept = [p for p in sandbox_path.parent.iterdir() if p.name.startswith(sandbox_path.name + ".corrupt-")]
    assert len(kept) == 1 and kept[0].read_text() == content
    assert (kept[0].stat().st_mode & 0o777) == 0o600
    assert f"note: the unreadable state file was kept as {kept[0]}" in r.stderr
    after = run("--sandbox", str(sandbox_path), "info", "cluster")
    assert after.returncode == 0, after.stderr
    assert json.loads(sandbox_path.read_text())["cluster"]["name"] == "cluster.sandbox.local"


@pytest.mark.parametrize("state", [{"format": 2}, {"format": 2, "cluster": {"name": "x"}, "admin": {}}],
                         ids=["no admin", "no certificates"])
def test_serve_on_a_malformed_state_is_one_clear_line(sandbox_path, state):
    import json

    sandbox_path.write_text(json.dumps(state))
    r = run("--sandbox", str(sandbox_path), "--serve", "127.0.0.1:0")
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"error: the sandbox state file {sandbox_path} is damaged")
    assert r.stderr.count("\n") == 1
    assert not [p for p in sandbox_path.parent.iterdir() if p.name.startswith(".ca-")]


# -- 10. the secret filter ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_a_random_password_typed_alone_is_never_kept(seed):
    import random
    import string

    from rladmin_py.shell.history import may_hold_secret

    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "!#$%&*+-.:=?@^_~"
    while True:  # 16-32 characters of at least three classes, as password generators make them
        token = "".join(rng.choice(alphabet) for _ in range(rng.randint(16, 32)))
        classes = sum((any(c.islower() for c in token), any(c.isupper() for c in token),
                       any(c.isdigit() for c in token), any(not c.isalnum() for c in token)))
        if classes >= 3 and not token.startswith("-"):
            break
    assert may_hold_secret(token), token
    assert may_hold_secret(f"  {token}  ")


@pytest.mark.parametrize("line", [
    "exit", "quit", "help", "?", "info cluster", "cluster config min_data_TLS_version 1.3",
    "cluster certificate set proxy certificate_file /tmp/Proxy-Chain_2026.pem key_file /tmp/proxy.key",
    "cluster config data_cipher_list ECDHE-RSA-AES128-GCM-SHA256", "verify tls database",
    "min_control_TLS_version", "/home/me/certs/Cluster-2026.pem", "cluster.sandbox.local",
    "sandbox make-certs ~/lab/Certs2026",
])
def test_ordinary_commands_are_still_kept(line):
    from rladmin_py.shell.history import may_hold_secret

    assert not may_hold_secret(line), line
