"""sandbox make-certs: the practice files, README.txt, and every command in it doing what it says."""
from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from rladmin_py.certificates import checks as certs, pem, practice

from conftest import console_script


@pytest.fixture
def made(rladmin, tmp_path, sandbox_path):
    directory = tmp_path / "practice certs"  # a space: the README's commands must quote it
    r = rladmin("sandbox", "make-certs", str(directory))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return directory, r


def test_files_and_output(made, sandbox_path):
    directory, r = made
    lines = r.stdout.splitlines()
    assert lines[0] == f"Wrote practice certificates for cluster.sandbox.local into {directory}:"
    listed = [ln.split()[0] for ln in lines[1:]]
    assert listed[0] == "README.txt"
    assert sorted(listed) == sorted(os.listdir(directory))
    for name in listed:
        mode = stat.S_IMODE(os.stat(directory / name).st_mode)
        secret = "key" in name or name in ("bundle.pfx", "pfx-converted.pem")
        assert mode == (0o600 if secret else 0o644), name


def test_the_good_chain(made):
    directory, _ = made
    bundle = certs.prepare_files("proxy", str(directory / "good-chain.pem"), str(directory / "good-key.pem"),
                                 fqdn="cluster.sandbox.local")
    assert bundle.warnings == [] and bundle.notes == []
    assert [certs.common_name(c.subject) for c in bundle.chain] == [
        "cluster.sandbox.local", "Practice Intermediate CA", "Practice Root CA"]
    assert bundle.chain[2] == x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    assert bundle.chain[1] == x509.load_pem_x509_certificate((directory / "intermediate.pem").read_bytes())
    assert set(certs.sans(bundle.leaf)) >= {"cluster.sandbox.local", "*.cluster.sandbox.local"}


def test_the_broken_files_are_what_they_say(made):
    directory, _ = made
    encrypted = (directory / "encrypted-key.pem").read_text()
    assert "BEGIN ENCRYPTED PRIVATE KEY" in encrypted
    key = serialization.load_pem_private_key(encrypted.encode(), practice.PASSWORD.encode())
    good = serialization.load_pem_private_key((directory / "good-key.pem").read_bytes(), None)
    assert key.private_numbers() == good.private_numbers()
    assert (directory / "good-cert.der").read_bytes()[:1] == b"\x30"
    converted = (directory / "pfx-converted.pem").read_text()
    assert converted.startswith("Bag Attributes\n    friendlyName: cluster.sandbox.local\n    localKeyID: ")
    assert "\nsubject=CN = cluster.sandbox.local, O = RedisLabs Enterprise Cluster\n" in converted
    assert "Key Attributes: <No Attributes>\n-----BEGIN PRIVATE KEY-----" in converted
    assert (directory / "ecdsa-key.pem").read_text().startswith("-----BEGIN EC PARAMETERS-----")


def test_readme(made):
    directory, _ = made
    text = (directory / "README.txt").read_text()
    assert "THROWAWAY" in text and f"throwaway password: {practice.PASSWORD}" in text
    for name in os.listdir(directory):
        if name != "README.txt":
            assert f"  {name}  " in text, name
    assert len(re.findall(r"^   rladmin-py ", text, re.M)) == len(practice.CASES)


def _readme_commands(directory):
    text = (directory / "README.txt").read_text()
    headers = re.findall(r"^\d+\. .*\((\w+); look for: (.*)\)$", text, re.M)
    commands = [shlex.split(ln.strip()) for ln in text.splitlines() if ln.startswith("   rladmin-py ")]
    assert len(headers) == len(commands) == len(practice.CASES)
    return list(zip(headers, commands))


def test_every_readme_command_does_what_it_says(made, sandbox, sandbox_path):
    """Run README.txt's commands exactly as written (they name this test's sandbox with --sandbox)."""
    directory, _ = made
    for (outcome, shows), words in _readme_commands(directory):
        assert words[:3] == ["rladmin-py", "--sandbox", str(sandbox_path)], words
        before = sandbox.get_certificates()
        proc = subprocess.run([console_script(), *words[1:]], capture_output=True, text=True, timeout=60)
        assert "Traceback" not in proc.stderr, words
        if outcome == "refused":
            assert proc.returncode == 1, (words, proc.stdout, proc.stderr)
            assert proc.stderr.splitlines()[-1].startswith("error: ") and shows in proc.stderr, proc.stderr
            assert sandbox.get_certificates() == before, words
        else:
            assert proc.returncode == 0, (words, proc.stderr)
            where = proc.stdout if outcome == "accepted" else proc.stderr
            assert shows in where, (words, proc.stdout, proc.stderr)
            if outcome in ("warning", "note"):
                assert f"{outcome}: " in proc.stderr


def test_fqdn_option_and_json(rladmin, tmp_path):
    r = rladmin("--json", "sandbox", "make-certs", str(tmp_path / "p"), "fqdn", "redis.example.com")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["fqdn"] == "redis.example.com" and doc["directory"] == str(tmp_path / "p")
    assert {"file", "purpose"} <= set(doc["files"][0])
    leaf = x509.load_pem_x509_certificate((tmp_path / "p" / "good-chain.pem").read_bytes())
    assert certs.common_name(leaf.subject) == "redis.example.com"
    assert "*.redis.example.com" in certs.sans(leaf)


def test_default_sandbox_is_not_named_in_readme(tmp_path, isolated_env):
    """With the default sandbox the commands need no --sandbox."""
    r = subprocess.run([console_script(), "sandbox", "make-certs", str(tmp_path / "p")], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "p" / "README.txt").read_text()
    assert "--sandbox" not in text and "   rladmin-py cluster certificate set proxy certificate_file " in text


def test_cannot_write(rladmin, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = rladmin("sandbox", "make-certs", str(blocker))
    assert r.returncode == 1
    assert r.stderr == f"error: {blocker}: cannot write practice certificates: File exists\n"


def test_help_says_it_is_local(rladmin):
    r = rladmin("help", "sandbox", "make-certs")
    assert r.returncode == 0 and "not a cluster command" in r.stdout


def test_examples_walkthrough_script(tmp_path):
    """examples/certificates/walkthrough.sh runs every step on its own temporary sandbox."""
    from conftest import EXAMPLES

    script = EXAMPLES / "certificates" / "walkthrough.sh"
    work = tmp_path / "tmp"
    work.mkdir()
    env = dict(os.environ, RLADMIN=console_script(), TMPDIR=str(work))
    r = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=300, env=env,
                       cwd=script.parent)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Traceback" not in out and "internal error" not in out, out
    assert out.count("[exit 1]") == 12 and out.count("error: ") == 12
    assert out.count("[exit 0]") >= 8
    assert os.listdir(work) == []  # it cleans up after itself
