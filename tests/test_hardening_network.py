"""Hardening (issue 14), item 3: slowloris against ``rladmin-py --serve``.

Reproduced on loopback against the served sandbox: a swarm of 1,018 connections that send one
byte of a TLS record and stall (the issue's count: with the usual ``ulimit -n`` of 1024 the
server used to run out of descriptors, spin at 100% CPU and answer nobody), a client dripping
header lines, a client dripping its ClientHello, and more connections than an endpoint may hold.
Every swarm is bounded in count and time and closed in a ``finally``; every server is stopped;
waits are polls or reads with deadlines (which also pace the drips), never sleeps.
"""
from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from server_fixtures import auth_header, client_context
from test_server import Served, start_server

resource = pytest.importorskip("resource")

SWARM = 1018
DEADLINE = 10.0  # the server's handshake and request deadlines (httpserver.HANDSHAKE_TIMEOUT, REQUEST_TIMEOUT)
SLACK = 4.0  # what a loaded CI machine may add to a deadline
GOOD_WITHIN = 3.0  # seconds a real client may take to be answered while the swarm is connected


def start(sandbox_path: Path, nofile: tuple[int, int]) -> Served:
    """``--serve 127.0.0.1:0 --json --debug`` with the file limit ``nofile`` (soft, hard) as a shell
    would give it (the server may raise its soft limit up to the hard one)."""

    def limits():
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    return start_server(sandbox_path, preexec_fn=limits)


def port_of(served: Served, name: str) -> int | None:
    endpoint = served.endpoints.get(name)
    return int(endpoint.rsplit(":", 1)[1]) if endpoint else None


def good_request(served: Served, timeout: float) -> int:
    """A well-behaved client: a new verified TLS connection, GET /v1/cluster; the status."""
    ctx = client_context(served.ca_cert)
    conn = http.client.HTTPSConnection("127.0.0.1", served.port, timeout=timeout, context=ctx)
    try:
        conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", served.port), timeout=timeout),
                                    server_hostname="localhost")
        conn.request("GET", "/v1/cluster", headers={"Authorization": auth_header(served)})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accepted(port: int) -> int:
    """Connections to loopback ``port`` the server has accepted: established, with a socket inode
    (those still in the listen queue have none). /proc/net/tcp is readable by anyone."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "01" and fields[9] != "0":
            count += 1
    return count


def wait_accepted(served: Served, baseline: int) -> None:
    """Until the server has accepted the swarm, or as much of it as its file limit lets it (so that
    the real client comes after all of it): a bounded poll."""
    soft = int(Path(f"/proc/{served.proc.pid}/limits").read_text().split("Max open files")[1].split()[0])
    target = min(SWARM, soft - baseline)
    deadline = time.monotonic() + 30
    while accepted(served.port) < target and time.monotonic() < deadline:
        time.sleep(0.02)


def closed(sock: socket.socket) -> bool:
    """True if the peer has closed (EOF or reset); never blocks."""
    try:
        sock.setblocking(False)
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def wait_closed(socks: list[socket.socket], count: int, timeout: float) -> list[socket.socket]:
    """Wait (poll, bounded) until ``count`` of ``socks`` are closed by the peer; returns those."""
    poller = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    done: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    while len(done) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(left * 1000):
            sock = by_fd[fd]
            if closed(sock):
                done.append(sock)
                poller.unregister(fd)
    return done


@pytest.fixture
def many_files():
    """Enough descriptors in this process for the swarm (raised up to the hard limit, restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = SWARM + 512
    if hard != resource.RLIM_INFINITY and hard < max(need, 4096):
        pytest.skip(f"ulimit -Hn is {hard}: the swarm needs {need} descriptors here and the server room for "
                    "its connection cap")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Swarm:
    """Slow TLS clients: each connects, sends the first byte of a ClientHello, then one more byte
    every DRIP seconds (as the issue's attacker did: a per-read timeout never fires)."""

    DRIP = 2.0

    def __init__(self, port: int, hello: bytes):
        self.port, self.hello = port, hello
        self.socks: list[socket.socket] = []
        self.sent: dict[socket.socket, tuple[int, float]] = {}  # bytes sent, when last
        self.gone: set[socket.socket] = set()  # closed by the server

    def open(self, count: int, timeout: float = 30) -> None:
        """``count`` connections at once (non-blocking connects, all in flight together: a full
        listen queue delays them together, not one after the other), each sending its first byte."""
        pending = {}
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.socks.append(sock)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", self.port))
            pending[sock.fileno()] = sock
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLOUT)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                sock = pending.pop(fd)
                poller.unregister(fd)
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                sock.setblocking(True)
                sock.sendall(self.hello[:1])
                self.sent[sock] = (1, time.monotonic())
        assert not pending, f"{len(pending)} connections of the swarm did not connect within {timeout} s"

    def drip(self) -> None:
        now = time.monotonic()
        for sock in self.socks:
            count, last = self.sent[sock]
            if sock not in self.gone and now - last >= self.DRIP and count < len(self.hello):
                try:
                    sock.sendall(self.hello[count:count + 1])
                except OSError:
                    self.gone.add(sock)
                    continue
                self.sent[sock] = (count + 1, now)

    def wait(self, timeout: float) -> int:
        """Drip until every connection is closed by the server or ``timeout`` s pass (the poll for
        closures paces the drip); how many are still open."""
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.socks if s not in self.gone}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while len(self.gone) < len(self.socks) and time.monotonic() < deadline:
            for fd, _ in poller.poll(min(self.DRIP / 4, max(0.0, deadline - time.monotonic())) * 1000):
                if closed(by_fd[fd]):
                    self.gone.add(by_fd[fd])
                    poller.unregister(fd)
            self.drip()
        return len(self.socks) - len(self.gone)

    def dropped(self) -> int:
        """How many the server has closed, now (does not wait)."""
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.socks if s not in self.gone}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(0):
            if closed(by_fd[fd]):
                self.gone.add(by_fd[fd])
        return len(self.gone)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc (CPU time, accepted connections)")
def test_a_slowloris_swarm_neither_starves_real_clients_nor_spins(sandbox_path, many_files):
    served = start(sandbox_path, (1024, many_files))  # the usual soft limit of a login shell
    swarm = Swarm(served.port, _client_hello())
    try:
        try:
            baseline = len(os.listdir(f"/proc/{served.proc.pid}/fd"))  # (not dumpable, as root only)
        except PermissionError:
            baseline = 0
        started = time.monotonic()
        swarm.open(SWARM)
        wait_accepted(served, baseline)  # the real client comes after the whole swarm
        swarm.drip()
        for _ in range(3):  # a real client is answered at once, while every slow one still holds on
            asked = time.monotonic()
            assert good_request(served, timeout=GOOD_WITHIN) == 200
            assert time.monotonic() - asked < GOOD_WITHIN
            assert swarm.dropped() == 0, "the real client was answered only once slow ones had been dropped"
            swarm.drip()
        cpu_before, wall_before = cpu_seconds(served.proc.pid), time.monotonic()
        # the handshake deadline drops every slow connection, however the bytes keep coming
        left = swarm.wait(timeout=DEADLINE + SLACK + 10 - (time.monotonic() - started))
        assert left == 0, f"{left} slow connections still open after {time.monotonic() - started:.0f} s"
        cpu, wall = cpu_seconds(served.proc.pid) - cpu_before, time.monotonic() - wall_before
        assert cpu < 0.3 * wall + 1.0, f"the server used {cpu:.1f} s of CPU in {wall:.1f} s: a busy loop"
        assert good_request(served, timeout=5) == 200
    finally:
        swarm.close()
        assert served.stop() == 0
    log = served.log()
    assert "Traceback" not in log
    assert "TLS handshake failed: timed out" in log


def _client_hello() -> bytes:
    """The first flight of a real TLS client (a ClientHello), to drip byte by byte."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _drip(sock: socket.socket, pieces, limit: float) -> float | None:
    """Send ``pieces`` one by one, waiting up to a second for the peer to close between them (the
    wait paces the drip); seconds until the peer closed, or None if it kept the connection ``limit`` s."""
    started = time.monotonic()
    for piece in pieces:
        try:
            sock.sendall(piece)
        except OSError:
            return time.monotonic() - started
        sock.settimeout(1.0)
        try:
            while True:
                data = sock.recv(4096)
                if not data:
                    return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            return None
    return None


def test_dripping_clients_are_held_no_longer_than_the_deadline(sandbox_path):
    """One byte of a ClientHello a second (REST API, UI, database), and one header line a second
    after a finished handshake (REST API over HTTPS and plain HTTP): each connection is closed by
    the whole deadline (10 s), not kept for as long as the bytes keep coming (a per-read timeout)."""
    served = start(sandbox_path, resource.getrlimit(resource.RLIMIT_NOFILE))
    limit = DEADLINE + SLACK + 6
    results: dict[str, float | None] = {}
    socks: list[socket.socket] = []
    hello = _client_hello()

    def handshake_drip(name: str, port: int):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(sock)
        results[name] = _drip(sock, (hello[i:i + 1] for i in range(len(hello))), limit)

    def header_drip(name: str, port: int, tls: bool):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls:
            sock = client_context(served.ca_cert).wrap_socket(sock, server_hostname="localhost")
        socks.append(sock)
        lines = [b"GET /v1/cluster HTTP/1.1\r\nHost: localhost\r\n"] + [f"X-Drip-{i}: x\r\n".encode()
                                                                          for i in range(int(limit) + 2)]
        results[name] = _drip(sock, lines, limit)

    jobs = [threading.Thread(target=handshake_drip, args=(f"handshake {name}", port_of(served, name)), daemon=True)
            for name in ("api", "cm", "database") if port_of(served, name)]
    jobs.append(threading.Thread(target=header_drip, args=("headers api", served.port, True), daemon=True))
    if port_of(served, "http"):
        jobs.append(threading.Thread(target=header_drip, args=("headers http", port_of(served, "http"), False),
                                     daemon=True))
    try:
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(timeout=limit + 30)
        assert not any(job.is_alive() for job in jobs)
        assert good_request(served, timeout=5) == 200
    finally:
        for sock in socks:
            sock.close()
        assert served.stop() == 0
    assert len(results) == len(jobs), results
    for name, seconds in results.items():
        assert seconds is not None, f"{name}: still open after {limit:g} s of dripping"
        assert seconds < DEADLINE + SLACK, (name, seconds)
    assert "Traceback" not in served.log()


def test_connections_beyond_the_cap_are_refused_at_once(sandbox_path):
    """More connections than an endpoint may hold (its share of a small file limit): the excess
    is closed at once, on the REST API and on the database endpoint; once the holders go, a
    real client is answered."""
    from rladmin_py.sandbox.limits import connection_cap

    nofile = 400
    cap, extra = connection_cap(nofile), 10
    served = start(sandbox_path, (nofile, nofile))
    held: list[socket.socket] = []
    try:
        for name in ("api", "database"):
            port = port_of(served, name)
            if port is None:
                continue
            socks = []
            for _ in range(cap + extra):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                socks.append(sock)
                held.append(sock)
            refused = wait_closed(socks, extra, timeout=5)
            assert len(refused) == extra, f"{name}: {len(refused)} of {cap + extra} closed, expected {extra}"
            still_open = [s for s in socks if s not in refused]
            assert len(still_open) == cap and not any(closed(s) for s in still_open), name
        for sock in held:
            sock.close()
        held.clear()
        deadline = time.monotonic() + 10
        status = None
        for _ in range(100):  # the server notices the closed connections (bounded in time and count)
            try:
                status = good_request(served, timeout=5)
                break
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a short pause between tries
        assert status == 200
    finally:
        for sock in held:
            sock.close()
        assert served.stop() == 0
    log = served.log()
    assert "Traceback" not in log
    assert f"refused: {cap} connections already open" in log
