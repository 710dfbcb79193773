"""The REST backend (httpx) against the sandbox server over real HTTPS on loopback.

The console script runs with ``--cluster URL --ca-cert CA`` and REDIS_ENTERPRISE_PASSWORD, like an
operator would; a few error mappings the sandbox server cannot produce (403 permission, 5xx,
non-JSON answers) are checked in-process with httpx's MockTransport.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import console_script
from test_server import served, start_server  # noqa: F401  (served is a fixture)

KEY_MARKERS = ("PRIVATE KEY",)


def no_keys(*texts: str) -> bool:
    return not any(marker in text for text in texts for marker in KEY_MARKERS)


# -- every command over REST ----------------------------------------------------------------------
def test_info_cluster_and_config(served, sandbox):
    r = served.shell("info", "cluster")
    assert r.returncode == 0, r.stderr
    assert "    cnm_https_port: " in r.stdout and "    min_control_TLS_version: 1.2" in r.stdout
    r = served.shell("cluster", "config", "min_data_TLS_version", "1.3", "sentinel_tls_mode", "required",
                     "encrypt_pkeys", "enabled", "data_cipher_suites_tls_1_3", "TLS_AES_256_GCM_SHA384")
    assert (r.returncode, r.stdout) == (0, "Cluster configured successfully\n"), r.stderr
    cluster = sandbox.get_cluster()
    assert cluster["min_data_TLS_version"] == "1.3" and cluster["sentinel_tls_mode"] == "required"
    assert cluster["encrypt_pkeys"] is True and cluster["data_cipher_suites_tls_1_3"] == ["TLS_AES_256_GCM_SHA384"]
    r = served.shell("--json", "info", "cluster")
    assert json.loads(r.stdout)["min_data_TLS_version"] == "1.3"


def test_cluster_config_refused_by_the_cluster(served):
    # read-only parameter: the grammar refuses it locally (exit 2), nothing is sent
    r = served.shell("cluster", "config", "control_cipher_suites_tls_1_3", "X")
    assert r.returncode in (1, 2) and r.stderr.startswith(("error", "column")), r.stderr


def test_certificate_show_over_rest(served, sandbox):
    r = served.shell("cluster", "certificate", "show")
    assert r.returncode == 0, r.stderr
    for name in ("api", "cm", "proxy", "syncer"):
        assert f"{name}:" in r.stdout
    r = served.shell("cluster", "certificate", "show", "api", "--json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)["certificates"]
    assert shown[0]["name"] == "api" and "localhost" in shown[0]["sans"]
    assert no_keys(r.stdout, r.stderr)


def test_certificate_set_over_rest(served, sandbox, certfactory):
    c = certfactory.leaf()
    r = served.shell("--debug", "cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert),
                     "key_file", str(c.key))
    assert r.returncode == 0, r.stderr
    assert f"Set proxy certificate to contents of file {c.cert}\n" in r.stdout
    assert f"Set proxy key to contents of file {c.key}\n" in r.stdout
    assert "node:1, node:2, node:3" in r.stdout
    held = sandbox.get_certificates()
    assert held["proxy_cert"].startswith(c.issued.cert_pem) and held["proxy_key"] == c.issued.key_pem
    # --debug: method, URL, status and timing; never a body or a key
    assert f"debug: PUT {served.url}/v1/cluster/certificates -> 200 (" in r.stderr
    assert f"debug: GET {served.url}/v1/cluster -> 200 (" in r.stderr
    assert no_keys(r.stdout, r.stderr) and c.issued.cert_pem.splitlines()[1] not in r.stderr
    assert "PRIVATE KEY" not in served.log()


def test_certificate_set_without_key_keeps_the_key(served, sandbox, certfactory):
    from cryptography.hazmat.primitives import serialization

    from rladmin_py.certificates import making as certgen

    current = serialization.load_pem_private_key(sandbox.get_certificates()["syncer_key"].encode(), password=None)
    issued = certgen.make_leaf(certfactory.fqdn, certgen.cluster_sans(certfactory.fqdn), certfactory.intermediate,
                               key=current)
    cert = certfactory.write("syncer-only.pem", issued.cert_pem + certfactory.intermediate.cert_pem)
    r = served.shell("cluster", "certificate", "set", "syncer", "certificate_file", str(cert))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Set syncer certificate to contents of file {cert}\n")
    assert sandbox.get_cluster()["syncer_certificate"].startswith(issued.cert_pem)


def test_certificate_set_internal_is_one_bulk_request(served, sandbox, certfactory):
    d, c = certfactory.leaf(), certfactory.leaf()
    r = served.shell("--debug", "cluster", "certificate", "set", "internal", "dpine_certificate_file", str(d.cert),
                     "dpine_key_file", str(d.key), "cpine_certificate_file", str(c.cert), "cpine_key_file", str(c.key))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("PUT ") == 1 and "/v1/cluster/certificates -> 200" in r.stderr
    held = sandbox.get_certificates()
    assert held["data_internode_encryption_key"] == d.issued.key_pem
    assert held["ccs_internode_encryption_key"] == c.issued.key_pem


def test_local_refusal_sends_nothing(served, sandbox, certfactory):
    expired = certfactory.expired()
    before = served.stats()
    r = served.shell("cluster", "certificate", "set", "proxy", "certificate_file", str(expired.cert),
                     "key_file", str(expired.key))
    assert r.returncode == 1 and "expired" in r.stderr and r.stderr.count("\n") == 1
    assert served.stats()["requests_served"] - before["requests_served"] == 3  # two GETs (and this stats call)


def test_dry_run_help_and_make_certs_over_rest(served, certfactory, tmp_path):
    c = certfactory.leaf()
    r = served.shell("--dry-run", "cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert),
                     "key_file", str(c.key))
    assert r.returncode == 0 and "Dry run, nothing changed" in r.stdout and no_keys(r.stdout)
    r = served.shell("help", "cluster")
    assert r.returncode == 0 and "cluster certificate set" in r.stdout
    r = served.shell("sandbox", "make-certs", str(tmp_path / "practice"))  # local: runs on this machine
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "practice" / "good-chain.pem").exists()


def test_sandbox_only_commands_refuse_a_live_cluster(served):
    for argv in (["sandbox", "reset"], ["sandbox", "node", "2", "down"]):
        r = served.shell(*argv)
        assert r.returncode == 1
        assert r.stderr.startswith("error: ") and f"not on {served.user} at {served.url}" in r.stderr


def test_script_over_rest(served, sandbox, certfactory, tmp_path):
    c = certfactory.leaf()
    script = tmp_path / "rotate.rladmin"
    script.write_text(f"cluster config min_control_TLS_version 1.3\n"
                      f"cluster certificate set proxy certificate_file {c.cert} key_file {c.key}\n"
                      f"info cluster\n")
    r = served.shell("-f", str(script))
    assert r.returncode == 0, r.stderr
    assert "min_control_TLS_version: 1.3" in r.stdout
    # the server now refuses TLS 1.2 on new connections; httpx speaks 1.3, so this still works
    assert served.shell("info", "cluster").returncode == 0


# -- errors -------------------------------------------------------------------------------------
def test_wrong_password(served):
    r = served.shell("info", "cluster", env={"REDIS_ENTERPRISE_PASSWORD": "not-the-password"})
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: authentication failed for {served.user} at {served.url}")
    assert r.stderr.count("\n") == 1 and "not-the-password" not in r.stderr


def test_unknown_ca_gets_its_own_message(served):
    r = served.shell("info", "cluster", ca=None)
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: TLS verification failed for {served.url}")
    assert "--ca-cert" in r.stderr and "-k" in r.stderr and "refused" not in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_certificate_for_another_name(served, rladmin, certfactory):
    c = certfactory.leaf()  # names the cluster FQDN only, not 127.0.0.1
    r = rladmin("cluster", "certificate", "set", "api", "certificate_file", str(c.cert), "key_file", str(c.key))
    assert r.returncode == 0, r.stderr
    root = certfactory.write("root-ca.pem", certfactory.root.cert_pem)
    r = served.shell("info", "cluster", ca=str(root))
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: TLS verification failed for {served.url}: IP address mismatch")
    assert "does not name 127.0.0.1" in r.stderr and "-k" in r.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_insecure_works_with_a_warning(served, how):
    if how == "flag":
        r = served.shell("-k", "info", "cluster", ca=None)
    else:
        r = served.shell("info", "cluster", ca=None, env={"REDIS_ENTERPRISE_INSECURE": "true"})
    assert r.returncode == 0, r.stderr
    assert "Cluster configuration:" in r.stdout
    assert r.stderr.startswith("warning: TLS verification is off")


def test_server_stopped(sandbox_path):
    server = start_server(sandbox_path)
    assert server.stop() == 0
    r = server.shell("info", "cluster")
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: cannot connect to {server.url}: connection refused")


def test_partial_update_then_success(served, rladmin, sandbox, certfactory):
    c = certfactory.leaf()
    argv = ("cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert), "key_file", str(c.key))
    assert rladmin("sandbox", "node", "2", "down").returncode == 0
    r = served.shell(*argv)
    assert r.returncode == 1
    assert r.stderr.startswith("error: not all nodes were updated") and "safe to retry" in r.stderr
    assert r.stderr.count("\n") == 1 and no_keys(r.stderr)
    assert rladmin("sandbox", "node", "2", "up").returncode == 0
    r = served.shell(*argv)
    assert r.returncode == 0, r.stderr
    assert "node:1, node:2, node:3" in r.stdout
    assert sandbox.get_certificates()["proxy_key"] == c.issued.key_pem


@pytest.mark.parametrize("legacy", ["1", "405"])
def test_fallback_to_update_cert(sandbox_path, sandbox, certfactory, legacy):
    server = start_server(sandbox_path, env={"RLADMIN_PY_SERVER_LEGACY": legacy})
    try:
        c = certfactory.leaf()
        r = server.shell("--debug", "cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert),
                         "key_file", str(c.key))
        assert r.returncode == 0, r.stderr
        status = "404" if legacy == "1" else "405"
        assert f"PUT {server.url}/v1/cluster/certificates -> {status}" in r.stderr
        assert f"PUT {server.url}/v1/cluster/update_cert -> 200" in r.stderr
        assert sandbox.get_certificates()["proxy_key"] == c.issued.key_pem
        # the internal form: one update_cert per pair on an older cluster
        d, p = certfactory.leaf(), certfactory.leaf()
        r = server.shell("--debug", "cluster", "certificate", "set", "internal", "dpine_certificate_file", str(d.cert),
                         "dpine_key_file", str(d.key), "cpine_certificate_file", str(p.cert),
                         "cpine_key_file", str(p.key))
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("/v1/cluster/update_cert -> 200") == 2
        assert sandbox.get_certificates()["ccs_internode_encryption_key"] == p.issued.key_pem
        assert no_keys(r.stdout, r.stderr, server.log())
    finally:
        assert server.stop() == 0


def test_http_url_refused(rladmin):
    r = rladmin("--cluster", "http://127.0.0.1:9443", "--user", "u", "info", "cluster", sandbox=False,
                env={"REDIS_ENTERPRISE_PASSWORD": "x"})
    assert r.returncode == 3
    assert r.stderr.startswith("error: http://127.0.0.1:9443: plain http:// is refused") and r.stderr.count("\n") == 1


def test_default_port_is_9443(rladmin):
    r = rladmin("--cluster", "127.0.0.1", "--user", "u", "--timeout", "3", "info", "cluster", sandbox=False,
                env={"REDIS_ENTERPRISE_PASSWORD": "x"})
    assert r.returncode == 3
    assert "https://127.0.0.1:9443" in r.stderr


def test_no_password_without_a_terminal(served):
    r = served.shell("info", "cluster", env={"REDIS_ENTERPRISE_PASSWORD": ""})
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: no password for {served.user} at {served.url}")
    assert "REDIS_ENTERPRISE_PASSWORD" in r.stderr


def test_password_prompt_on_a_terminal(served):
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1")
    env.pop("REDIS_ENTERPRISE_PASSWORD", None)
    child = pexpect.spawn(console_script(), ["--cluster", served.url, "--user", served.user, "--ca-cert",
                                             served.ca_cert, "info", "cluster"], env=env, timeout=30,
                          dimensions=(24, 120))
    child.expect(f"Password for {served.user} at {served.url}: ")
    child.sendline(served.password)
    child.expect("Cluster configuration:")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert served.password not in child.before.decode()  # no echo


def test_timeout(tmp_path):
    with socket.socket() as listener:  # accepts TCP (the kernel does), never answers TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        proc = subprocess.run([console_script(), "--cluster", f"https://127.0.0.1:{port}", "--user", "u",
                               "--timeout", "0.5", "info", "cluster"], capture_output=True, timeout=60,
                              env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD="x"))
    assert proc.returncode == 3
    assert proc.stderr.decode().startswith(f"error: cannot connect to https://127.0.0.1:{port}: timed out")


def test_sandbox_one_shot_never_imports_httpx(sandbox_path):
    code = ("import sys; from rladmin_py import cli; rc = cli.main(['--sandbox', sys.argv[1], 'info', 'cluster']);"
            "sys.exit(10 if 'httpx' in sys.modules else rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(sandbox_path)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()


# -- flags > environment > profile ----------------------------------------------------------------
def write_profile(home, text: str, mode: int = 0o600):
    path = home / ".config" / "rladmin-py" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_environment_names_the_cluster(served, rladmin):
    r = rladmin("info", "cluster", sandbox=False, env={
        "REDIS_ENTERPRISE_URL": served.url, "REDIS_ENTERPRISE_USER": served.user,
        "REDIS_ENTERPRISE_PASSWORD": served.password, "REDIS_ENTERPRISE_CA_CERT": served.ca_cert})
    assert r.returncode == 0, r.stderr
    assert "Cluster configuration:" in r.stdout and r.stderr == ""


def test_profile(served, rladmin, isolated_env):
    ca_dir = isolated_env / ".config" / "rladmin-py"
    ca_dir.mkdir(parents=True)
    (ca_dir / "sandbox-ca.pem").write_text(open(served.ca_cert).read())
    write_profile(isolated_env, f'[profiles.lab]\nurl = "{served.url}"\nuser = "{served.user}"\n'
                                f'ca_cert = "sandbox-ca.pem"\npassword_env = "LAB_PASSWORD"\n')
    r = rladmin("--profile", "lab", "info", "cluster", sandbox=False, env={"LAB_PASSWORD": served.password})
    assert r.returncode == 0, r.stderr
    # flags beat the profile: a wrong --user fails authentication
    r = rladmin("--profile", "lab", "--user", "someone@else", "info", "cluster", sandbox=False,
                env={"LAB_PASSWORD": served.password})
    assert r.returncode == 3 and f"authentication failed for someone@else at {served.url}" in r.stderr
    # the environment beats the profile
    r = rladmin("--profile", "lab", "info", "cluster", sandbox=False,
                env={"LAB_PASSWORD": served.password, "REDIS_ENTERPRISE_PASSWORD": "wrong"})
    assert r.returncode == 3 and "authentication failed" in r.stderr


@pytest.mark.parametrize("text, mode, message", [
    ("", 0o600, "no profile 'lab'"),
    ('[profiles.other]\nurl = "https://x"\n', 0o600, "profiles: other"),
    ('[profiles.lab]\nurl = "https://x"\nusr = "a"\n', 0o600, "unknown key 'usr'"),
    ('[profiles.lab]\nurl = 9443\n', 0o600, "url must be a string"),
    ('[profiles.lab\n', 0o600, "not valid TOML"),
    ('[profiles.lab]\nurl = "https://x"\nuser = "u"\npassword = "p"\n', 0o644, "others can read it"),
])
def test_profile_errors(rladmin, isolated_env, text, mode, message):
    if text:
        write_profile(isolated_env, text, mode)
    r = rladmin("--profile", "lab", "info", "cluster", sandbox=False)
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and r.stderr.count("\n") == 1


def test_resolution_order(isolated_env, monkeypatch):
    from rladmin_py.backends import connection as connect

    write_profile(isolated_env, '[profiles.p]\nurl = "https://prof.example:1234"\nuser = "prof"\n'
                                'ca_cert = "/prof/ca.pem"\ntimeout = 30\npassword_env = "P_PW"\n')

    def args(**kw):
        base = dict(cluster=None, user=None, profile="p", ca_cert=None, insecure=False, timeout=None, sandbox=None)
        return argparse.Namespace(**{**base, **kw})

    t = connect.resolve(args(), environ={"P_PW": "pw"})
    assert (t.url, t.user, t.ca_cert, t.insecure, t.timeout, t.password) == (
        "https://prof.example:1234", "prof", "/prof/ca.pem", False, 30.0, "pw")
    env = {"REDIS_ENTERPRISE_URL": "env.example", "REDIS_ENTERPRISE_USER": "envuser", "P_PW": "pw",
           "REDIS_ENTERPRISE_INSECURE": "true"}
    t = connect.resolve(args(), environ=env)
    assert (t.url, t.user, t.insecure, t.ca_cert) == ("https://env.example:9443", "envuser", True, None)
    t = connect.resolve(args(cluster="https://flag.example/", user="flaguser", ca_cert="/flag/ca.pem"), environ=env)
    assert (t.url, t.user, t.insecure, t.ca_cert) == ("https://flag.example:9443", "flaguser", False, "/flag/ca.pem")
    t = connect.resolve(args(profile=None, cluster="[::1]:9443/v1"), environ={"REDIS_ENTERPRISE_USER": "u"},
                        prompt=lambda text: "typed")
    assert (t.url, t.password) == ("https://[::1]:9443", "typed")
    assert "typed" not in repr(t)
    with pytest.raises(connect.ConfigurationProblem, match="must not hold credentials"):
        connect.normalize_url("https://u:p@host")
    with pytest.raises(connect.ConfigurationProblem, match="expected true or false"):
        connect.resolve(args(), environ={"REDIS_ENTERPRISE_INSECURE": "maybe", "P_PW": "x"})


# -- status mappings the sandbox never produces (in-process, httpx MockTransport) -----------------
@pytest.fixture
def mocked():
    httpx = pytest.importorskip("httpx")
    from rladmin_py.backends.rest import RestBackend

    def make(handler):
        return RestBackend("https://cluster.example:9443", "ops@example", "pw", note=lambda m: None,
                           transport=httpx.MockTransport(handler))

    return make


@pytest.mark.parametrize("status, body, kind, text, code", [
    (403, {}, "BackendError", "permission denied: ops@example may not PUT /v1/cluster", 1),
    (403, {"error_code": "insufficient_permissions", "message": "user lacks update_cluster"}, "BackendError",
     "user lacks update_cluster", 1),
    (400, {"error_code": "invalid_field", "description": "bad value"}, "BackendError", "bad value", 1),
    (409, {}, "PartialUpdate", "not all nodes were updated", 1),
    (500, {"error_code": "boom", "description": "disk full"}, "BackendError", "the cluster failed (500", 1),
    (503, None, "BackendError", "not ready (503", 1),
    (401, None, "AuthenticationFailed", "authentication failed for ops@example at https://cluster.example:9443", 3),
    (404, "<html>", "ConnectionProblem", "is it the RS REST API", 3),
])
def test_status_mapping(mocked, status, body, kind, text, code):
    import httpx

    def handler(request):
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

    backend = mocked(handler)
    with pytest.raises(Exception) as info:
        backend.update_cluster({"min_data_TLS_version": "1.3"})
    err = info.value
    assert type(err).__name__ == kind and text in err.message and err.exit_code == code
    if status == 409:
        assert "safe to retry" in err.message


def test_non_json_answer(mocked):
    import httpx

    backend = mocked(lambda request: httpx.Response(200, text="<html>welcome</html>"))
    with pytest.raises(Exception) as info:
        backend.get_cluster()
    assert info.value.exit_code == 3 and "not JSON" in info.value.message
