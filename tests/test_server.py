"""The sandbox served as the RS REST API over HTTPS, checked with real clients (curl, openssl).

Every server runs as a subprocess through the console script (``rladmin-py --sandbox PATH
--serve 127.0.0.1:0 --json``) on the test's own sandbox copy; ``start_server`` and the
``served`` fixture are shared with test_rest_backend.py.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import Run, console_script
from rladmin_py.certificates import making as certgen

FIXTURES = Path("/work/shared/reference/fixtures")
CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command-line tool is not installed")


# -- the server as a subprocess -------------------------------------------------------------------
@dataclass
class Served:
    """A running ``--serve`` subprocess and what its JSON line said."""

    proc: subprocess.Popen
    sandbox: Path
    log_path: Path
    url: str
    user: str
    password: str
    ca_cert: str
    endpoints: dict = field(default_factory=dict)
    stopped_code: int | None = field(default=None)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.stopped_code is None:
            self.proc.send_signal(sig)
            try:
                self.stopped_code = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("the server did not stop within 20 s")
            finally:
                self.proc.stdout.close()
        return self.stopped_code

    def env(self, **extra) -> dict:
        env = {"REDIS_ENTERPRISE_PASSWORD": self.password}
        env.update(extra)
        return env

    def shell(self, *argv: str, ca: str | None | bool = True, env: dict | None = None, input: str | None = None,
              user: str | None = None, timeout: float = 120) -> Run:
        """The console script on this server's URL (``--ca-cert`` the sandbox CA unless told otherwise)."""
        cmd = [console_script(), "--cluster", self.url, "--user", user or self.user]
        if ca is True:
            cmd += ["--ca-cert", self.ca_cert]
        elif ca:
            cmd += ["--ca-cert", str(ca)]
        full_env = dict(os.environ, **self.env(**(env or {})))
        proc = subprocess.run(cmd + list(argv), input=(input or "").encode(), capture_output=True, env=full_env,
                              timeout=timeout)
        return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                auth: bool = True, context: ssl.SSLContext | None = None):
        """One request on a new connection, from the standard library (status, headers, decoded body)."""
        ctx = context or ssl.create_default_context(cafile=self.ca_cert)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=20)
        try:
            hdrs = dict(headers or {})
            if auth:
                import base64

                hdrs["Authorization"] = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), (json.loads(data) if data else None)
        finally:
            conn.close()

    def stats(self) -> dict:
        status, _, body = self.request("GET", "/_rladmin_py/stats")
        assert status == 200
        return body


def start_server(sandbox_path: Path, *extra: str, env: dict | None = None, json_line: bool = True,
                 log_dir: Path | None = None, preexec_fn=None) -> Served:
    """Start ``rladmin-py --sandbox PATH --serve 127.0.0.1:0 --json --debug`` and read its JSON line."""
    log_path = (log_dir or sandbox_path.parent) / f"server-{time.monotonic_ns()}.log"
    cmd = [console_script(), "--sandbox", str(sandbox_path), "--serve", "127.0.0.1:0", "--debug"]
    if json_line:
        cmd.append("--json")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd + list(extra), stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, **(env or {})), preexec_fn=preexec_fn)
    try:  # a server that does not say what it should is stopped here: nothing outlives the test
        line, rest = _read_line(proc, deadline=time.monotonic() + 30)
        if not json_line:
            return proc, line + "\n" + rest  # type: ignore[return-value]
        try:
            info = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}; log: {log_path.read_text()}") from None
        assert set(info) == {"url", "user", "password", "ca_cert", "endpoints"}, info
        assert set(info["endpoints"]) - {"ocsp_responder"} == {"api", "cm", "http", "metrics_exporter", "database"}, info
        assert info["endpoints"]["api"] == info["url"]
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        raise
    return Served(proc, sandbox_path, log_path, info["url"], info["user"], info["password"], info["ca_cert"],
                  info["endpoints"])


def _read_line(proc: subprocess.Popen, deadline: float) -> tuple[str, str]:
    """The server's first stdout line (and what came after it), waiting at most until ``deadline``."""
    fd = proc.stdout.fileno()
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            proc.kill()
            raise AssertionError("the server printed nothing within 30 s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                code = proc.wait(timeout=10)
                raise AssertionError(f"the server exited ({code}) before printing its URL")
            data += chunk
    first, rest = data.split(b"\n", 1)
    return first.decode(), rest.decode()


@pytest.fixture
def served(sandbox_path):
    server = start_server(sandbox_path)
    yield server
    code = server.stop()
    assert code == 0, server.log()


def curl(served: Served, *args: str, ca: bool = True, auth: bool = True, timeout: float = 30) -> tuple[int, object]:
    """curl against the server: (HTTP status, decoded JSON body or raw text)."""
    cmd = [CURL, "-sS", "--max-time", "20", "-w", "\n%{http_code}"]
    if ca:
        cmd += ["--cacert", served.ca_cert]
    if auth:
        cmd += ["-u", f"{served.user}:{served.password}"]
    proc = subprocess.run(cmd + list(args), capture_output=True, timeout=timeout)
    out = proc.stdout.decode()
    body, _, code = out.rpartition("\n")
    try:
        decoded = json.loads(body) if body.strip() else None
    except ValueError:
        decoded = body
    return int(code or 0), decoded


def s_client(port: int, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *flags],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def served_leaf(port: int, cafile: str) -> str:
    """The first certificate the server sends, as openssl s_client shows it (PEM)."""
    proc = s_client(port, "-showcerts", "-CAfile", cafile)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", proc.stdout.decode(), re.S)
    assert m, proc.stderr.decode()
    return m.group(0)


def pem_fingerprint(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def rs_error(body) -> bool:
    from server_fixtures import rs_error_body

    return rs_error_body(body)


def local_leaf(certfactory):
    """A certificate for the sandbox that local clients can verify (localhost, 127.0.0.1)."""
    return certfactory.leaf(sans=certgen.cluster_sans(certfactory.fqdn, "api"))


# -- the --serve mode -----------------------------------------------------------------------------
def test_serve_json_line_and_sigterm(sandbox_path, sandbox):
    server = start_server(sandbox_path)
    user, password = sandbox.credentials()
    assert server.url.startswith("https://127.0.0.1:") and server.port > 0
    assert (server.user, server.password) == (user, password)
    assert server.ca_cert == sandbox.ca_cert_path and os.path.exists(server.ca_cert)
    assert server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.log()


def test_serve_text_output_and_ctrl_c(sandbox_path, sandbox):
    proc, first = start_server(sandbox_path, json_line=False)
    rest = first.encode()
    deadline = time.monotonic() + 20
    while b"Press Ctrl-C" not in rest and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            rest += chunk
    text = rest.decode()
    user, password = sandbox.credentials()
    assert re.search(r"url: +https://127\.0\.0\.1:\d+", text)
    assert user in text and password in text and sandbox.ca_cert_path in text
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    proc.stdout.close()


@pytest.mark.parametrize("argv, message", [
    (["--serve", "localhost:notaport"], "--serve takes [HOST:]PORT"),
    (["--serve", "70000"], "out of range"),
    (["--serve", "0", "--cluster", "https://example.com"], "cannot be combined with --cluster"),
    (["--serve", "0", "info", "cluster"], "--serve runs no commands"),
])
def test_serve_usage_errors(rladmin, argv, message):
    r = rladmin(*argv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and r.stderr.count("\n") == 1


def test_serve_port_in_use(served, rladmin):
    r = rladmin("--serve", f"127.0.0.1:{served.port}")
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: cannot listen on 127.0.0.1:{served.port}")


# -- endpoints (curl) -----------------------------------------------------------------------------
@needs_curl
def test_curl_get_endpoints(served, sandbox):
    status, cluster = curl(served, f"{served.url}/v1/cluster")
    assert status == 200
    capture = json.loads((FIXTURES / "get_v1_cluster.json").read_text()) if FIXTURES.exists() else {}
    # shaped like the real capture (the sandbox has no SSH key to show)
    assert set(capture) - {"cluster_ssh_public_key"} <= set(cluster)
    assert cluster["proxy_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert cluster["syncer_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert cluster["min_control_TLS_version"] == "1.2"

    status, certs = curl(served, f"{served.url}/v1/cluster/certificates")
    assert status == 200 and certs["api_cert"] == sandbox.get_certificates()["api_cert"] and "proxy_key" in certs

    status, nodes = curl(served, f"{served.url}/v1/nodes")
    assert status == 200 and [n["uid"] for n in nodes] == [1, 2, 3]
    status, node = curl(served, f"{served.url}/v1/nodes/2/")
    assert status == 200 and node["uid"] == 2 and node["status"] == "active"
    status, body = curl(served, f"{served.url}/v1/nodes/9")
    assert status == 404 and rs_error(body) and body["error_code"] == "node_not_found"


@needs_curl
def test_curl_authentication(served):
    status, body = curl(served, f"{served.url}/v1/cluster", auth=False)
    assert status == 401 and rs_error(body)
    status, body = curl(served, "-u", f"{served.user}:wrong", f"{served.url}/v1/cluster", auth=False)
    assert status == 401 and rs_error(body)
    status, body = curl(served, "-u", f"nobody:{served.password}", f"{served.url}/v1/cluster/certificates", auth=False)
    assert status == 401 and "api_key" not in json.dumps(body)


@needs_curl
def test_curl_request_errors(served, tmp_path):
    url = served.url
    status, body = curl(served, "-X", "PUT", "-d", '{"min_data_TLS_version": "1.3"}', f"{url}/v1/cluster")
    assert status == 400 and rs_error(body) and "Content-Type" in (body.get("description") or body.get("message"))  # curl -d sends form type
    status, body = curl(served, "-X", "PUT", "-H", "Content-Type: application/json", "-d", '{"a":', f"{url}/v1/cluster")
    assert status == 400 and body["error_code"] == "invalid_json"
    status, body = curl(served, "-X", "PUT", "-H", "Content-Type: application/json", "-d", '[1]', f"{url}/v1/cluster")
    assert status == 400 and rs_error(body)
    status, body = curl(served, "-X", "PUT", "-H", "Content-Type: application/json",
                        "-d", '{"min_data_TLS_version": "1.1"}', f"{url}/v1/cluster")
    assert status == 400 and "min_data_TLS_version" in body["message"]
    status, body = curl(served, f"{url}/v1/no_such_thing")
    assert status == 404 and body["error_code"] == "not_found"
    status, body = curl(served, "-X", "DELETE", f"{url}/v1/cluster")
    assert status == 405 and rs_error(body)
    big = tmp_path / "big.json"
    big.write_bytes(b'{"name": "' + b"a" * (1 << 20) + b'"}')
    for expect in ([], ["-H", "Expect:"]):  # with and without Expect: 100-continue
        status, body = curl(served, "-X", "PUT", "-H", "Content-Type: application/json", *expect,
                            "--data-binary", f"@{big}", f"{url}/v1/cluster")
        assert status == 413 and body["error_code"] == "request_too_large", (expect, status, body)
    # dry_run validates only
    status, body = curl(served, "-X", "PUT", "-H", "Content-Type: application/json",
                        "-d", '{"min_data_TLS_version": "1.3"}', f"{url}/v1/cluster?dry_run=true")
    assert status == 200 and body["min_data_TLS_version"] == "1.2"


def test_a_refused_upload_is_not_reset_mid_way(served):
    """A client that sends a too-large body without waiting (no ``Expect: 100-continue``) may go
    on sending after its 413 has come: the server reads and drops the rest of the upload (bounded)
    before it closes, instead of answering it with a reset, which makes curl give up with "send
    failure" without showing the 413 (a flake of test_curl_request_errors)."""
    from server_fixtures import auth_header, client_context

    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
            client_context(served.ca_cert, check_hostname=False).wrap_socket(raw) as tls:
        tls.sendall(b"PUT /v1/cluster HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Authorization: {auth_header(served)}\r\nContent-Length: {24 << 20}\r\n\r\n".encode())
        answer = b""
        while not re.search(rb"\r\n\r\n.*}", answer, re.S) and (chunk := tls.recv(65536)):  # the whole answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 ") and b'"request_too_large"' in answer, answer[:200]
        tls.settimeout(10)
        for _ in range(384):  # 24 MiB, more than loopback buffers hold: the upload goes on, no reset, no stall
            tls.sendall(b"x" * 65536)


def _docs_update_cert(served: Served, name: str, cert: Path, key: Path | None, tls: list[str]) -> tuple[int, object]:
    """The documentation's curl command, with its sed -z step that escapes the PEM newlines."""
    def pem(path: Path) -> str:  # '"$(sed -z 's/\n/\\n/g' FILE)"' inside the single-quoted -d body
        return "'\"$(sed -z 's/\\n/\\\\n/g' " + shlex.quote(str(path)) + ")\"'"

    body = ('{ "name": "' + name + '", ' + ('"key": "' + pem(key) + '", ' if key else "")
            + '"certificate": "' + pem(cert) + '" }')
    script = ("curl -sS -w '\\n%{http_code}' " + " ".join(shlex.quote(t) for t in tls)
              + ' -X PUT -u "$RS_USER:$RS_PASS" -H "Content-Type: application/json" -d \'' + body + "' "
              + served.url + "/v1/cluster/update_cert")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30,
                          env=dict(os.environ, RS_USER=served.user, RS_PASS=served.password))
    out, _, code = proc.stdout.decode().rpartition("\n")
    assert code.isdigit(), (script, proc.stderr.decode())
    return int(code), (json.loads(out) if out.strip() else None)


@needs_curl
@pytest.mark.parametrize("tls", [["-k"], ["--cacert", "CA"]], ids=["curl -k", "curl --cacert"])
def test_docs_curl_update_cert(served, sandbox, certfactory, tls):
    if shutil.which("sed") is None or shutil.which("bash") is None:
        pytest.skip("bash and sed are needed for the documentation's command")
    tls = [served.ca_cert if t == "CA" else t for t in tls]
    c = certfactory.leaf()
    status, body = _docs_update_cert(served, "proxy", c.cert, c.key, tls)
    assert status == 200, body
    held = sandbox.get_certificates()
    assert held["proxy_cert"].startswith(c.issued.cert_pem) and held["proxy_key"] == c.issued.key_pem
    assert sandbox.get_cluster()["proxy_certificate"] == held["proxy_cert"]

    # the API's refusals, each with an RS error body
    expired = certfactory.expired()
    status, body = _docs_update_cert(served, "proxy", expired.cert, expired.key, tls)
    assert status == 406 and body["error_code"] == "cert_expired"
    status, body = _docs_update_cert(served, "no_such_cert", c.cert, c.key, tls)
    assert status == 403 and rs_error(body)
    other = certfactory.leaf()
    status, body = _docs_update_cert(served, "proxy", c.cert, other.key, tls)
    assert status == 400 and body["error_code"] == "key_values_mismatch"
    assert "PRIVATE KEY" not in json.dumps(body)
    assert sandbox.get_certificates()["proxy_key"] == c.issued.key_pem  # nothing changed by the refusals


@needs_curl
def test_bulk_certificates_validate_all_first(served, sandbox, certfactory):
    good, expired = certfactory.leaf(), certfactory.expired()
    before = sandbox.get_certificates()
    items = [{"name": "proxy", "certificate": good.cert.read_text(), "key": good.key.read_text()},
             {"name": "syncer", "certificate": expired.cert.read_text(), "key": expired.key.read_text()}]
    status, _, body = served.request("PUT", "/v1/cluster/certificates", json.dumps({"certificates": items}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 406 and rs_error(body)
    assert sandbox.get_certificates() == before  # all or nothing
    status, _, body = served.request("PUT", "/v1/cluster/certificates", json.dumps({"certificates": items[:1]}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200
    assert sandbox.get_certificates()["proxy_cert"].startswith(good.issued.cert_pem)
    status, _, body = served.request("PUT", "/v1/cluster/certificates", json.dumps({"certs": []}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 400 and rs_error(body)


def test_node_down_gives_409(served, rladmin, certfactory):
    c = certfactory.leaf()
    assert rladmin("sandbox", "node", "2", "down").returncode == 0  # a shell on the same sandbox
    item = {"name": "proxy", "certificate": c.cert.read_text(), "key": c.key.read_text()}
    status, _, body = served.request("PUT", "/v1/cluster/update_cert", json.dumps(item).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 409 and body["error_code"] == "not_all_nodes_updated" and "node:2" in body["description"]
    assert rladmin("sandbox", "node", "2", "up").returncode == 0
    status, _, _ = served.request("PUT", "/v1/cluster/update_cert", json.dumps(item).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 200


@needs_curl
def test_state_is_shared_with_sandbox_shells(served, rladmin):
    status, _ = curl(served, "-X", "PUT", "-H", "Content-Type: application/json",
                     "-d", '{"min_data_TLS_version": "1.3"}', f"{served.url}/v1/cluster")
    assert status == 200
    r = rladmin("info", "cluster")
    assert "min_data_TLS_version: 1.3" in r.stdout
    assert rladmin("cluster", "config", "sentinel_tls_mode", "required").returncode == 0
    status, cluster = curl(served, f"{served.url}/v1/cluster")
    assert cluster["sentinel_tls_mode"] == "required" and cluster["min_data_TLS_version"] == "1.3"


def test_legacy_switch_hides_the_bulk_request(sandbox_path):
    server = start_server(sandbox_path, env={"RLADMIN_PY_SERVER_LEGACY": "1"})
    try:
        status, _, body = server.request("PUT", "/v1/cluster/certificates", b'{"certificates": []}',
                                         {"Content-Type": "application/json"})
        assert status == 404 and rs_error(body)
        status, _, _ = server.request("GET", "/v1/cluster/certificates")
        assert status == 200  # older clusters already had the GET
    finally:
        assert server.stop() == 0
    assert "RLADMIN_PY_SERVER_LEGACY" in server.log()


# -- faithful TLS (openssl s_client) --------------------------------------------------------------
@needs_openssl
def test_tls_minimum_follows_the_sandbox_without_restart(served, rladmin):
    ok12 = s_client(served.port, "-tls1_2", "-CAfile", served.ca_cert, "-verify_return_error")
    assert ok12.returncode == 0, ok12.stderr.decode()
    assert rladmin("cluster", "config", "min_control_TLS_version", "1.3").returncode == 0
    refused = s_client(served.port, "-tls1_2", "-CAfile", served.ca_cert)
    assert refused.returncode != 0
    assert "protocol version" in refused.stderr.decode().lower()
    ok13 = s_client(served.port, "-tls1_3", "-CAfile", served.ca_cert, "-verify_return_error")
    assert ok13.returncode == 0 and "TLSv1.3" in ok13.stdout.decode()
    assert served.shell("info", "cluster").returncode == 0  # httpx speaks 1.3
    assert rladmin("cluster", "config", "min_control_TLS_version", "1.2").returncode == 0
    assert s_client(served.port, "-tls1_2", "-CAfile", served.ca_cert).returncode == 0


@needs_openssl
def test_new_api_certificate_is_served_without_restart(served, rladmin, certfactory, tmp_path):
    before = served_leaf(served.port, served.ca_cert)
    c = local_leaf(certfactory)
    r = rladmin("cluster", "certificate", "set", "api", "certificate_file", str(c.cert), "key_file", str(c.key))
    assert r.returncode == 0, r.stderr
    after = served_leaf(served.port, served.ca_cert)
    assert pem_fingerprint(after) == pem_fingerprint(c.issued.cert_pem) != pem_fingerprint(before)
    root = certfactory.write("root-ca.pem", certfactory.root.cert_pem)
    verified = s_client(served.port, "-CAfile", str(root), "-verify_return_error")
    assert verified.returncode == 0, verified.stderr.decode()
    # the REST shell: the new CA verifies, the sandbox CA no longer does
    assert served.shell("info", "cluster", ca=str(root)).returncode == 0
    r = served.shell("info", "cluster")
    assert r.returncode == 3 and "TLS verification failed" in r.stderr


@needs_curl
def test_silent_client_blocks_no_one(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as silent:
        started = time.monotonic()
        status, _ = curl(served, f"{served.url}/v1/nodes")
        assert status == 200 and time.monotonic() - started < 5
        silent.sendall(b"\x16\x03\x01")  # half a TLS record: still nobody waits on it
        status, _ = curl(served, f"{served.url}/v1/cluster")
        assert status == 200


def test_connections_are_counted_and_kept_alive(served, tmp_path):
    lines = [f"cluster config min_data_TLS_version {'1.3' if i % 2 else '1.2'}" for i in range(200)]
    lines += ["info cluster", "cluster certificate show api"]
    script = tmp_path / "many.rladmin"
    script.write_text("\n".join(lines) + "\n")
    before = served.stats()
    r = served.shell("-f", str(script))
    assert r.returncode == 0, r.stderr
    after = served.stats()
    # one connection for the stats request itself, one for the whole script
    assert after["connections_accepted"] - before["connections_accepted"] == 2
    assert after["requests_served"] - before["requests_served"] >= 203
    status, headers, _ = served.request("GET", "/v1/nodes")
    assert int(headers["X-Connection-Count"]) == after["connections_accepted"] + 1


def test_server_imports_no_httpx():
    code = "import sys, rladmin_py.sandbox.serve, rladmin_py.cli; assert 'httpx' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0
