"""Network faults on the REST path, and a server that keeps serving while clients misbehave.

Client side (the console script running a script with ``-f`` over ``--cluster``): the server
stopped mid-script, a server that accepts and never answers (``--timeout 1``), a reset and a
closed connection, each before any TLS and after some requests were answered. Each run ends
with exactly one ``error:`` line naming the URL and the script report of the lines applied, exit
3, no traceback; the lines reported applied are exactly the ones printed.

Server side: a silent client, a garbage TLS handshake and an oversized body hold up nobody; a
connection that never finishes its handshake, or sits idle, is closed (timeouts).
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import console_script
from rladmin_py.sandbox.rest_api import MAX_BODY, RestHandler, SandboxHTTPSServer
from server_fixtures import FaultServer, LineReader, client_context, request, rs_error_body, start_server

LINE = "cluster config data_cipher_list HIGH:!x{}\n"
OK = "Cluster configured successfully\n"


def write_script(tmp_path, n: int):
    path = tmp_path / "rotate.rla"
    path.write_text("".join(LINE.format(i) for i in range(n)))  # line k sets HIGH:!x{k-1}
    return path


def rest_cmd(url: str, ca_cert: str, *argv: str, user: str = "admin@sandbox.local") -> list[str]:
    # --no-verify: these tests count the REST requests a script makes; the check on the wire after
    # each change (its own tests: test_verify.py) would add probes and a discovery request
    return [console_script(), "--cluster", url, "--user", user, "--ca-cert", ca_cert, "--no-verify", *argv]


def check_report(script, n: int, code: int, stdout: str, stderr: str, url: str, message: str) -> int:
    """Exit 3, one error line naming the URL, then the report; returns the number of lines applied."""
    assert code == 3, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    m = re.fullmatch(rf"{re.escape(str(script))}:(\d+): error: (.*)", lines[0])
    assert m, lines[0]
    failed, error = int(m.group(1)), m.group(2)
    assert url in error and re.search(message, error), error
    applied = stdout.count(OK)
    assert stdout == OK * applied  # nothing but the successes
    assert failed == applied + 1
    done = f" ({'line 1' if applied == 1 else f'lines 1-{applied}'})" if applied else ""
    rest = f"lines {failed}-{n}" if failed < n else f"line {failed}"
    assert lines[1] == (f"{script}: {applied} of {n} command{'s' if n != 1 else ''} applied{done}; "
                        f"not applied: {rest}"), lines[1]
    return applied


# -- the server stopped mid-script ------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_server_stopped_mid_script(sandbox_path, sandbox, tmp_path, sig):
    n = 5000  # far more than can run before the first lines are reported (results come every 0.5 s)
    script = write_script(tmp_path, n)
    served = start_server(sandbox_path)
    proc = subprocess.Popen(rest_cmd(served.url, served.ca_cert, "-f", str(script)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD=served.password))
    try:
        reader = LineReader(proc.stdout)
        first = reader.readline(timeout=60)
        assert first == OK  # some lines applied: now the server goes away
        if sig == signal.SIGKILL:
            served.proc.kill()
            served.proc.wait(timeout=20)
            served.proc.stdout.close()
            served.stopped_code = served.proc.returncode
        else:
            assert served.stop(sig) == 0
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout = first + (reader.buffer + out).decode()
    applied = check_report(script, n, proc.returncode, stdout, err.decode(), served.url,
                           r"^(cannot connect to \S+: connection refused|the connection to \S+ broke during PUT "
                           r"/v1/cluster; the change may or may not have been applied)")
    assert 1 <= applied < n
    # every line reported applied is in the sandbox; the failing one may or may not be (its answer was lost)
    value = sandbox.get_cluster()["data_cipher_list"]
    assert value in (f"HIGH:!x{applied - 1}", f"HIGH:!x{applied}"), (value, applied)


# -- misbehaving servers ------------------------------------------------------------------------------------
@pytest.fixture
def api_pair(sandbox, tmp_path):
    """The sandbox's api certificate and key as files (names 127.0.0.1; signed by the sandbox CA)."""
    certs = sandbox.get_certificates()
    cert, key = tmp_path / "api.pem", tmp_path / "api.key"
    cert.write_text(certs["api_cert"])
    key.write_text(certs["api_key"])
    return str(cert), str(key), sandbox.ca_cert_path


FAULTS = [
    # mode, requests answered first, TLS spoken, the error expected
    ("hang", 0, False, r"^cannot connect to \S+: timed out$"),
    ("hang", 3, True, r"^\S+ did not answer PUT /v1/cluster within 1 s \(--timeout\); the cluster may still be "
                      r"applying the change: check with 'rladmin-py --cluster \S+ --user \S+[^']* info cluster'"),
    ("reset", 0, False, r"^cannot connect to \S+: the connection was reset \(is it the RS REST API"),
    ("reset", 3, True, r"^the connection to \S+ broke during PUT /v1/cluster; the change may or may not"),
    ("close", 0, False, r"^TLS handshake with \S+ failed: the server closed the connection"),
    ("close", 3, True, r"^the connection to \S+ broke during PUT /v1/cluster"),
]


@pytest.mark.parametrize("mode, answer, tls, message", FAULTS,
                         ids=[f"{m}-after-{a}{'-tls' if t else '-tcp'}" for m, a, t, _ in FAULTS])
def test_network_fault(api_pair, tmp_path, mode, answer, tls, message):
    cert, key, ca = api_pair
    n = 10
    script = write_script(tmp_path, n)
    with FaultServer(mode, answer=answer, cert=cert, key=key, tls=tls) as fault:
        started = time.monotonic()
        proc = subprocess.run(rest_cmd(fault.url, ca, "--timeout", "1", "-f", str(script)), capture_output=True,
                              timeout=60, env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD="pw"))
        elapsed = time.monotonic() - started
        assert fault.misbehaved.is_set()
        assert fault.answered == answer
    applied = check_report(script, n, proc.returncode, proc.stdout.decode(), proc.stderr.decode(), fault.url, message)
    assert applied == answer
    assert elapsed < 30  # --timeout 1 bounds the wait (the default would be 10 s to connect, 60 s to read)


def test_fault_in_a_one_shot_command(api_pair):
    """The same fault outside a script: one line, exit 3."""
    cert, key, ca = api_pair
    with FaultServer("reset", cert=cert, key=key, tls=False) as fault:
        proc = subprocess.run(rest_cmd(fault.url, ca, "info", "cluster"), capture_output=True, timeout=60,
                              env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD="pw"))
    err = proc.stderr.decode()
    assert proc.returncode == 3 and proc.stdout == b""
    assert err.startswith(f"error: cannot connect to {fault.url}: the connection was reset") and err.count("\n") == 1


# -- the server keeps serving others --------------------------------------------------------------------------
@pytest.fixture
def served(sandbox_path):
    server = start_server(sandbox_path)
    yield server
    assert server.stop() == 0, server.log()
    assert "Traceback" not in server.log()


def timed_get(served, timeout: float = 5.0):
    """GET /v1/cluster from a new client; (status, seconds)."""
    started = time.monotonic()
    status, body = request(served, "GET", "/v1/cluster", timeout=timeout)
    return status, time.monotonic() - started, body


def test_misbehaving_clients_hold_up_nobody(served):
    rng = random.Random(7)
    held = []
    try:
        # silent clients: TCP connected, not a byte sent
        for _ in range(20):
            held.append(socket.create_connection(("127.0.0.1", served.port), timeout=10))
        status, seconds, _ = timed_get(served)
        assert status == 200 and seconds < 5

        # garbage handshakes: random bytes (not a TLS record), and a TLS record header with random content
        garbage = []
        for i in range(10):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
            first = bytes([rng.randrange(0x17, 0x100)]) if i % 2 else b"\x16\x03\x01\x00\x40"
            sock.sendall(first + rng.randbytes(rng.randrange(64, 4096)))
            garbage.append((sock, i % 2 == 1))
            held.append(sock)
        status, seconds, _ = timed_get(served)
        assert status == 200 and seconds < 5
        for sock, not_tls in garbage:
            if not_tls:  # refused at once: the server closes it, well before the 10 s handshake timeout
                assert wait_closed(sock, limit=8) < 8

        # an oversized body, without Expect: 100-continue: 413 with an RS body, or the connection closed
        outcome = oversized_put(served, MAX_BODY * 2)
        assert outcome == "closed" or (outcome[0] == 413 and rs_error_body(outcome[1])), outcome
        status, seconds, _ = timed_get(served)
        assert status == 200 and seconds < 5
    finally:
        for sock in held:
            sock.close()
    stats = served.stats()
    assert stats["connections_accepted"] >= 20 + 10 + 4
    assert served.proc.poll() is None


def oversized_put(served, size: int):
    """PUT a body over the limit on a raw TLS connection; (status, body) or "closed"."""
    ctx = client_context(served.ca_cert)
    token = base64.b64encode(f"{served.user}:{served.password}".encode()).decode()
    head = (f"PUT /v1/cluster HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", served.port), timeout=10),
                         server_hostname="localhost") as sock:
        try:
            sock.sendall(head)
            chunk = b" " * 65536
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass  # the server answered and closed while the body was still coming
        try:
            resp = http.client.HTTPResponse(sock, method="PUT")
            resp.begin()
            return resp.status, json.loads(resp.read())
        except (ConnectionError, ssl.SSLError, http.client.HTTPException, OSError):
            return "closed"


def test_oversized_body_with_expect_is_refused_before_it_is_sent(served):
    ctx = client_context(served.ca_cert)
    token = base64.b64encode(f"{served.user}:{served.password}".encode()).decode()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", served.port), timeout=10),
                         server_hostname="localhost") as sock:
        sock.sendall((f"PUT /v1/cluster HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n"
                      f"Expect: 100-continue\r\n\r\n").encode())
        resp = http.client.HTTPResponse(sock, method="PUT")
        resp.begin()
        body = json.loads(resp.read())
    assert resp.status == 413 and rs_error_body(body) and body["error_code"] == "request_too_large"
    status, seconds, _ = timed_get(served)
    assert status == 200 and seconds < 5


# -- every connection has a timeout (in-process server with short timeouts) ----------------------------------------
@pytest.fixture
def quick_server(sandbox_path, monkeypatch):
    """The server in this process, with a 0.5 s handshake timeout and a 0.5 s idle timeout."""
    monkeypatch.setattr(RestHandler, "timeout", 0.5)
    logged = []
    server = SandboxHTTPSServer(("127.0.0.1", 0), str(sandbox_path), debug=True, log=logged.append,
                                handshake_timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, logged
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def wait_closed(sock, limit: float = 10.0) -> float:
    """Seconds until the peer closes ``sock`` (reads and discards what comes); fails after ``limit``."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            assert time.monotonic() - started < limit
    except (ConnectionResetError, ssl.SSLError):
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {limit} s")
    return time.monotonic() - started


def test_silent_and_idle_connections_are_closed(quick_server, sandbox):
    server, logged = quick_server
    port = server.server_address[1]
    silent = socket.create_connection(("127.0.0.1", port))
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"\x16\x03\x01")  # half a TLS record header: waits for the rest, not forever
    ctx = client_context(sandbox.ca_cert_path)
    idle = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    with silent, half, idle:
        assert wait_closed(silent) < 10
        assert wait_closed(half) < 10
        assert wait_closed(idle) < 10  # handshake done, no request: the idle timeout
    assert any("timed out" in line for line in logged), logged
    assert not any("Traceback" in line for line in logged)
