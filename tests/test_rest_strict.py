"""'Done' means observed: the REST backend against a hostile live cluster of the suite's own.

A small HTTPS server on 127.0.0.1 (an ephemeral port, a self-signed certificate made here with
``cryptography`` and passed with ``--ca-cert``), in a thread, answers ``GET /v1/cluster``,
``GET /v1/cluster/certificates`` and ``GET /v1/nodes`` with plausible JSON (the shapes of
fixtures/get_v1_cluster.json) and the PUTs in a configurable hostile way: redirects, 202/204,
empty, HTML and wrongly shaped bodies, a 3 GB Content-Length, a one-byte-a-second drip, a 200
that changed nothing, a connection closed after the body was sent. The console script runs
against it like an operator would (``--cluster URL --user u --ca-cert CA -y``, the password in
REDIS_ENTERPRISE_PASSWORD); each failure must give the documented one-line error and exit code,
nothing on stdout claiming success, no traceback, within a hang guard (not a speed test).
"""
from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import console_script

HANG_GUARD = 15.0  # seconds: a generous bound against hangs, not a speed target
SET_OK = "Set proxy certificate"
CONFIG_OK = "Cluster configured successfully"
CHECK_CERT = r"check with 'rladmin-py --cluster \S+ --user \S+[^']* cluster certificate show proxy'"
CHECK_CLUSTER = r"check with 'rladmin-py --cluster \S+ --user \S+[^']* info cluster'"
MAYBE = "the change may or may not have been applied"

#: The shape of a real GET /v1/cluster (fixtures/get_v1_cluster.json of the reference captures, trimmed
#: to its TLS surface and a few neighbours; ``name`` and the certificates are set per server).
CLUSTER = {
    "cm_port": 8443, "cm_session_timeout_minutes": 15, "cnm_http_port": 8080, "cnm_https_port": 9443,
    "control_cipher_suites": "DEFAULT:!3DES",
    "control_cipher_suites_tls_1_3": "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
    "created_time": "2025-10-14T00:01:06Z",
    "data_cipher_list": "DEFAULT:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!RC4:!MD5:!PSK:!aECDH",
    "data_cipher_suites_tls_1_3": [], "email_alerts": False, "encrypt_pkeys": False, "http_support": True,
    "min_control_TLS_version": "1.2", "min_data_TLS_version": "1.2", "min_sentinel_TLS_version": "1.2",
    "rack_aware": False, "sentinel_cipher_suites": [],
    "sentinel_cipher_suites_tls_1_3": "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
    "sentinel_tls_mode": "allowed",
}
NODES = [{"uid": i, "addr": f"10.0.0.{i}", "status": "active", "accept_servers": True} for i in (1, 2, 3)]


def fingerprint(pem: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()


def server_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own trust anchor): (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "hostile-ca.pem", directory / "hostile.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 302: "Found", 307: "Temporary Redirect", 403: "Forbidden",
           404: "Not Found", 504: "Gateway Timeout"}
LOGIN_PAGE = b"<html><body><form action='/login'>Sign in</form></body></html>"


class HostileCluster:
    """A live cluster that answers the GETs plausibly and the PUTs as ``put_mode`` says.

    put_mode: apply (a well-behaved cluster), noop (200, nothing changed), absent (200, the whole
    cluster object without the field sent), other (200, the certificate now held is neither the
    old one nor the one sent), redirect302, redirect307, accepted202, nocontent204, empty, html,
    list, huge (Content-Length 3000000000), flood (no Content-Length, 20 MiB), drip_head (the
    status line one byte a second), drip_body (the headers, then the body one byte a second),
    close (the body read, then the connection closed unanswered), hang (the body read, never an
    answer), gateway504, ansi403 (an error description with terminal escapes), legacy_noop (the
    bulk request unknown, update_cert answers 200 and changes nothing).
    get_mode: ok, redirect302 (GET /v1/cluster redirected), certs403_after_put (the certificates
    map is not readable once a PUT was made).
    """

    def __init__(self, directory: Path, fqdn: str, old_cert_pem: str, put_mode: str = "apply",
                 get_mode: str = "ok"):
        self.put_mode, self.get_mode = put_mode, get_mode
        self.cluster = dict(CLUSTER, name=fqdn, proxy_certificate=old_cert_pem, syncer_certificate=old_cert_pem)
        self.certs = {"proxy_cert": old_cert_pem, "api_cert": old_cert_pem, "syncer_cert": old_cert_pem}
        self.nodes = [dict(n) for n in NODES]
        self.other_cert_pem: str | None = None  # what put_mode "other" installs
        self.requests: list[str] = []
        self.connections = 0
        self.bytes_sent_after_headers = 0
        self.body_received = threading.Event()
        self.put_seen = False
        self.lock = threading.Lock()
        self.ca, key = server_certificate(directory)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.ca, key)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepter.start()

    # -- plumbing ----------------------------------------------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._open.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket):
        sock = raw
        try:
            raw.settimeout(20)
            sock = self.ctx.wrap_socket(raw, server_side=True)
            with self.lock:
                self._open.append(sock)
            reader = sock.makefile("rb")
            for _ in range(100):  # requests per connection: bounded
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline(65537)
                    if not line or len(head) > 65536:
                        return
                    head += line
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, target = request_line.split(" ")[:2]
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                body = reader.read(int(m.group(1))) if m else b""
                path = target.split("?")[0]
                with self.lock:
                    self.requests.append(f"{method} {path}")
                if not self._answer(sock, method, path, body):
                    return  # this answer ends the connection
        except (OSError, ValueError):
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _send(self, sock, status: int, body: bytes = b"", content_type: str = "application/json",
              headers: dict | None = None) -> bool:
        head = f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}\r\n"
        if status != 204:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        sock.sendall(head.encode("latin-1") + b"\r\n" + (body if status != 204 else b""))
        return True

    def _json(self, sock, value, status: int = 200) -> bool:
        return self._send(sock, status, json.dumps(value).encode())

    # -- the cluster ----------------------------------------------------------------------------------------
    def _answer(self, sock, method: str, path: str, body: bytes) -> bool:
        if method == "GET":
            return self._get(sock, path)
        if method == "PUT":
            self.put_seen = True
            self.body_received.set()
            return self._put(sock, path, body)
        return self._json(sock, {"error_code": "not_found", "description": "no such request"}, 404)

    def _get(self, sock, path: str) -> bool:
        if path == "/v1/cluster":
            if self.get_mode == "redirect302":
                return self._send(sock, 302, LOGIN_PAGE, "text/html",
                                  {"Location": "http://sso.example/login?SAMLRequest=secret-state"})
            return self._json(sock, self.cluster)
        if path == "/v1/cluster/certificates":
            if self.get_mode == "certs403_after_put" and self.put_seen:
                return self._json(sock, {"error_code": "insufficient_permissions",
                                         "description": "not allowed to read certificates"}, 403)
            return self._json(sock, self.certs)
        if path == "/v1/nodes":
            return self._json(sock, self.nodes)
        return self._json(sock, {"error_code": "not_found", "description": "no such request"}, 404)

    def _apply(self, path: str, body: bytes) -> None:
        change = json.loads(body)
        if path == "/v1/cluster":
            self.cluster.update(change)
            return
        items = change["certificates"] if path == "/v1/cluster/certificates" else [change]
        for item in items:
            self.certs[f"{item['name']}_cert"] = item["certificate"]
            if item["name"] in ("proxy", "syncer"):
                self.cluster[f"{item['name']}_certificate"] = item["certificate"]

    def _put(self, sock, path: str, body: bytes) -> bool:
        mode = self.put_mode
        config = path == "/v1/cluster"
        if mode == "apply":
            self._apply(path, body)
            return self._json(sock, self.cluster if config else {})
        if mode == "noop":
            return self._json(sock, self.cluster if config else {})
        if mode == "absent":
            sent = json.loads(body)
            return self._json(sock, {k: v for k, v in self.cluster.items() if k not in sent} if config else {})
        if mode == "other":
            self.certs["proxy_cert"] = self.other_cert_pem
            return self._json(sock, {})
        if mode == "legacy_noop":
            if path == "/v1/cluster/certificates":
                return self._send(sock, 404, b"<html>not found</html>", "text/html")
            return self._json(sock, {})
        if mode == "redirect302":
            return self._send(sock, 302, LOGIN_PAGE, "text/html",
                              {"Location": "http://sso.example/login?SAMLRequest=secret-state"})
        if mode == "redirect307":
            return self._send(sock, 307, b"", headers={"Location": f"https://elsewhere.example:9443{path}"})
        if mode == "accepted202":
            self._apply(path, body)  # it may even have been applied: the tool cannot tell
            return self._json(sock, {"status": "queued"}, 202)
        if mode == "nocontent204":
            return self._send(sock, 204)
        if mode == "empty":
            return self._send(sock, 200, b"")
        if mode == "html":
            return self._send(sock, 200, LOGIN_PAGE, "text/html; charset=utf-8")
        if mode == "list":
            return self._json(sock, [])
        if mode == "gateway504":
            return self._send(sock, 504, b"<html>upstream timed out</html>", "text/html")
        if mode == "ansi403":
            return self._json(sock, {"error_code": "forbidden", "description": "no \x1b[31mway\x1b[0m\x07 in"}, 403)
        if mode == "huge":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3000000000\r\n\r\n")
            self._pour(sock, 64 * 1024 * 1024)
            return False
        if mode == "flood":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            self._pour(sock, 20 * 1024 * 1024)
            return False
        if mode == "drip_head":
            self._drip(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            return False
        if mode == "drip_body":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n")
            self._drip(sock, b" " * 64)
            return False
        if mode == "close":
            return False  # the body was read; the connection closes unanswered
        if mode == "hang":
            self._stop.wait(30)
            return False
        raise AssertionError(f"unknown put_mode {mode}")

    def _pour(self, sock, limit: int) -> None:
        chunk = b" " * 65536
        sock.settimeout(10)
        deadline = time.monotonic() + 20
        while self.bytes_sent_after_headers < limit and not self._stop.is_set() and time.monotonic() < deadline:
            try:
                sock.sendall(chunk)
            except OSError:
                return
            self.bytes_sent_after_headers += len(chunk)

    def _drip(self, sock, data: bytes) -> None:
        for i in range(len(data)):  # one byte a second, at most len(data) seconds
            try:
                sock.sendall(data[i:i + 1])
            except OSError:
                return
            if self._stop.wait(1.0):
                return

    def stop(self):
        self._stop.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            opened = list(self._open)
        for sock in opened:
            try:
                sock.close()
            except OSError:
                pass
        self._accepter.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)
        assert not self._accepter.is_alive() and not any(t.is_alive() for t in self._threads)


@pytest.fixture
def hostile(tmp_path, certfactory):
    """make(put_mode=..., get_mode=...) -> a started HostileCluster; every one is stopped afterwards."""
    servers = []
    old = certfactory.leaf()

    def make(put_mode: str = "apply", get_mode: str = "ok") -> HostileCluster:
        directory = tmp_path / f"hostile{len(servers)}"
        directory.mkdir()
        server = HostileCluster(directory, certfactory.fqdn, old.issued.cert_pem, put_mode, get_mode)
        server.old = old
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


class Outcome:
    def __init__(self, proc, elapsed: float):
        self.code = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.elapsed = elapsed

    @property
    def error(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, self.stderr
        return lines[0][len("error: "):]


@functools.lru_cache(maxsize=None)
def _no_verify() -> tuple[str, ...]:
    """``--no-verify`` where the shell has it: these tests are about the REST answers, not about the
    check on the wire after a change (its probes would go to the endpoints the fixture names)."""
    proc = subprocess.run([console_script(), "--help"], capture_output=True, timeout=60)
    return ("--no-verify",) if b"--no-verify" in proc.stdout else ()


def run(server: HostileCluster, *argv: str, timeout: str | None = "10") -> Outcome:
    cmd = [console_script(), "--cluster", server.url, "--user", "u", "--ca-cert", server.ca, "-y", *_no_verify()]
    if timeout:
        cmd += ["--timeout", timeout]
    started = time.monotonic()
    proc = subprocess.run(cmd + list(argv), capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                          env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD="pw-not-shown"))
    return Outcome(proc, time.monotonic() - started)


def set_proxy(server: HostileCluster, certfactory, *extra: str, timeout: str | None = "10"):
    new = certfactory.leaf()
    out = run(server, *extra, "cluster", "certificate", "set", "proxy", "certificate_file", str(new.cert),
              "key_file", str(new.key), timeout=timeout)
    return out, new


def config(server: HostileCluster, *extra: str, timeout: str | None = "10"):
    return run(server, *extra, "cluster", "config", "min_data_TLS_version", "1.3", timeout=timeout)


def assert_failed(out: Outcome, code: int, pattern: str, *, secrets=()):
    """The documented failure: exit code, one error line matching ``pattern``, no claim of success."""
    assert out.code == code, (out.code, out.stdout, out.stderr)
    assert re.search(pattern, out.error), out.error
    assert SET_OK not in out.stdout and CONFIG_OK not in out.stdout, out.stdout
    assert '"status": "ok"' not in out.stdout
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
    assert "PRIVATE KEY" not in out.stdout + out.stderr and "pw-not-shown" not in out.stdout + out.stderr
    assert not any(c in out.stderr for c in "\x1b\x07\x00"), repr(out.stderr)
    for secret in secrets:
        assert secret not in out.stderr
    assert out.elapsed < HANG_GUARD, out.elapsed


# -- a well-behaved live cluster: the strictness costs one GET, on the same connection ----------------------
def test_a_good_cluster_takes_the_certificate(hostile, certfactory):
    server = hostile("apply")
    out, new = set_proxy(server, certfactory)
    assert out.code == 0, out.stderr
    assert f"Set proxy certificate to contents of file {new.cert}" in out.stdout
    assert server.certs["proxy_cert"] == new.cert.read_text()
    assert server.requests == ["GET /v1/cluster", "GET /v1/cluster/certificates", "PUT /v1/cluster/certificates",
                               "GET /v1/cluster/certificates", "GET /v1/nodes"]
    assert server.connections == 1  # keep-alive: the read-back rides the same connection
    assert out.elapsed < HANG_GUARD


def test_a_good_cluster_takes_the_setting(hostile):
    server = hostile("apply")
    out = config(server, "--json")
    assert out.code == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "ok", "changed": {"min_data_TLS_version": "1.3"}}
    assert server.requests == ["PUT /v1/cluster"]  # the answer is the cluster object: no GET needed
    assert server.cluster["min_data_TLS_version"] == "1.3"


def test_certificates_map_unreadable_after_the_put_uses_the_cluster_object(hostile, certfactory):
    server = hostile("apply", get_mode="certs403_after_put")
    out, new = set_proxy(server, certfactory)
    assert out.code == 0, out.stderr
    assert server.requests[-3:] == ["GET /v1/cluster/certificates", "GET /v1/cluster", "GET /v1/nodes"]


# -- redirects: never followed, never success ---------------------------------------------------------------------
def test_redirect_302_on_certificate_put(hostile, certfactory):
    server = hostile("redirect302")
    out, _ = set_proxy(server, certfactory)
    assert_failed(out, 1, r"^the cluster answered 302 \(redirect to http://sso\.example/login\?\.\.\.\); nothing is "
                          r"known to have been applied", secrets=("secret-state",))
    assert "sso.example" not in " ".join(server.requests)
    assert server.requests.count("PUT /v1/cluster/certificates") == 1  # not followed, not retried


def test_redirect_307_on_config_put(hostile):
    server = hostile("redirect307")
    out = config(server)
    assert_failed(out, 1, r"^the cluster answered 307 \(redirect to https://elsewhere\.example:9443/v1/cluster\); "
                          r"nothing is known to have been applied")
    assert server.requests == ["PUT /v1/cluster"]


def test_redirect_on_a_get_reads_nothing(hostile):
    server = hostile("apply", get_mode="redirect302")
    out = run(server, "info", "cluster")
    assert_failed(out, 1, r"^the cluster answered 302 to GET /v1/cluster \(redirect to http://sso\.example/login"
                          r"\?\.\.\.\); the request was redirected and nothing was read", secrets=("secret-state",))
    assert "Cluster configuration" not in out.stdout


# -- other answers that are not RS's 200 ------------------------------------------------------------------------
CERT_CASES = [
    ("accepted202", rf"^the cluster answered 202 to PUT /v1/cluster/certificates, not 200; {MAYBE}: {CHECK_CERT}$"),
    ("nocontent204", rf"^the cluster answered 204 to PUT /v1/cluster/certificates, not 200; {MAYBE}: {CHECK_CERT}$"),
    ("empty", r"^the cluster answered 200 but still holds the old proxy certificate \(SHA-256 {old}\); the change "
              rf"may not have been applied: {CHECK_CERT}$"),
    ("html", rf"^the cluster answered 200 to PUT /v1/cluster/certificates with something that is not JSON "
             rf"\(text/html\); {MAYBE}: {CHECK_CERT}$"),
    ("list", rf"^the cluster answered 200 to PUT /v1/cluster/certificates with a JSON list, not an object; "
             rf"{MAYBE}: {CHECK_CERT}$"),
    ("huge", r"^the cluster answered 200 to PUT /v1/cluster/certificates with a body of 3000000000 bytes "
             rf"\(Content-Length\), over the 16 MiB limit; not read; {MAYBE}: {CHECK_CERT}$"),
    ("noop", r"^the cluster answered 200 but still holds the old proxy certificate \(SHA-256 {old}\); the change "
             rf"may not have been applied: {CHECK_CERT}$"),
    ("legacy_noop", r"^the cluster answered 200 but still holds the old proxy certificate \(SHA-256 {old}\)"),
    ("gateway504", rf"^the cluster failed \(504 Gateway Timeout\); {MAYBE}: {CHECK_CERT} \[server_error\]$"),
]


@pytest.mark.parametrize("mode, pattern", CERT_CASES, ids=[c[0] for c in CERT_CASES])
def test_certificate_set_is_not_done_unless_observed(hostile, certfactory, mode, pattern):
    server = hostile(mode)
    out, _ = set_proxy(server, certfactory)
    assert_failed(out, 1, pattern.replace("{old}", fingerprint(server.old.issued.cert_pem)))
    if mode == "huge":  # refused on the Content-Length: the client read (almost) nothing of it
        assert server.bytes_sent_after_headers < 32 * 1024 * 1024
    if mode == "legacy_noop":
        assert "PUT /v1/cluster/update_cert" in server.requests


CONFIG_CASES = [
    ("accepted202", rf"^the cluster answered 202 to PUT /v1/cluster, not 200; {MAYBE}: {CHECK_CLUSTER}$"),
    ("nocontent204", rf"^the cluster answered 204 to PUT /v1/cluster, not 200; {MAYBE}: {CHECK_CLUSTER}$"),
    ("empty", rf"^the cluster answered 200 to PUT /v1/cluster with an empty body, not the cluster object; {MAYBE}: "
              rf"{CHECK_CLUSTER}$"),
    ("html", rf"^the cluster answered 200 to PUT /v1/cluster with something that is not JSON \(text/html\); "
             rf"{MAYBE}: {CHECK_CLUSTER}$"),
    ("list", rf"^the cluster answered 200 to PUT /v1/cluster with a JSON list, not the cluster object; {MAYBE}: "
             rf"{CHECK_CLUSTER}$"),
    ("huge", r"^the cluster answered 200 to PUT /v1/cluster with a body of 3000000000 bytes \(Content-Length\), "
             rf"over the 16 MiB limit; not read; {MAYBE}: {CHECK_CLUSTER}$"),
    ("flood", r"^the cluster answered 200 to PUT /v1/cluster with a body over the 16 MiB limit; cut off there; "
              rf"{MAYBE}: {CHECK_CLUSTER}$"),
    ("noop", r'^the cluster answered 200 but did not take min_data_TLS_version: sent "1\.3", the cluster shows '
             rf'"1\.2"; the change may not have been applied: {CHECK_CLUSTER}$'),
    ("absent", r'^the cluster answered 200 but does not show min_data_TLS_version \(sent "1\.3"; this RS version '
               rf"may not know it\): the change may not have been applied: {CHECK_CLUSTER}$"),
    ("ansi403", r"^no \\x1b\[31mway\\x1b\[0m\\x07 in \[forbidden\]$"),
]


@pytest.mark.parametrize("mode, pattern", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_cluster_config_is_not_done_unless_observed(hostile, mode, pattern):
    server = hostile(mode)
    out = config(server)
    assert_failed(out, 1, pattern)
    if mode == "huge":
        assert server.bytes_sent_after_headers < 32 * 1024 * 1024
    assert server.requests == ["PUT /v1/cluster"]  # nothing retried, nothing followed


def test_another_certificate_than_the_one_sent(hostile, certfactory):
    server = hostile("other")
    server.other_cert_pem = certfactory.leaf().issued.cert_pem
    out, new = set_proxy(server, certfactory)
    assert_failed(out, 1, rf"^the cluster answered 200 but holds another proxy certificate \(SHA-256 "
                          rf"{fingerprint(server.other_cert_pem)}\), not the one sent \(SHA-256 "
                          rf"{fingerprint(new.issued.cert_pem)}\); the change may not have been applied")


def test_json_output_of_a_failure_claims_nothing(hostile, certfactory):
    server = hostile("noop")
    out, _ = set_proxy(server, certfactory, "--json")
    assert_failed(out, 1, r"still holds the old proxy certificate")
    assert out.stdout.strip() == "" or '"status": "ok"' not in out.stdout
    out = config(server, "--json")
    assert_failed(out, 1, r"did not take min_data_TLS_version")
    assert '"nodes": []' not in out.stdout


# -- time: --timeout bounds the whole request, even one byte a second ---------------------------------------------
@pytest.mark.parametrize("mode", ["drip_head", "drip_body"])
def test_a_drip_is_cut_off_by_timeout(hostile, certfactory, mode):
    server = hostile(mode)
    out, _ = set_proxy(server, certfactory, timeout="2")
    if mode == "drip_head":
        pattern = (r"^\S+ did not answer PUT /v1/cluster/certificates within 2 s \(--timeout\); the cluster may "
                   r"still be applying the change")
    else:
        pattern = (rf"^\S+ answered 200 to PUT /v1/cluster/certificates but did not finish its answer within 2 s "
                   rf"\(--timeout\); {MAYBE}: {CHECK_CERT}$")
    assert_failed(out, 3, pattern)
    assert out.elapsed < 10  # 2 s for the PUT (the GETs before it are answered at once)
    out = config(server, timeout="2")
    assert_failed(out, 3, r"PUT /v1/cluster\b.* within 2 s \(--timeout\)")
    assert out.elapsed < 10


def test_connection_closed_after_the_body_was_sent(hostile, certfactory):
    server = hostile("close")
    out = config(server)
    assert_failed(out, 3, rf"^the connection to \S+ broke during PUT /v1/cluster; {MAYBE}")
    out, _ = set_proxy(server, certfactory)
    assert_failed(out, 3, rf"^the connection to \S+ broke during PUT /v1/cluster/certificates; {MAYBE}")


# -- in process: what a caller learns of a change whose outcome is unknown --------------------------------------------
def backend_for(server: HostileCluster, timeout: float = 10):
    from rladmin_py.backends.rest import RestBackend

    return RestBackend(server.url, "u", "pw", ca_cert=server.ca, timeout=timeout, note=lambda m: None)


def test_maybe_applied_is_set_only_once_the_request_went_out(hostile):
    from rladmin_py.backends import BackendError
    from rladmin_py.backends.rest import RestBackend

    server = hostile("close")
    backend = backend_for(server)
    try:
        with pytest.raises(BackendError) as info:
            backend.update_cluster({"min_data_TLS_version": "1.3"})
        assert info.value.exit_code == 3 and getattr(info.value, "maybe_applied", False)
    finally:
        backend.close()
    with socket.socket() as probe:  # a port nobody listens on: refused before anything was sent
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = RestBackend(f"https://127.0.0.1:{port}", "u", "pw", ca_cert=server.ca, timeout=2, note=lambda m: None)
    try:
        with pytest.raises(BackendError) as info:
            refused.update_cluster({"min_data_TLS_version": "1.3"})
        assert "connection refused" in info.value.message and not getattr(info.value, "maybe_applied", False)
    finally:
        refused.close()


def test_unconfirmed_change_is_marked(hostile):
    from rladmin_py.backends import UnconfirmedChange

    server = hostile("noop")
    backend = backend_for(server)
    try:
        with pytest.raises(UnconfirmedChange) as info:
            backend.update_cluster({"min_data_TLS_version": "1.3"})
        assert info.value.exit_code == 1 and info.value.maybe_applied
        assert info.value.error_code == "not_applied"
    finally:
        backend.close()


class _Interrupter:
    """SIGINT to this process when ``event`` is set (or after ``delay``), only while armed."""

    def __init__(self, event: threading.Event | None = None, delay: float = 0.0):
        self.armed = True
        self.fired = False
        self.event, self.delay = event, delay
        self.previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handler)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _handler(self, signum, frame):
        if self.armed:
            raise KeyboardInterrupt

    def _run(self):
        if self.event is not None and not self.event.wait(10):
            return
        time.sleep(self.delay + 0.2)  # the client is blocked waiting for the answer by now
        if self.armed:
            self.fired = True
            os.kill(os.getpid(), signal.SIGINT)

    def disarm(self):
        self.armed = False
        self.thread.join(timeout=15)
        signal.signal(signal.SIGINT, self.previous)


def test_ctrl_c_after_the_put_was_sent(hostile):
    from rladmin_py.backends import ChangeInterrupted

    server = hostile("hang")
    backend = backend_for(server)
    interrupter = _Interrupter(server.body_received)
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            backend.update_cluster({"min_data_TLS_version": "1.3"})
    finally:
        interrupter.disarm()
        backend.close()
    assert interrupter.fired
    assert isinstance(info.value, ChangeInterrupted) and info.value.maybe_applied
    assert info.value.message == ("interrupted after PUT /v1/cluster was sent: the change may or may not have been "
                                  f"applied; check with '{backend.command('info cluster')}'")


def test_ctrl_c_before_anything_was_sent_is_a_plain_interrupt(tmp_path):
    from rladmin_py.backends import ChangeInterrupted
    from rladmin_py.backends.rest import RestBackend

    with socket.socket() as listener:  # accepts TCP (the kernel does), never speaks TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        ca, _ = server_certificate(tmp_path)
        backend = RestBackend(f"https://127.0.0.1:{listener.getsockname()[1]}", "u", "pw", ca_cert=ca, timeout=10,
                              note=lambda m: None)
        interrupter = _Interrupter(delay=0.3)
        try:
            with pytest.raises(KeyboardInterrupt) as info:
                backend.update_cluster({"min_data_TLS_version": "1.3"})
        finally:
            interrupter.disarm()
            backend.close()
    assert interrupter.fired and not isinstance(info.value, ChangeInterrupted)


def test_fingerprint_matches_certificate_show(certfactory):
    """The backend's SHA-256 is the one `cluster certificate show` prints (of the DER, in hex), of the
    chain's first certificate."""
    from rladmin_py.backends.rest import _fingerprint

    leaf = certfactory.leaf()
    chain = leaf.cert.read_text()
    assert _fingerprint(chain) == fingerprint(leaf.issued.cert_pem)
    assert _fingerprint(chain.replace("\n", "\r\n")) == fingerprint(leaf.issued.cert_pem)
    assert _fingerprint("nonsense") is None and _fingerprint(None) is None
    assert _fingerprint("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n") is None


@pytest.mark.parametrize("as_script", [False, True], ids=["one-shot", "script"])
def test_ctrl_c_of_the_console_script_after_the_put_went_out(hostile, tmp_path, as_script):
    """Through the console script: SIGINT while the cluster holds an answered-to-be PUT says the
    change may or may not have been applied (exit 130); a script lists that line as such."""
    server = hostile("hang")
    script = tmp_path / "raise.rla"
    script.write_text("cluster config min_data_TLS_version 1.3\ncluster config min_control_TLS_version 1.3\n")
    argv = ["-f", str(script)] if as_script else ["cluster", "config", "min_data_TLS_version", "1.3"]
    cmd = [console_script(), "--cluster", server.url, "--user", "u", "--ca-cert", server.ca, "-y", *_no_verify(),
           "--timeout", "30", *argv]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD="pw-not-shown"))
    try:
        assert server.body_received.wait(20), "the PUT never reached the cluster"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "error: interrupted after PUT /v1/cluster was sent: the change may or may not have been applied" in err
    assert "Traceback" not in err and "pw-not-shown" not in err
    if as_script:
        assert f"{script}: 0 of 2 commands applied; may or may not have been applied: line 1; not applied: line 2" \
            in err, err
