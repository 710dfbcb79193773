"""The console script: modes, output, exit codes and script behaviour, as a user sees them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import console_script


def tls(sandbox, field="min_data_TLS_version"):
    return sandbox.get_cluster()[field]


# -- one-shot ------------------------------------------------------------------------------------
def test_one_shot_success_prints_rladmin_text(rladmin, sandbox):
    r = rladmin("cluster", "config", "min_data_TLS_version", "1.3", "sentinel_tls_mode", "required")
    assert (r.returncode, r.stdout, r.stderr) == (0, "Cluster configured successfully\n", "")
    cluster = sandbox.get_cluster()
    assert cluster["min_data_TLS_version"] == "1.3" and cluster["sentinel_tls_mode"] == "required"


def test_one_shot_typed_values_reach_the_cluster_as_rest_types(rladmin, sandbox):
    r = rladmin("cluster", "config", "encrypt_pkeys", "enabled", "data_cipher_suites_tls_1_3",
                "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256", "control_cipher_suites", "'DEFAULT:!3DES:!RC4'")
    assert r.returncode == 0, r.stderr
    cluster = sandbox.get_cluster()
    assert cluster["encrypt_pkeys"] is True
    assert cluster["data_cipher_suites_tls_1_3"] == ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]
    assert cluster["control_cipher_suites"] == "DEFAULT:!3DES:!RC4"


def test_leading_rladmin_word_is_ignored(rladmin, sandbox):
    assert rladmin("rladmin", "cluster", "config", "min_control_TLS_version", "1.3").returncode == 0
    assert tls(sandbox, "min_control_TLS_version") == "1.3"


def test_one_shot_syntax_error_exit_2_with_caret_and_nothing_changed(rladmin, sandbox):
    r = rladmin("cluster", "config", "min_data_TLS_version", "1.3", "min_data_TLS_version", "1.2")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "error: column 41: min_data_TLS_version is given more than once"
    assert lines[2].index("^") == 42
    assert tls(sandbox) == "1.2"


def test_one_shot_runtime_failure_exit_1_one_line(rladmin, tmp_path):
    r = rladmin("cluster", "certificate", "set", "proxy", "certificate_file", str(tmp_path / "nope.pem"))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "nope.pem" in r.stderr and "Traceback" not in r.stderr


def test_path_with_spaces_from_argv(rladmin, sandbox, certfactory, tmp_path):
    c = certfactory.leaf()
    spaced = tmp_path / "my certs"
    spaced.mkdir()
    cert, key = spaced / "proxy cert.pem", spaced / "proxy key.pem"
    cert.write_bytes(c.cert.read_bytes())
    key.write_bytes(c.key.read_bytes())
    r = rladmin("cluster", "certificate", "set", "proxy", "certificate_file", str(cert), "key_file", str(key))
    assert r.returncode == 0, r.stderr
    assert f"Set proxy certificate to contents of file {cert}\n" in r.stdout
    assert f"Set proxy key to contents of file {key}\n" in r.stdout


def test_json_info_cluster_is_keyed_by_rest_fields(rladmin):
    for argv in (["--json", "info", "cluster"], ["info", "cluster", "--json"]):
        r = rladmin(*argv)
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["min_data_TLS_version"] == "1.2"
        assert data["min_control_TLS_version"] == "1.2"
        assert data["sentinel_tls_mode"] == "allowed"


def test_info_cluster_text_layout(rladmin):
    r = rladmin("info", "cluster")
    lines = r.stdout.splitlines()
    assert lines[0] == "Cluster configuration:"
    assert "rladmin-py additions (not shown by rladmin):" in lines
    assert "    min_data_TLS_version: 1.2" in lines
    assert "    encrypt_pkeys: disabled" in lines


def test_json_cluster_config(rladmin):
    r = rladmin("--json", "cluster", "config", "http_support", "disabled")
    assert json.loads(r.stdout) == {"status": "ok", "changed": {"http_support": False}}


def test_help_and_question_mark(rladmin):
    r = rladmin("help", sandbox=False)
    assert r.returncode == 0 and "  cluster   Cluster management commands" in r.stdout
    r = rladmin("help", "cluster", "config", sandbox=False)
    assert "min_sentinel_TLS_version" in r.stdout and r.stdout.startswith("Usage: cluster config")
    assert "cluster config <parameter> <value>" in rladmin("?", sandbox=False).stdout
    r = rladmin("help", "frob", sandbox=False)
    assert r.returncode == 1 and "no command starts with 'frob'" in r.stderr


def test_version_help_and_python_m():
    out = subprocess.run([console_script(), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("rladmin-py ")
    out = subprocess.run([sys.executable, "-m", "rladmin_py", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "exit codes" in out.stdout


def test_usage_errors_exit_2(rladmin):
    r = rladmin("--bogus-option")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = rladmin("--check", "-f", "run.rla", "info", "cluster")  # --check takes one-shot words, not both
    assert r.returncode == 2 and "either command words or -f FILE" in r.stderr


def test_unreadable_state_file_is_a_configuration_error(rladmin, sandbox_path):
    sandbox_path.write_text("{ not json")
    r = rladmin("info", "cluster")
    assert r.returncode == 3
    assert "sandbox state file" in r.stderr and "sandbox reset" in r.stderr
    assert "Traceback" not in r.stderr


# -- scripts -------------------------------------------------------------------------------------
SCRIPT = """\ufeff# raise the floor
cluster config min_data_TLS_version 1.3\r
\r
   # indented comment
cluster config sentinel_tls_mode required
"""


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_script_with_bom_crlf_and_comments(rladmin, sandbox, tmp_path, via):
    path = tmp_path / "s.rla"
    path.write_bytes(SCRIPT.encode("utf-8"))
    r = rladmin("-f", str(path)) if via == "file" else rladmin(input=SCRIPT.encode("utf-8"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Cluster configured successfully\n" * 2
    assert tls(sandbox) == "1.3" and tls(sandbox, "sentinel_tls_mode") == "required"


def test_script_syntax_error_anywhere_applies_nothing(rladmin, sandbox, tmp_path):
    path = tmp_path / "bad.rla"
    path.write_text("cluster config min_data_TLS_version 1.3\n# ok\ncluster config sentinel_tls_mode sometimes\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == (f"{path}:3:34: error: invalid value 'sometimes' for sentinel_tls_mode: "
                        "expected allowed, required or disabled")
    assert lines[1] == "  cluster config sentinel_tls_mode sometimes"
    assert lines[2] == "  " + " " * 33 + "^"
    assert "nothing was run" in r.stderr
    assert tls(sandbox) == "1.2"


def test_stdin_script_errors_are_named_stdin(rladmin):
    r = rladmin(input="info cluster\ninfo clustre\n")
    assert r.returncode == 2
    assert r.stderr.startswith("<stdin>:2:6: error: ")


def test_script_stops_at_first_failure_with_line_number(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("cluster config min_data_TLS_version 1.3\n"
                    "cluster certificate set proxy certificate_file /nonexistent/c.pem\n"
                    "cluster config sentinel_tls_mode required\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 1
    assert r.stdout == "Cluster configured successfully\n"
    assert r.stderr.splitlines()[0].startswith(f"{path}:2: error: /nonexistent/c.pem")
    assert "1 of 3 commands applied (line 1); not applied: lines 2-3" in r.stderr
    assert tls(sandbox) == "1.3" and tls(sandbox, "sentinel_tls_mode") == "allowed"


def test_keep_going_runs_the_rest_and_still_exits_1(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("cluster certificate set proxy certificate_file /nonexistent/c.pem\n"
                    "cluster config sentinel_tls_mode required\n")
    r = rladmin("--keep-going", "-f", str(path))
    assert r.returncode == 1
    assert r.stdout == "Cluster configured successfully\n"
    assert tls(sandbox, "sentinel_tls_mode") == "required"


def test_check_parses_without_running(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("cluster config min_data_TLS_version 1.3\n")
    r = rladmin("--check", "-f", str(path))
    assert r.returncode == 0 and "syntax OK" in r.stderr
    assert tls(sandbox) == "1.2"
    path.write_text("cluster config min_data_TLS_version 1.4\n")
    assert rladmin("--check", "-f", str(path)).returncode == 2


def test_exit_in_a_script_stops_it(rladmin, sandbox):
    r = rladmin(input="cluster config min_data_TLS_version 1.3\nexit\ncluster config sentinel_tls_mode required\n")
    assert r.returncode == 0
    assert tls(sandbox, "sentinel_tls_mode") == "allowed"


def test_unreadable_scripts(rladmin, tmp_path):
    r = rladmin("-f", str(tmp_path / "missing.rla"))
    assert r.returncode == 2 and "no such file" in r.stderr
    bad = tmp_path / "latin1.rla"
    bad.write_bytes(b"info cluster\n# caf\xe9\n")
    r = rladmin("-f", str(bad))
    assert r.returncode == 2 and f"{bad}:2: error: not UTF-8" in r.stderr
    assert "Traceback" not in r.stderr


def test_script_json_output_is_one_document_per_command(rladmin):
    r = rladmin("--json", input="cluster config min_data_TLS_version 1.3\ninfo cluster\n")
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert docs[0]["status"] == "ok" and docs[1]["min_data_TLS_version"] == "1.3"


# -- the sandbox as a user sees it ------------------------------------------------------------------
def test_default_sandbox_is_created_under_xdg_data_home(isolated_env):
    env = dict(os.environ)
    r = subprocess.run([console_script(), "cluster", "config", "min_data_TLS_version", "1.3"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    state = isolated_env / ".local/share/rladmin-py/sandbox.json"
    assert state.exists() and (state.stat().st_mode & 0o777) == 0o600
    assert (isolated_env / ".local/share/rladmin-py/sandbox-ca.pem").exists()


def test_state_file_is_0600_whatever_the_umask(rladmin, sandbox_path):
    old = os.umask(0)
    try:
        r = rladmin("cluster", "config", "min_data_TLS_version", "1.3")
    finally:
        os.umask(old)
    assert r.returncode == 0
    assert (sandbox_path.stat().st_mode & 0o777) == 0o600
    leftovers = [p.name for p in sandbox_path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_sandbox_reset_recreates_everything(rladmin, sandbox):
    before = sandbox.get_certificates()["api_cert"]
    _, password = sandbox.credentials()
    assert rladmin("cluster", "config", "min_data_TLS_version", "1.3").returncode == 0
    r = rladmin("sandbox", "reset")
    assert r.returncode == 0 and "Sandbox reset" in r.stdout
    assert tls(sandbox) == "1.2"
    assert sandbox.get_certificates()["api_cert"] != before
    assert sandbox.credentials()[1] != password


def test_concurrent_processes_do_not_lose_each_others_updates(sandbox_path, sandbox, tmp_path):
    """Two scripts and four one-shot commands at once, each on its own field: every final value survives."""
    flips = {
        "min_data_TLS_version": ("1.2", "1.3"),
        "sentinel_tls_mode": ("disabled", "required"),
    }
    procs = []
    for field, (a, b) in flips.items():
        script = tmp_path / f"{field}.rla"
        script.write_text("".join(f"cluster config {field} {v}\n" for v in [a, b] * 20))
        procs.append(subprocess.Popen([console_script(), "--sandbox", str(sandbox_path), "-f", str(script)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    singles = {"min_control_TLS_version": "1.3", "min_sentinel_TLS_version": "1.3", "http_support": "disabled",
               "encrypt_pkeys": "enabled"}
    for field, value in singles.items():
        procs.append(subprocess.Popen([console_script(), "--sandbox", str(sandbox_path), "cluster", "config",
                                       field, value], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    cluster = sandbox.get_cluster()
    assert cluster["min_data_TLS_version"] == "1.3" and cluster["sentinel_tls_mode"] == "required"
    assert cluster["min_control_TLS_version"] == "1.3" and cluster["min_sentinel_TLS_version"] == "1.3"
    assert cluster["http_support"] is False and cluster["encrypt_pkeys"] is True
    json.loads(sandbox_path.read_text())  # never a torn file


def test_sandbox_only_commands_are_refused_on_a_live_cluster():
    from rladmin_py import commands, context
    from rladmin_py.language import parser
    from rladmin_py.backends import NotSupported

    class Live:
        kind, target = "rest", "admin@example.com at https://cluster.example.com:9443"

        def close(self):
            pass

    ctx = context.Context(open_backend=Live)
    for line in ("sandbox reset", "sandbox node 1 down"):
        with pytest.raises(NotSupported, match="works only on the local sandbox"):
            commands.run(ctx, parser.parse(line))


def test_local_commands_never_open_a_live_cluster(rladmin, tmp_path):
    """make-certs and help run on this machine: a named cluster is never connected to."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    env = {"REDIS_ENTERPRISE_URL": f"https://127.0.0.1:{port}", "REDIS_ENTERPRISE_USER": "admin@example.com",
           "REDIS_ENTERPRISE_PASSWORD": "not-used"}
    try:
        r = rladmin("--timeout", "2", "sandbox", "make-certs", str(tmp_path / "practice"), sandbox=False, env=env)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "practice" / "README.txt").exists()
        r = rladmin("help", "cluster", "config", sandbox=False, env=env)
        assert r.returncode == 0 and r.stderr == ""
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    finally:
        listener.close()


def _imported(*argv: str, sandbox_path=None, code: int = 0) -> set[str]:
    """The modules a real run imports (python -X importtime), by full name."""
    cmd = [sys.executable, "-X", "importtime", "-m", "rladmin_py"]
    if sandbox_path is not None:
        cmd += ["--sandbox", str(sandbox_path)]
    proc = subprocess.run(cmd + list(argv), capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("argv", [("cluster", "config", "min_data_TLS_version", "1.3"), ("info", "cluster")])
def test_one_shot_sandbox_commands_import_only_what_they_need(sandbox_path, argv):
    mods = _imported(*argv, sandbox_path=sandbox_path)
    assert "rladmin_py.backends.sandbox" in mods  # the check sees our own imports
    for heavy in ("prompt_toolkit", "httpx", "pyparsing", "cryptography"):
        assert heavy not in mods, heavy


def test_version_and_help_import_nearly_nothing():
    for flag in ("--version", "--help"):
        mods = _imported(flag)
        ours = {m for m in mods if m.startswith("rladmin_py")}
        assert ours <= {"rladmin_py", "rladmin_py.cli", "rladmin_py.exitcodes", "rladmin_py.__main__"}, ours
        assert "pyparsing" not in mods and "dataclasses" not in mods


def test_a_syntax_error_loads_pyparsing_for_its_message(sandbox_path):
    mods = _imported("cluster", "config", "min_data_TLS_version", "1.1", sandbox_path=sandbox_path, code=2)
    assert "pyparsing" in mods and "rladmin_py.language.pyparse" in mods


def test_ctrl_c_during_a_script_exits_130_and_reports(sandbox_path, tmp_path):
    import signal

    path = tmp_path / "long.rla"
    path.write_text("".join(f"cluster config data_cipher_list HIGH:!x{i}\n" for i in range(60_000)))
    proc = subprocess.Popen([console_script(), "--sandbox", str(sandbox_path), "-f", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()  # it is running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "commands applied" in err
    assert "Traceback" not in err
    json.loads(sandbox_path.read_text())


def test_dry_run_cluster_config_shows_the_request_and_changes_nothing(rladmin, sandbox):
    r = rladmin("--dry-run", "cluster", "config", "min_data_TLS_version", "1.3", "http_support", "disabled")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Dry run, nothing changed. Would send: PUT /v1/cluster\n")
    assert json.loads(r.stdout.split("\n", 1)[1]) == {"min_data_TLS_version": "1.3", "http_support": False}
    assert tls(sandbox) == "1.2" and sandbox.get_cluster()["http_support"] is True
