"""Secrets: no private key and no password anywhere they do not belong.

A full certificate rotation goes through every path: sandbox one-shot, script, REST
(``--cluster ... --ca-cert ...``), ``--dry-run``, ``--debug``, ``--json``, and failing cases
(mismatched key, expired certificate, corrupt key, a key given as the certificate, a node down,
a wrong password). Every process runs with umask 000 and TMPDIR set to a fresh directory. Then
stdout, stderr, the server's log and output, the history file, the temp directory and every file
under the test's directory are scanned for private-key material: the PEM key marker and the
base64 body lines of every key used (the test's, and the sandbox's own before and after). They
may appear only in the sandbox state file (0600, its directory 0700) and in the key files the
test wrote (and those ``sandbox make-certs`` wrote on request, 0600). The REST password is
given only through REDIS_ENTERPRISE_PASSWORD: never in argv, and never in any output, log or
error message, the wrong one included. ``-k`` warns once per process, scripts included.
"""
from __future__ import annotations

import json
import os
import re
import signal
import stat
from pathlib import Path

import pytest

from conftest import console_script
from rladmin_py.certificates import making as certgen
from rladmin_py.backends.sandbox import SandboxBackend
from server_fixtures import KEY_MARKER, LineReader, key_needles, run_console, scan_for, start_server


class World:
    """Every process this test starts, with what it printed; the environment they share."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.proc_tmp = tmp_path / "proctmp"  # TMPDIR of every process
        self.proc_tmp.mkdir()
        self.sandbox = tmp_path / "sb" / "sandbox.json"  # made by the first command, under umask 000
        self.env = dict(os.environ, TMPDIR=str(self.proc_tmp))
        self.env.pop("REDIS_ENTERPRISE_PASSWORD", None)
        self.runs: list[tuple[list[str], int, str, str]] = []
        self.argvs: list[list[str]] = []
        self.texts: dict[str, str] = {}

    def run(self, *argv: str, expect: int = 0, env: dict | None = None, input: bytes = b"") -> tuple[str, str]:
        argv = [str(a) for a in argv]
        code, out, err = run_console(argv, env=dict(self.env, **(env or {})), input=input, umask=0)
        self.runs.append((argv, code, out, err))
        self.argvs.append([console_script(), *argv])
        n = len(self.runs)
        self.texts[f"run {n} stdout ({' '.join(argv)[:120]})"] = out
        self.texts[f"run {n} stderr ({' '.join(argv)[:120]})"] = err
        assert code == expect, f"{argv}: exit {code}, expected {expect}: {err[:800]}"
        assert "Traceback" not in err and "internal error" not in err, err[:800]
        return out, err

    def sandbox_keys(self) -> list[str]:
        backend = SandboxBackend(str(self.sandbox))
        try:
            state = backend.ensure()
        finally:
            backend.close()
        return [pair.get("key", "") for pair in state["certificates"].values()]

    def state_modes(self):
        for path, mode in ((self.sandbox, 0o600), (self.sandbox.parent, 0o700), (Path(str(self.sandbox) + ".lock"),
                                                                                   0o600)):
            assert stat.S_IMODE(os.stat(path).st_mode) == mode, (path, oct(os.stat(path).st_mode))
        leftovers = [p.name for p in self.sandbox.parent.iterdir() if p.name.startswith((".sandbox-", ".tls-"))]
        assert not leftovers, leftovers


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def pairs(certfactory, n: int, **kw):
    return [certfactory.leaf(**kw) for _ in range(n)]


def failing_cases(world, target: list[str], certfactory) -> list:
    """Refusals, exit 1: no key may appear in any of them. Returns the pairs used."""
    good, other = certfactory.leaf(), certfactory.leaf()
    expired = certfactory.expired()
    corrupt = certfactory.write("corrupt.key", good.key.read_text().replace(good.key.read_text().splitlines()[5],
                                                                           "A" * 64))
    truncated = certfactory.write("truncated.key", "\n".join(good.key.read_text().splitlines()[:8]) + "\n")
    for argv in (
        ["cluster", "certificate", "set", "proxy", "certificate_file", good.cert, "key_file", other.key],  # mismatch
        ["cluster", "certificate", "set", "proxy", "certificate_file", expired.cert, "key_file", expired.key],
        ["cluster", "certificate", "set", "proxy", "certificate_file", good.cert, "key_file", corrupt],
        ["cluster", "certificate", "set", "proxy", "certificate_file", good.cert, "key_file", truncated],
        ["cluster", "certificate", "set", "proxy", "certificate_file", good.key, "key_file", good.key],  # key as cert
        ["cluster", "certificate", "set", "proxy", "certificate_file", good.cert, "key_file", good.cert],  # cert as key
        ["--debug", "cluster", "certificate", "set", "syncer", "certificate_file", good.cert, "key_file", other.key],
        ["--json", "cluster", "certificate", "set", "syncer", "certificate_file", good.cert, "key_file", other.key],
    ):
        world.run(*target, *argv, expect=1)
    return [good, other, expired]


def rotate_everything(world, target: list[str], certfactory, api=None, target_after=None) -> list:
    """One-shot, --json, --debug, --dry-run and a script: every certificate replaced once."""
    proxy, syncer, cm, metrics, dry, dpine, cpine, script_proxy = pairs(certfactory, 8)
    used = [proxy, syncer, cm, metrics, dry, dpine, cpine, script_proxy]
    world.run(*target, "cluster", "certificate", "set", "proxy", "certificate_file", proxy.cert, "key_file", proxy.key)
    out, _ = world.run(*target, "--json", "cluster", "certificate", "set", "syncer", "certificate_file", syncer.cert,
                       "key_file", syncer.key)
    json.loads(out)
    world.run(*target, "--debug", "cluster", "certificate", "set", "cm", "certificate_file", cm.cert, "key_file", cm.key)
    out, _ = world.run(*target, "--dry-run", "cluster", "certificate", "set", "metrics_exporter", "certificate_file",
                       dry.cert, "key_file", dry.key)
    assert "Dry run" in out
    out, _ = world.run(*target, "--dry-run", "--json", "cluster", "certificate", "set", "internal",
                       "dpine_certificate_file", dpine.cert, "dpine_key_file", dpine.key,
                       "cpine_certificate_file", cpine.cert, "cpine_key_file", cpine.key)
    json.loads(out)
    lines = [f"cluster certificate set metrics_exporter certificate_file {metrics.cert} key_file {metrics.key}",
             f"cluster certificate set internal dpine_certificate_file {dpine.cert} dpine_key_file {dpine.key} "
             f"cpine_certificate_file {cpine.cert} cpine_key_file {cpine.key}",
             f"cluster certificate set proxy certificate_file {script_proxy.cert} key_file {script_proxy.key}",
             "cluster certificate show", "cluster certificate show --json", "info cluster"]
    if api is not None:  # last: over REST the connection in use keeps the old TLS, new ones get the new certificate
        lines.append(f"cluster certificate set api certificate_file {api.cert} key_file {api.key}")
        used.append(api)
    script = certfactory.write(f"rotate-{len(world.runs)}.rla", "\n".join(lines) + "\n")
    world.run(*target, "-f", script)
    target = target_after or target  # over REST, a new api certificate needs the CA that signed it
    world.run(*target, "--debug", "--json", "-f", script)  # the same again, every output form
    out, _ = world.run(*target, "--json", "cluster", "certificate", "show")
    assert json.loads(out) and KEY_MARKER not in out
    return used


def scan_everything(world, certfactory, keys: list[str], extra_texts: dict | None = None,
                    also_allowed=()) -> None:
    needles = key_needles(*keys)
    assert len(needles) > 100  # markers and body lines of every key
    allowed = [world.sandbox] + [p for p in certfactory.dir.iterdir() if p.suffix == ".key"] + list(also_allowed)
    found = scan_for(needles, texts={**world.texts, **(extra_texts or {})}, roots=[world.tmp], allowed=allowed)
    assert not found, found[:10]
    # the allowed places do hold them: the scan would see a leak
    assert KEY_MARKER in world.sandbox.read_text()
    world.state_modes()


# -- the sandbox paths -----------------------------------------------------------------------------------
def test_rotation_on_the_sandbox_leaks_no_key(world, certfactory):
    target = ["--sandbox", world.sandbox]
    world.run(*target, "info", "cluster")  # creates the sandbox, under umask 000
    world.state_modes()
    keys = world.sandbox_keys()
    used = rotate_everything(world, target, certfactory,
                             api=certfactory.leaf(sans=certgen.cluster_sans(certfactory.fqdn, "api")))
    used += failing_cases(world, target, certfactory)
    # practice files on request: their keys are the tool's to write, 0600 whatever the umask
    practice = world.tmp / "practice"
    world.run(*target, "sandbox", "make-certs", practice)
    private = [p for p in practice.rglob("*") if p.is_file() and b"PRIVATE KEY-----" in p.read_bytes()]
    assert private
    for path in private:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    # sandbox reset makes a new state (and CA) under umask 000: still 0600
    keys += world.sandbox_keys()
    world.run(*target, "sandbox", "reset")
    keys += world.sandbox_keys() + [c.issued.key_pem for c in used]
    keys += [certfactory.root.key_pem, certfactory.intermediate.key_pem]
    keys += [m.group(0) for p in private for m in re.finditer(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*"
                                                             r"PRIVATE KEY-----", p.read_text(errors="replace"), re.S)]
    scan_everything(world, certfactory, keys, also_allowed=private)
    assert not any(world.proc_tmp.iterdir()), list(world.proc_tmp.iterdir())


# -- the REST paths --------------------------------------------------------------------------------------------
def test_rotation_over_rest_leaks_no_key_or_password(world, certfactory, monkeypatch):
    world.run("--sandbox", world.sandbox, "info", "cluster")
    keys = world.sandbox_keys()
    root_ca = certfactory.write("root-ca.pem", certfactory.root.cert_pem)
    monkeypatch.setenv("TMPDIR", str(world.proc_tmp))
    old = os.umask(0)  # the server inherits umask 000
    try:
        served = start_server(world.sandbox, log_dir=world.tmp)
    finally:
        os.umask(old)
    server_argv = served.proc.args
    try:
        with open(f"/proc/{served.proc.pid}/cmdline", "rb") as fh:
            server_cmdline = fh.read().decode("utf-8", "replace")
    except OSError:
        server_cmdline = " ".join(server_argv)
    password = served.password
    env = {"REDIS_ENTERPRISE_PASSWORD": password}
    target = ["--cluster", served.url, "--user", served.user, "--ca-cert", served.ca_cert]
    stopped = False
    try:
        api = certfactory.leaf(sans=certgen.cluster_sans(certfactory.fqdn, "api"))
        world.env.update(env)
        # the api certificate changes in the script: from then on the cluster is verified with the test CA
        after = ["--cluster", served.url, "--user", served.user, "--ca-cert", root_ca]
        used = rotate_everything(world, target, certfactory, api=api, target_after=after)
        target = after
        world.run(*target, "info", "cluster")
        refused = failing_cases(world, target, certfactory)
        # refused by the cluster (409: a node is down), with --debug
        late = certfactory.leaf()
        world.run("--sandbox", world.sandbox, "sandbox", "node", "2", "down")
        _, err = world.run(*target, "--debug", "cluster", "certificate", "set", "proxy", "certificate_file", late.cert,
                           "key_file", late.key, expect=1)
        assert "not all nodes were updated" in err
        world.run("--sandbox", world.sandbox, "sandbox", "node", "2", "up")
        # a wrong password: exit 3, and neither password shown
        wrong = "Wr0ng-" + password[::-1]
        _, err = world.run(*target, "cluster", "certificate", "set", "proxy", "certificate_file", late.cert,
                           "key_file", late.key, expect=3, env={"REDIS_ENTERPRISE_PASSWORD": wrong})
        assert "authentication failed" in err and wrong not in err
        script = certfactory.write("wrong.rla", f"info cluster\ncluster certificate set proxy certificate_file "
                                                f"{late.cert} key_file {late.key}\n")
        _, err = world.run(*target, "--debug", "-f", script, expect=3, env={"REDIS_ENTERPRISE_PASSWORD": wrong})
        assert "authentication failed" in err
        # -k: one warning per process, a script included
        _, err = world.run("-k", "--cluster", served.url, "--user", served.user, "-f", script)
        assert err.count("warning: TLS verification is off") == 1 and err.startswith("warning: ")
        used += [late] + refused
    finally:
        served.proc.send_signal(signal.SIGTERM)
        reader = LineReader(served.proc.stdout)
        rest = []
        while (line := reader.readline(timeout=30)) is not None:
            rest.append(line)
        assert served.stop() == 0
        stopped = True
    assert stopped
    server_texts = {"server log": served.log(), "server stdout after its announcement": "".join(rest)}
    keys += world.sandbox_keys() + [c.issued.key_pem for c in used]
    keys += [certfactory.root.key_pem, certfactory.intermediate.key_pem]
    scan_everything(world, certfactory, keys, extra_texts=server_texts)

    # the password: only in the environment
    for argv in world.argvs + [list(server_argv)]:
        assert not any(password in str(a) for a in argv), argv
    assert password not in server_cmdline
    leaks = [name for name, text in {**world.texts, **server_texts}.items() if password in text or wrong in text]
    assert not leaks, leaks
    # nor in any file (logs, history, temp files) but the state file, where the sandbox keeps its admin's
    assert not scan_for([password, wrong], roots=[world.tmp], allowed=[world.sandbox])
    assert password in world.sandbox.read_text()
    assert not any(world.proc_tmp.iterdir()), list(world.proc_tmp.iterdir())


# -- the interactive shell's history ----------------------------------------------------------------------------
def test_interactive_rotation_keeps_no_key_in_history(world, certfactory, isolated_env):
    pexpect = pytest.importorskip("pexpect")
    world.run("--sandbox", world.sandbox, "info", "cluster")
    keys = world.sandbox_keys()
    c = certfactory.leaf()
    env = dict(world.env, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    old = os.umask(0)
    try:
        child = pexpect.spawn(console_script(), ["--sandbox", str(world.sandbox)], env=env, timeout=60,
                              encoding="utf-8", codec_errors="replace", dimensions=(40, 160))
    finally:
        os.umask(old)
    transcript = []
    child.logfile_read = _Collect(transcript)
    child.expect_exact("rladmin>")
    child.send(f"cluster certificate set proxy certificate_file {c.cert} key_file {c.key}\r")
    child.expect_exact("[y/N]")  # the shell asks before replacing a certificate
    child.send("y\r")
    child.expect_exact("Set proxy certificate")
    child.expect_exact("rladmin>")
    for line, answer in (
                         ("cluster certificate show proxy", "proxy"),
                         ("info cluster", "Cluster configuration")):
        child.send(line + "\r")
        child.expect_exact(answer)
        child.expect_exact("rladmin>")
    child.send("exit\r")
    child.expect(pexpect.EOF)
    child.close()
    history = Path(env["XDG_STATE_HOME"]) / "rladmin-py" / "history"
    assert history.exists() and "cluster certificate set proxy" in history.read_text()
    assert stat.S_IMODE(os.stat(history).st_mode) == 0o600
    keys += world.sandbox_keys() + [c.issued.key_pem]
    scan_everything(world, certfactory, keys, extra_texts={"terminal": "".join(transcript)})


def test_a_pasted_key_line_stays_out_of_history(world, certfactory):
    pexpect = pytest.importorskip("pexpect")
    c = certfactory.leaf()
    body = c.issued.key_pem.splitlines()[4]
    env = dict(world.env, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    child = pexpect.spawn(console_script(), ["--sandbox", str(world.sandbox)], env=env, timeout=60,
                          encoding="utf-8", codec_errors="replace", dimensions=(40, 160))
    child.expect_exact("rladmin>")
    child.send(body + "\r")  # a key pasted at the prompt by mistake: a syntax error
    child.expect_exact("error")
    child.expect_exact("rladmin>")
    child.send("exit\r")
    child.expect(pexpect.EOF)
    child.close()
    history = Path(env["XDG_STATE_HOME"]) / "rladmin-py" / "history"
    assert body not in history.read_text()


class _Collect:
    def __init__(self, sink: list):
        self.sink = sink

    def write(self, text):
        self.sink.append(text)

    def flush(self):
        pass


def test_state_file_stays_0600_through_reset_under_umask_000(world):
    target = ["--sandbox", world.sandbox]
    world.run(*target, "cluster", "config", "min_data_TLS_version", "1.3")
    world.state_modes()
    world.run(*target, "sandbox", "reset")
    world.state_modes()
    ca = Path(str(world.sandbox)[:-len(".json")] + "-ca.pem")
    assert stat.S_IMODE(os.stat(ca).st_mode) == 0o644  # public: clients read it
    assert KEY_MARKER not in ca.read_text()


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "fallback directory"])
def test_server_tls_key_never_left_on_disk(sandbox, tmp_path, monkeypatch, memfd):
    """The server hands the api key to OpenSSL through anonymous memory files on Linux; elsewhere
    through a 0700 directory beside the state file, removed at once. Nothing is left either way."""
    import ssl

    from rladmin_py.sandbox import tls as server

    if memfd and not hasattr(os, "memfd_create"):
        pytest.skip("no memfd_create on this platform")
    if not memfd:
        def refuse(*args):
            raise OSError("memfd_create refused (test)")

        monkeypatch.setattr(os, "memfd_create", refuse, raising=False)
    loaded = []
    real = ssl.SSLContext.load_cert_chain

    def spy(self, certfile, keyfile=None, password=None):
        loaded.append((certfile, keyfile, stat.S_IMODE(os.stat(keyfile).st_mode),
                       stat.S_IMODE(os.stat(os.path.dirname(keyfile)).st_mode)))
        return real(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    certs = sandbox.get_certificates()
    key_dir = tmp_path / "keydir"
    key_dir.mkdir()
    old = os.umask(0)
    try:
        ctx = server.build_context(certs["api_cert"], certs["api_key"], "1.2", "HIGH", key_dir=str(key_dir))
    finally:
        os.umask(old)
    assert isinstance(ctx, ssl.SSLContext) and len(loaded) == 1
    _, keyfile, mode, dir_mode = loaded[0]
    if memfd:
        assert keyfile.startswith("/proc/self/fd/")  # closed since (the number may be reused: not checked)
    else:
        assert os.path.dirname(os.path.dirname(keyfile)) == str(key_dir) and (mode, dir_mode) == (0o600, 0o700)
        assert not os.path.exists(keyfile)
    assert list(key_dir.iterdir()) == []
