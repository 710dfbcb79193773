"""``verify tls`` and the check on the wire after a change, against the sandbox's real endpoints
and against a test server whose REST answers and TLS port disagree (real TLS on loopback)."""
from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import console_script, rsa_key
from rladmin_py.certificates import making as certgen
from test_server import start_server


def run(*argv: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def served(sandbox_path):
    server = start_server(sandbox_path)
    try:
        yield server
    finally:
        assert server.stop() == 0


def verify_json(served, *extra: str) -> tuple[int, dict]:
    r = run("--sandbox", str(served.sandbox), *extra, "verify", "tls", "--json")
    assert "Traceback" not in r.stderr
    return r.returncode, json.loads(r.stdout)


def test_a_fresh_sandbox_is_all_ok(served):
    code, data = verify_json(served)
    rows = {r["endpoint"]: r for r in data["rows"]}
    assert code == 0 and data["ok"] is True
    expected = {"api", "cm", "http", "metrics_exporter"} | ({"db:1"} if served.endpoints["database"] else set())
    assert set(rows) == expected
    for name, row in rows.items():
        assert row["status"] == "OK", row
        if name != "http":
            assert row["served"]["sha256"] == row["expected_sha256"]
            assert row["chain"] == "verified" and row["name_match"] is True
            assert row["min_version"] == {"configured": "1.2", "below": "refused"}
    text = run("--sandbox", str(served.sandbox), "verify", "tls")
    assert text.returncode == 0 and text.stdout.strip().endswith(f"verify tls: {len(rows)} OK"), text.stdout


def test_the_sandbox_must_be_served(sandbox_path):
    r = run("--sandbox", str(sandbox_path), "verify", "tls")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("error: the sandbox is not being served") and r.stderr.count("\n") == 1
    assert f"rladmin-py --sandbox {sandbox_path} --serve 127.0.0.1:0" in r.stderr


def test_rotation_is_verified_and_the_database_row_follows(served, certfactory):
    if not served.endpoints["database"]:
        pytest.skip("no database endpoint on this platform")
    new = certfactory.leaf(sans=certgen.cluster_sans(certfactory.fqdn, "api"), key=rsa_key(21))
    r = run("--sandbox", str(served.sandbox), "-y", "cluster", "certificate", "set", "proxy",
            "certificate_file", str(new.cert), "key_file", str(new.key))
    port = served.endpoints["database"].rsplit(":", 1)[1]
    assert r.returncode == 0, r.stderr
    assert f"verified: 127.0.0.1:{port} (db:1) serves the new proxy certificate\n" in r.stderr
    # the trust file still holds the old self-signed proxy certificate: the chain no longer verifies with it...
    code, data = verify_json(served)
    db = next(row for row in data["rows"] if row["endpoint"] == "db:1")
    assert code == 1 and db["status"] == "MISMATCH" and db["served"]["sha256"] == db["expected_sha256"]
    assert db["chain"].startswith("not verified")
    # ...and it does with the new root given by --ca-cert
    root = certfactory.write("root.pem", certfactory.root.cert_pem)
    code, data = verify_json(served, "--ca-cert", str(root))
    db = next(row for row in data["rows"] if row["endpoint"] == "db:1")
    assert db["status"] == "OK", db
    r = run("--sandbox", str(served.sandbox), "--ca-cert", str(root), "verify", "tls", "database")
    assert r.returncode == 0 and r.stdout.count("\n") > 1 and r.stdout.startswith("db:1 ")


def test_json_documents_carry_what_the_check_after_the_change_saw(served, certfactory):
    new = certfactory.leaf(sans=certgen.cluster_sans(certfactory.fqdn, "api"), key=rsa_key(23))
    base = ["--sandbox", str(served.sandbox), "--json"]
    r = run(*base, "cluster", "certificate", "set", "api", "certificate_file", str(new.cert), "key_file", str(new.key))
    api_port = served.url.rsplit(":", 1)[1]
    doc = json.loads(r.stdout)
    assert doc["verification"] == {"verified": [f"127.0.0.1:{api_port} (api) serves the new api certificate"],
                                   "not_reachable": [], "failures": []}, r.stderr
    r = run(*base, "cluster", "config", "min_control_TLS_version", "1.3")
    seen = json.loads(r.stdout)["verification"]
    assert [line.split(" ", 1)[1].split(")")[0] for line in seen["verified"]] == ["(api", "(cm", "(metrics_exporter"], seen
    assert all("minimum TLS 1.3: below it refused" in line for line in seen["verified"])
    r = run(*base, "--no-verify", "cluster", "config", "min_control_TLS_version", "1.2")
    assert "verification" not in json.loads(r.stdout)  # not checked: not claimed


def test_no_verify_and_dry_run_probe_nothing(served, certfactory):
    new = certfactory.leaf(sans=certgen.cluster_sans(certfactory.fqdn, "api"), key=rsa_key(22))
    base = ["--sandbox", str(served.sandbox), "-y"]
    cmd = ["cluster", "certificate", "set", "api", "certificate_file", str(new.cert), "key_file", str(new.key)]
    dry = run(*base, "--dry-run", *cmd)
    assert dry.returncode == 0 and "verified" not in dry.stderr
    quiet = run(*base, "--no-verify", *cmd)
    assert quiet.returncode == 0 and quiet.stderr == ""
    api_port = served.url.rsplit(":", 1)[1]
    again = run(*base, *cmd)
    assert f"verified: 127.0.0.1:{api_port} (api) serves the new api certificate" in again.stderr


def test_a_lowered_then_raised_minimum_is_seen_on_the_wire(served):
    base = ["--sandbox", str(served.sandbox)]
    r = run(*base, "cluster", "config", "min_control_TLS_version", "1.3")
    api_port = served.url.rsplit(":", 1)[1]
    assert r.returncode == 0 and f"verified: 127.0.0.1:{api_port} (api) minimum TLS 1.3: below it refused" in r.stderr
    code, data = verify_json(served)
    api = next(row for row in data["rows"] if row["endpoint"] == "api")
    assert code == 0 and api["min_version"] == {"configured": "1.3", "below": "refused"}
    assert tls12_accepted(int(api_port)) is False
    r = run(*base, "cluster", "config", "min_control_TLS_version", "1.2")
    assert r.returncode == 0 and "warning" not in r.stderr
    code, data = verify_json(served)
    api = next(row for row in data["rows"] if row["endpoint"] == "api")
    assert code == 0 and api["min_version"]["configured"] == "1.2"
    assert tls12_accepted(int(api_port)) is True


def tls12_accepted(port: int) -> bool:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, ctx.wrap_socket(sock):
            return True
    except ssl.SSLError:
        return False


# -- a cluster that says one thing and serves another -------------------------------------------------------
class LyingCluster:
    """An HTTPS "cluster" on loopback: its REST answers claim certificate ``claimed`` for api,
    while its TLS port serves ``served`` (CN with a control character: output must escape it)."""

    def __init__(self, tmp_path):
        fqdn = "cluster.lying.local"
        self.served = certgen.make_rs_certificate(fqdn + "\x1b[31m", [fqdn, "localhost", "127.0.0.1"],
                                                  key=rsa_key(23))
        self.claimed = certgen.make_rs_certificate(fqdn, [fqdn, "localhost", "127.0.0.1"], key=rsa_key(24))
        (tmp_path / "served.pem").write_text(self.served.cert_pem)
        (tmp_path / "served.key").write_text(self.served.key_pem)
        self.ca = tmp_path / "served.pem"
        cluster = {"name": fqdn, "min_control_TLS_version": "1.2", "control_cipher_suites": "DEFAULT",
                   "min_data_TLS_version": "1.2", "http_support": False, "cm_port": 1, "cnm_http_port": 1}
        certificates = {"api_cert": self.claimed.cert_pem}
        answers = {"/v1/cluster": cluster, "/v1/cluster/certificates": certificates, "/v1/bdbs": []}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(answers.get(self.path, {})).encode()
                self.send_response(200 if self.path in answers else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp_path / "served.pem", tmp_path / "served.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def lying(tmp_path):
    server = LyingCluster(tmp_path)
    try:
        yield server
    finally:
        server.close()


def test_a_served_certificate_other_than_the_one_held_is_a_mismatch(lying):
    env = dict(__import__("os").environ, REDIS_ENTERPRISE_PASSWORD="pw")
    r = run("--cluster", lying.url, "--user", "u", "--ca-cert", str(lying.ca), "verify", "tls", "api", env=env)
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith(f"api  127.0.0.1:{lying.url.rsplit(':', 1)[1]}  MISMATCH")
    assert "problem:     serves another certificate than the cluster's api certificate" in r.stdout
    assert "\x1b" not in r.stdout and "served CN cluster.lying.local\\x1b[31m" in r.stdout  # untrusted text, escaped
    data = json.loads(run("--cluster", lying.url, "--user", "u", "--ca-cert", str(lying.ca), "verify", "tls", "--json",
                          env=env).stdout)
    rows = {row["endpoint"]: row for row in data["rows"]}
    assert rows["api"]["status"] == "MISMATCH" and data["ok"] is False
    assert rows["cm"]["status"] == "UNREACHABLE" and rows["http"]["status"] == "OK"  # port 1: refuses, as it should
    now = dt.datetime.now(dt.timezone.utc)
    assert rows["api"]["served"]["days_left"] == (lying.served.cert.not_valid_after_utc - now).days


def test_a_script_is_checked_once_at_its_end_and_quietly(served, tmp_path):
    script = tmp_path / "raise.rla"
    script.write_text("cluster config min_data_TLS_version 1.3\ncluster config min_control_TLS_version 1.3\n")
    r = run("--sandbox", str(served.sandbox), "-f", str(script))
    assert r.returncode == 0 and r.stderr == "", r.stderr  # all served as configured: nothing to say
    assert r.stdout == "Cluster configured successfully\n" * 2
    code, data = verify_json(served)
    assert code == 0 and {row["min_version"].get("configured") for row in data["rows"]} <= {"1.3", "plain HTTP"}
