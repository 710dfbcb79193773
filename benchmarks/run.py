#!/usr/bin/env python3
"""rladmin-py benchmark: start-up, completion, scripts, REST and the sandbox server.

Standard library only (and the installed package, whose ``cryptography`` makes the rotation
certificates). Run with the interpreter of the venv rladmin-py is installed in:

    .venv/bin/python benchmarks/run.py [--json] [--quick] [--save [FILE]]

Machines here are shared and noisy, so times are reported as ratios to ``python -c pass``
measured in the same run (the baseline), and every figure is a median of repeated runs.
Each figure is printed with its target and PASS or MISS.

The sandbox server is measured as users get it: ``rladmin-py --sandbox PATH --serve
127.0.0.1:0 --json`` in its own process, reached over loopback. The database figures compare
its TLS endpoint with a second valkey-server (the same binary) that this script starts and
reaches on its unix socket, with the small RESP client below (also used by
``benchmarks/database_bench.py``, which measures the endpoint on its own).
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import http.client
import json
import os
import pty
import random
import re
import select
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
RLADMIN = str(Path(PY).parent / "rladmin-py")


# -- helpers ----------------------------------------------------------------------------------------
def median_run(argv, n, env=None, stdin=None) -> float:
    """Median wall time (ms) of running argv n times."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       stdin=stdin if stdin is None else open(stdin, "rb"), check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def percentile(values, p) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


class Pty:
    """A real terminal for the interactive shell: fixed size, no cursor-position requests."""

    def __init__(self, argv, env, rows=30, cols=120):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.buf = b""

    def expect(self, needle: bytes, timeout=30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{needle!r} not seen; got {self.buf[-300:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise EOFError(f"{needle!r} not seen before the end; got {self.buf[-300:]!r}")
                self.buf += chunk

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


class Report:
    def __init__(self, baseline_ms: float):
        self.baseline = baseline_ms
        self.rows = []

    def add(self, key, label, value, unit, target, ok, note=""):
        """One figure; ``value`` None: it could not be measured (a MISS, ``note`` says why)."""
        ok = ok and value is not None
        self.rows.append({"key": key, "label": label, "value": None if value is None else round(value, 3),
                          "unit": unit, "target": target, "result": "PASS" if ok else "MISS", "note": note})
        shown = f"{'n/a':>9}" if value is None else f"{value:>9.2f}"
        print(f"{'PASS' if ok else 'MISS'}  {label:<58} {shown} {unit:<8} target {target}"
              + (f"  ({note})" if note else ""), flush=True)

    def ratio(self, key, label, ms, limit):
        r = ms / self.baseline
        self.add(key, label, r, "x", f"<= {limit}x", r <= limit, f"{ms:.1f} ms")


def env_for(tmp: Path) -> dict:
    env = dict(os.environ)
    for var in ("REDIS_ENTERPRISE_URL", "REDIS_ENTERPRISE_USER", "REDIS_ENTERPRISE_PASSWORD",
                "REDIS_ENTERPRISE_CA_CERT", "REDIS_ENTERPRISE_INSECURE"):
        env.pop(var, None)
    env.update(HOME=str(tmp), XDG_DATA_HOME=str(tmp / "data"), XDG_STATE_HOME=str(tmp / "state"),
               XDG_CONFIG_HOME=str(tmp / "config"), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", NO_COLOR="1")
    return env


# -- the figures ------------------------------------------------------------------------------------
def bench_startup(rep: Report, tmp: Path, env: dict, n: int) -> None:
    sandbox = tmp / "oneshot" / "sandbox.json"
    subprocess.run([RLADMIN, "--sandbox", str(sandbox), "info", "cluster"], stdout=subprocess.DEVNULL, env=env,
                   check=True)
    ms = median_run([RLADMIN, "--sandbox", str(sandbox), "cluster", "config", "min_data_TLS_version", "1.3"], n, env)
    rep.ratio("oneshot", "1. one-shot cluster config on an existing sandbox", ms, 8)
    rep.ratio("version", "2. rladmin-py --version", median_run([RLADMIN, "--version"], n, env), 2.5)
    rep.ratio("help", "2. rladmin-py --help", median_run([RLADMIN, "--help"], n, env), 2.5)


def bench_first_prompt(rep: Report, tmp: Path, env: dict, n: int) -> None:
    sandbox = tmp / "prompt" / "sandbox.json"
    subprocess.run([RLADMIN, "--sandbox", str(sandbox), "info", "cluster"], stdout=subprocess.DEVNULL, env=env,
                   check=True)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        term = Pty([RLADMIN, "--sandbox", str(sandbox)], env)
        term.expect(b"rladmin>")
        times.append((time.perf_counter() - start) * 1000)
        term.send(b"exit\r")
        term.close()
    rep.ratio("first_prompt", "3. time to the first prompt in a real pty", statistics.median(times), 12)


def bench_completion(rep: Report) -> None:
    from rladmin_py.language import completion, grammar as gm, walker

    table = completion_table()

    def timings(rounds=30):
        out = []
        for _ in range(rounds):
            for line, cursor in table:
                start = time.perf_counter()
                completion.complete(line, cursor)
                out.append((time.perf_counter() - start) * 1000)
        return out

    timings(1)  # warm: the grammar is compiled once per process, not per keystroke
    small = timings()
    p50, p99 = percentile(small, 50), percentile(small, 99)
    rep.add("completion_p50", f"4. completion p50 per call ({len(table)} lines typed)", p50, "ms", "(info)", True)
    rep.add("completion_p99", "4. completion p99 per call", p99, "ms", "<= 2 ms", p99 <= 2)
    big = gm.parse_grammar_text(synthetic_grammar(10), "synthetic")
    walker.use_grammar(big)
    try:
        timings(1)
        large = timings()
    finally:
        walker.use_grammar(None)
    ratio = percentile(large, 99) / p99
    rep.add("completion_big_ratio", f"4. completion p99 with a grammar 10x larger ({len(big.forms)} forms) / normal",
            ratio, "x", "<= 2x", ratio <= 2, f"p99 {percentile(large, 99):.3f} ms")


def completion_table() -> list[tuple[str, int]]:
    """(line, cursor) pairs as a person types them: every form of the packaged grammar written
    out (optional parts included, the first value of each enumeration, a path for paths), with
    the cursor after each word, inside the last word, and on an empty line."""
    from rladmin_py.language import grammar as gm

    g = gm.load()
    samples = {"path": "/tmp/x.pem", "int": "2", "fqdn": "cluster.example.com", "text": "cluster config"}

    def words(elements) -> list[str]:
        out = []
        for el in elements:
            if el.kind == "optional":
                out += words(el.children)
            elif el.kind != "value":
                out.append(el.text)
            elif g.type(el.type).kind == "enum":
                out.append(next(iter(g.type(el.type).choices)))
            elif g.type(el.type).kind == "params":
                for p in [p for p in g.type(el.type).params.values() if p.type][:3]:
                    vt = g.type(p.type)
                    value = next(iter(vt.choices)) if vt.kind == "enum" else str(vt.minimum) if vt.numeric else "HIGH:!MD5"
                    out += [p.name] + [e.text for e in p.elements if e.kind == "keyword"] + [value]
            else:
                out.append(samples.get(el.type, "x"))
        return out

    table = [("", 0)]
    for form in g.forms:
        line = ""
        for word in words(form.elements):
            table.append((line + word[: max(1, len(word) // 2)], len(line) + max(1, len(word) // 2)))
            line += word + " "
            table.append((line, len(line)))
    return table


def synthetic_grammar(factor: int) -> str:
    """The packaged grammar plus ``factor - 1`` renamed copies of every command and params table."""
    from rladmin_py.language import grammar as gm

    text = Path(gm.grammar_file()).read_text()
    sections, current = [], None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = [line, []]
            sections.append(current)
        else:
            current[1].append(line)
    out = []
    for header, body in sections:
        out.append(header)
        out += body
        if header.startswith("params"):
            _, name, *single = header.split()
            for k in range(1, factor):
                out.append(" ".join([f"params {name}{k}", *single]))
                out += [re.sub(r"renamed:(\w+)", rf"renamed:\1_{k}", line.replace(line.split()[0], f"{line.split()[0]}_{k}", 1))
                        for line in body]
        elif header == "commands":
            for k in range(1, factor):
                for line in body:
                    first = line.split()[0]
                    copy = line.replace(first, f"{first}{k}", 1)
                    for table in ("cluster_config", "ocsp_config"):
                        copy = copy.replace(f"<{table}>", f"<{table}{k}>").replace(f":{table}.name>", f":{table}{k}.name>")
                    out.append(copy)
    return "\n".join(out) + "\n"


def bench_scripts(rep: Report, tmp: Path, env: dict) -> None:
    sandbox = tmp / "scripts" / "sandbox.json"
    subprocess.run([RLADMIN, "--sandbox", str(sandbox), "info", "cluster"], stdout=subprocess.DEVNULL, env=env,
                   check=True)
    lines = 10_000
    path = tmp / "long.rla"
    values = ["1.2", "1.3"]
    path.write_text("".join(f"cluster config min_data_TLS_version {values[i % 2]} "
                            f"data_cipher_list HIGH:!x{i}\n" for i in range(lines)))
    start = time.perf_counter()
    subprocess.run([RLADMIN, "--sandbox", str(sandbox), "--check", "-f", str(path)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env, check=True)
    rate = lines / (time.perf_counter() - start)
    rep.add("check_rate", "5. --check of a 10,000-line script", rate, "lines/s", ">= 10000", rate >= 10_000)
    start = time.perf_counter()
    out = subprocess.run([RLADMIN, "--sandbox", str(sandbox), "-f", str(path)], capture_output=True, env=env,
                         check=True)
    rate = lines / (time.perf_counter() - start)
    done = out.stdout.count(b"Cluster configured successfully")
    rep.add("run_rate", "6. 10,000-line cluster config script on the sandbox", rate, "cmds/s", ">= 2000",
            rate >= 2000 and done == lines, f"{done} reported")


def address_of(endpoint: str) -> tuple[str, int]:
    """``https://H:P``, ``http://H:P``, ``H:P`` or ``[v6]:P`` -> (host, port)."""
    hostport = endpoint.split("//", 1)[-1]
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


def tls_connect(address: tuple[str, int], context: ssl.SSLContext, timeout: float = 10.0) -> ssl.SSLSocket:
    """A new TCP connection with its TLS handshake done (SNI and name check: the host as given)."""
    sock = socket.create_connection(address, timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=address[0])
    except BaseException:
        sock.close()
        raise


class Server:
    """``rladmin-py --sandbox PATH --serve 127.0.0.1:0 --json`` in its own process, as users run it.

    ``up_s``: seconds from the Popen until every endpoint of the JSON line accepts a TCP
    connection and, for the TLS ones (the database endpoint too: its ``tls_mode`` is enabled in
    a new sandbox), completes a handshake verified against the announced ``ca_cert``."""

    def __init__(self, sandbox: Path, env: dict, timeout: float = 60.0):
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        self.sandbox = sandbox
        sandbox.parent.mkdir(parents=True, exist_ok=True)
        self.log = sandbox.parent / "serve.log"  # its stderr: one line per request, and why it failed
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([RLADMIN, "--sandbox", str(sandbox), "--serve", "127.0.0.1:0", "--json"],
                                         stdout=subprocess.PIPE, stderr=log, env=env)
        try:
            self.info = json.loads(self._first_line(deadline))
            self.ctx = ssl.create_default_context(cafile=self.info["ca_cert"])
            self._wait_up(deadline)
            self.up_s = time.perf_counter() - started
        except BaseException:
            self.stop()
            raise
        self.host, self.port = address_of(self.info["url"])
        token = base64.b64encode(f"{self.info['user']}:{self.info['password']}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _first_line(self, deadline: float) -> str:
        """The JSON line, read without blocking past ``deadline`` (nothing else comes on stdout)."""
        fd, data = self.proc.stdout.fileno(), b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("--serve printed no JSON line in time")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self.proc.wait()
                    lines = self.log.read_text(errors="replace").strip().splitlines() or ["no message"]
                    raise RuntimeError(f"--serve exited before printing its JSON line (exit {code}): {lines[-1]}")
                data += chunk
        return data.split(b"\n", 1)[0].decode()

    def _wait_up(self, deadline: float) -> None:
        for name, endpoint in self.info["endpoints"].items():
            if endpoint is None:  # not served now (http_support disabled, no database server)
                continue
            address, tls = address_of(endpoint), not endpoint.startswith("http://")
            while True:
                try:
                    if tls:
                        tls_connect(address, self.ctx, timeout=2).close()
                    else:
                        socket.create_connection(address, timeout=2).close()
                    break
                except OSError as err:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the {name} endpoint {endpoint} is not up: {err}") from None
                    time.sleep(0.005)

    def stats(self) -> dict:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        conn.request("GET", "/_rladmin_py/stats", headers=self.headers)
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def stop(self) -> float:
        """SIGTERM (SIGKILL after 15 s), reaped; returns the seconds it took to exit."""
        started = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return time.perf_counter() - started


def bench_rest(rep: Report, tmp: Path, env: dict, server: Server) -> None:
    lines = 1000
    path = tmp / "rest.rla"
    values = ["1.2", "1.3"]
    path.write_text("".join(f"cluster config min_data_TLS_version {values[i % 2]}\n" for i in range(lines)))
    before = server.stats()
    renv = dict(env, REDIS_ENTERPRISE_PASSWORD=server.info["password"])
    start = time.perf_counter()
    out = subprocess.run([RLADMIN, "--cluster", server.info["url"], "--user", server.info["user"], "--ca-cert",
                          server.info["ca_cert"], "-f", str(path)], capture_output=True, env=renv)
    rate = lines / (time.perf_counter() - start)
    after = server.stats()
    connections = after["connections_accepted"] - before["connections_accepted"] - 1  # minus our stats call
    ok = out.returncode == 0 and rate >= 300 and connections == 1
    rep.add("rest_rate", "7. 1,000-line script over REST (sandbox server)", rate, "cmds/s",
            ">= 300, 1 connection", ok, f"{connections} TCP connection(s), exit {out.returncode}")


def bench_server(rep: Report, server: Server, clients=32, requests=50) -> None:
    latencies, errors = [], []
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPSConnection(server.host, server.port, context=server.ctx, timeout=60)
        mine = []
        try:
            for _ in range(requests):
                start = time.perf_counter()
                conn.request("GET", "/v1/cluster", headers=server.headers)
                resp = conn.getresponse()
                body = resp.read()
                mine.append((time.perf_counter() - start) * 1000)
                if resp.status != 200 or not body.startswith(b"{"):
                    raise RuntimeError(f"status {resp.status}")
        except Exception as err:  # counted, reported
            with lock:
                errors.append(repr(err))
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    throughput = len(latencies) / elapsed
    rep.add("server_errors", f"10. server, {clients} clients x {requests} GET /v1/cluster: errors", len(errors),
            "errors", "0", not errors, errors[0] if errors else "")
    rep.add("server_throughput", "10. server throughput", throughput, "req/s", "(info)", True)
    rep.add("server_p99", "10. server p99 latency", percentile(latencies, 99), "ms", "(info)", True)


# -- a small RESP client: the database figures (and benchmarks/database_bench.py) -----------------
PING_CLIENTS = 16
PING, PONG = b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"
#: quick run? -> (SET commands per throughput run, PINGs per client per latency run)
DATABASE_COUNTS = {True: (50_000, 300), False: (200_000, 2_000)}


def resp_connect(target, tls: ssl.SSLContext | None = None, timeout: float = 30.0) -> socket.socket:
    """``target``: a unix socket path, or (host, port) over TCP (TLS with ``tls``, verified)."""
    if isinstance(target, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        return sock
    sock = tls_connect(target, tls, timeout) if tls is not None else socket.create_connection(target, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(sock: socket.socket, size: int) -> None:
    while size > 0:
        chunk = sock.recv(min(size, 1 << 18))
        if not chunk:
            raise ConnectionError("the database closed the connection")
        size -= len(chunk)


def set_throughput(target, tls: ssl.SSLContext | None, commands: int, batch: int = 1000) -> float:
    """SET commands per second over one connection, pipelined ``batch`` at a time (replies: +OK)."""
    value = b"v" * 32
    payload = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value)
                       for k in (b"key:%d" % i for i in range(batch)))
    with resp_connect(target, tls) as sock:
        started = time.perf_counter()
        for _ in range(commands // batch):
            sock.sendall(payload)
            read_exactly(sock, 5 * batch)
        return commands // batch * batch / (time.perf_counter() - started)


def _send_nonblocking(sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            if time.monotonic() > deadline:
                raise TimeoutError("the database does not read") from None
            select.select([], [sock], [], 0.01)


def ping_latencies(target, tls: ssl.SSLContext | None, pings: int, clients: int = PING_CLIENTS,
                   timeout: float = 120.0) -> list[float]:
    """Round trips (s) of ``pings`` PINGs on each of ``clients`` connections, all in flight together.

    One thread drives every connection through a selector, so the figure is the server's latency
    under that concurrency rather than this process's thread scheduling (16 client threads on a
    2-core machine add their GIL hand-offs to the p99)."""
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    try:
        for _ in range(clients):
            socks.append(resp_connect(target, tls))
        left, got, sent_at, latencies = {}, {}, {}, []
        for sock in socks:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
            left[sock], got[sock] = pings, b""
        for sock in socks:
            sent_at[sock] = time.perf_counter()
            _send_nonblocking(sock, PING, deadline)
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sum(left.values())} PINGs unanswered after {timeout:g} s")
            for key, _ in sel.select(timeout=1.0):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError):  # a TLS record in pieces, or a session ticket
                    continue
                if not data:
                    raise ConnectionError("the database closed the connection")
                got[sock] += data
                if len(got[sock]) < len(PONG):
                    continue
                now = time.perf_counter()
                if got[sock] != PONG:
                    raise RuntimeError(f"unexpected reply to PING: {got[sock][:40]!r}")
                latencies.append(now - sent_at[sock])
                got[sock], left[sock] = b"", left[sock] - 1
                if left[sock]:
                    sent_at[sock] = time.perf_counter()
                    _send_nonblocking(sock, PING, deadline)
                else:
                    sel.unregister(sock)
                    del left[sock]
        return latencies
    finally:
        sel.close()
        for sock in socks:
            sock.close()


def measure_database(tls_target, tls: ssl.SSLContext, direct_target, quick: bool) -> dict:
    """Pipelined SET throughput (best of 3, TLS and direct interleaved, so a slow moment of a
    shared machine hits one run, not one side) and PING round trips of 16 concurrent clients
    (p99 of each of 3 runs; the figure is their median, the worst is reported too)."""
    commands, pings = DATABASE_COUNTS[quick]
    direct_rates, tls_rates = [], []
    for _ in range(3):
        direct_rates.append(set_throughput(direct_target, None, commands))
        tls_rates.append(set_throughput(tls_target, tls, commands))
    tls_p99, direct_p99, tls_all = [], [], []
    for _ in range(3):
        latencies = ping_latencies(tls_target, tls, pings)
        tls_all += latencies
        tls_p99.append(percentile(latencies, 99))
        direct_p99.append(percentile(ping_latencies(direct_target, None, pings), 99))
    return {"set_per_s_direct": max(direct_rates), "set_per_s_tls": max(tls_rates),
            "tls_vs_direct": max(tls_rates) / max(direct_rates), "ping_clients": PING_CLIENTS,
            "ping_tls_p50_ms": percentile(tls_all, 50) * 1e3, "ping_tls_p99_ms": statistics.median(tls_p99) * 1e3,
            "ping_tls_p99_worst_run_ms": max(tls_p99) * 1e3, "ping_direct_p99_ms": statistics.median(direct_p99) * 1e3}


def make_certificate(directory: Path, stem: str = "cert", fqdn: str = "cluster.sandbox.local"
                     ) -> tuple[Path, Path, bytes]:
    """A self-signed RSA 2048 certificate for ``fqdn`` and this machine (SANs localhost,
    127.0.0.1, ``fqdn`` and ``*.fqdn``; EKU serverAuth + clientAuth): (cert file, key file, DER)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"rladmin-py benchmark {stem}")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName(fqdn), x509.DNSName(f"*.{fqdn}")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


# -- the sandbox server as users get it: database endpoint, memory, rotation, start-up ------------
def bench_database(rep: Report, tmp: Path, server: Server, quick: bool) -> None:
    """The TLS database endpoint of the served sandbox against a second valkey-server (the same
    binary, started here, reached on its unix socket: the server's own fastest path)."""
    from rladmin_py.sandbox.database import RedisServer, find_server

    ratio_label = "11. pipelined SET: TLS database endpoint / server direct"
    p99_label = f"12. PING p99, {PING_CLIENTS} concurrent clients, TLS database endpoint"
    endpoint = server.info["endpoints"]["database"]
    binary, what = find_server()
    if endpoint is None or binary is None:
        why = "--serve serves no database endpoint" if endpoint is None else what
        rep.add("db_set_ratio", ratio_label, None, "x", ">= 0.5x", False, why)
        rep.add("db_ping_p99", p99_label, None, "ms", "<= 5 ms", False, why)
        return
    direct = RedisServer(tmp / "direct-db", binary=binary)
    try:
        direct.start()
        m = measure_database(address_of(endpoint), server.ctx, direct.socket_path, quick)
    finally:
        direct.stop()
    rep.add("db_set_ratio", ratio_label, m["tls_vs_direct"], "x", ">= 0.5x", m["tls_vs_direct"] >= 0.5,
            f"TLS {m['set_per_s_tls']:,.0f}/s, {what} unix socket {m['set_per_s_direct']:,.0f}/s; best of 3")
    rep.add("db_ping_p99", p99_label, m["ping_tls_p99_ms"], "ms", "<= 5 ms", m["ping_tls_p99_ms"] <= 5,
            f"median of 3 runs, worst {m['ping_tls_p99_worst_run_ms']:.2f}; p50 {m['ping_tls_p50_ms']:.2f}; "
            f"direct unix socket p99 {m['ping_direct_p99_ms']:.2f}")


def _proc_status_mib(pid: int, field: str) -> float | None:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in MiB; None where there is no /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in status.splitlines() if line.startswith(field + ":")), None)
    return int(line.split()[1]) / 1024 if line else None


def bench_serve_rss(rep: Report, server: Server, requests: int, connections: int = 4, budget_s: float = 120.0
                    ) -> None:
    """The serve process's own RSS (the database server is another process) after ``requests``
    GET /v1/cluster over a few keep-alive connections."""
    before = _proc_status_mib(server.proc.pid, "VmRSS")
    lock = threading.Lock()
    issued, served, errors = [0], [0], []
    deadline = time.monotonic() + budget_s

    def client():
        conn = http.client.HTTPSConnection(server.host, server.port, context=server.ctx, timeout=30)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if issued[0] >= requests:
                        return
                    issued[0] += 1
                conn.request("GET", "/v1/cluster", headers=server.headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or not body.startswith(b"{"):
                    raise RuntimeError(f"status {resp.status}")
                with lock:
                    served[0] += 1
        except Exception as err:  # counted, reported
            with lock:
                errors.append(repr(err))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = served[0] / (time.perf_counter() - start)
    rss, hwm = _proc_status_mib(server.proc.pid, "VmRSS"), _proc_status_mib(server.proc.pid, "VmHWM")
    complete = served[0] >= requests and not errors
    note = (f"{connections} keep-alive connections, {rate:.0f} req/s; before {before or 0:.1f} MiB, "
            f"peak {hwm or 0:.1f} MiB; the database server not counted")
    if not complete:
        note = f"only {served[0]} served: {errors[0] if errors else 'out of time'}; " + note
    rep.add("serve_rss", f"13. RSS of the --serve process after {requests:,} GET /v1/cluster", rss, "MiB",
            "<= 80 MiB", complete and rss is not None and rss <= 80, note)


def bench_rotation(rep: Report, tmp: Path, env: dict, server: Server, rotations: int) -> None:
    """``cluster certificate set api`` run by another process; from its exit (0: written for good)
    until a new TLS connection to the REST API presents the new certificate. Run last on a
    server: clients trusting the old certificate no longer verify it."""
    label = "14. api cert rotation seen by a new connection"
    pairs = [make_certificate(tmp / "rotation", stem=f"rotation-{i}") for i in range(2)]
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE  # compared byte for byte instead
    address = (server.host, server.port)
    delays, commands, probes = [], [], []
    for i in range(rotations):
        cert, key, der = pairs[i % 2]  # alternate, so every rotation changes what is served
        started = time.perf_counter()
        out = subprocess.run([RLADMIN, "--sandbox", str(server.sandbox), "-y", "cluster", "certificate", "set", "api",
                              "certificate_file", str(cert), "key_file", str(key)],
                             capture_output=True, text=True, env=env, timeout=60)
        exited = time.perf_counter()
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no message"])[-1]
            rep.add("rotation_visible", label, None, "ms", "<= 1000 ms", False,
                    f"the rotation command failed (exit {out.returncode}): {last}")
            return
        commands.append(exited - started)
        deadline, tries = time.monotonic() + 10, 0
        while True:
            tries += 1
            try:
                with tls_connect(address, probe, timeout=2) as sock:
                    seen = sock.getpeercert(binary_form=True)
            except OSError:
                seen = None
            if seen == der:
                delays.append(time.perf_counter() - exited)
                probes.append(tries)
                break
            if time.monotonic() > deadline:
                rep.add("rotation_visible", label, None, "ms", "<= 1000 ms", False,
                        f"rotation {i + 1}: the new certificate was not served within 10 s")
                return
            time.sleep(0.005)
    worst = max(delays) * 1000
    rep.add("rotation_visible", f"{label} (worst of {rotations})", worst, "ms", "<= 1000 ms", worst <= 1000,
            f"median {statistics.median(delays) * 1000:.1f} ms; connections tried {probes}; "
            f"the command took {statistics.median(commands) * 1000:.0f} ms")


def bench_verify(rep: Report, env: dict, server: Server, runs: int) -> None:
    """``verify tls`` of every endpoint of the served sandbox, as a user runs it (the whole
    command: start-up, probes of each endpoint, rendering)."""
    times, codes = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([RLADMIN, "--sandbox", str(server.sandbox), "verify", "tls"], capture_output=True,
                             text=True, env=env, timeout=60)
        times.append(time.perf_counter() - started)
        codes.append(out.returncode)
    median = statistics.median(times)
    rep.add("verify_tls", f"16. verify tls of every sandbox endpoint (median of {runs})", median, "s", "<= 1.5 s",
            median <= 1.5 and set(codes) == {0}, f"exit codes {sorted(set(codes))}")


def bench_serve_up(rep: Report, tmp: Path, env: dict, starts: int, first_s: float) -> None:
    """Popen of ``--serve 127.0.0.1:0 --json`` on an existing sandbox until every endpoint is up."""
    sandbox = tmp / "serve-up" / "sandbox.json"
    subprocess.run([RLADMIN, "--sandbox", str(sandbox), "info", "cluster"], stdout=subprocess.DEVNULL, env=env,
                   check=True)
    ups, stops = [], []
    for _ in range(starts):
        server = Server(sandbox, env)
        try:
            ups.append(server.up_s)
        finally:
            stops.append(server.stop())
    up = statistics.median(ups)
    rep.add("serve_up", "15. --serve: every endpoint up after Popen (TCP + TLS)", up, "s", "<= 2 s",
            up <= 2, f"median of {starts}, worst {max(ups):.2f} s; SIGTERM to exit {statistics.median(stops):.2f} s; "
                     f"first start, making the sandbox: {first_s:.2f} s")


def bench_preflight(rep: Report, tmp: Path) -> None:
    from rladmin_py.certificates import checks as certs, making as certgen

    fqdn = "cluster.sandbox.local"
    root = certgen.make_ca("Bench Root")
    inter = certgen.make_ca("Bench Intermediate", issuer=root)
    leaf = certgen.make_leaf(fqdn, certgen.cluster_sans(fqdn), inter)
    cert_path, key_path = tmp / "chain.pem", tmp / "key.pem"
    cert_path.write_text(leaf.cert_pem + inter.cert_pem + root.cert_pem)
    key_path.write_text(leaf.key_pem)
    certs.prepare_files("proxy", str(cert_path), str(key_path), fqdn=fqdn)  # warm (imports)
    times = []
    for _ in range(50):
        start = time.perf_counter()
        certs.prepare_files("proxy", str(cert_path), str(key_path), fqdn=fqdn)
        times.append((time.perf_counter() - start) * 1000)
    ms = statistics.median(times)
    rep.add("preflight", "8. pre-flight of leaf + intermediate + root and key", ms, "ms", "<= 5 ms", ms <= 5)


def bench_rss(rep: Report, tmp: Path, env: dict, commands=100) -> None:
    sandbox = tmp / "rss" / "sandbox.json"
    subprocess.run([RLADMIN, "--sandbox", str(sandbox), "info", "cluster"], stdout=subprocess.DEVNULL, env=env,
                   check=True)
    term = Pty([RLADMIN, "--sandbox", str(sandbox)], env)
    term.expect(b"rladmin>")
    lines = [b"cluster config min_data_TLS_version 1.3", b"cluster config min_data_TLS_version 1.2",
             b"info cluster", b"cluster certificate show api", b"help cluster config"]
    for i in range(commands):
        term.buf = b""
        term.send(lines[i % len(lines)] + b"\r")
        term.expect(b"rladmin>")
    status = Path(f"/proc/{term.proc.pid}/status").read_text()
    hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    term.send(b"exit\r")
    term.close()
    mib = hwm_kb / 1024
    rep.add("rss", f"9. peak RSS of the shell after {commands} commands", mib, "MiB", "<= 60 MiB", mib <= 60)


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="also write the figures as one JSON document on stdout")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--save", nargs="?", const=str(HERE / "figures.jsonl"), metavar="FILE",
                    help="append this run's figures, with date and commit, to FILE (default benchmarks/figures.jsonl)")
    opts = ap.parse_args()
    if not Path(RLADMIN).exists():
        print(f"rladmin-py is not installed next to {PY}", file=sys.stderr)
        return 2
    n = 5 if opts.quick else 21
    random.seed(0)
    with tempfile.TemporaryDirectory(prefix="rladmin-bench-") as tmpdir:
        tmp = Path(tmpdir)
        env = env_for(tmp)
        baseline = median_run([PY, "-c", "pass"], n * 2, env)
        rep = Report(baseline)
        print(f"baseline: python -c pass = {baseline:.1f} ms (median of {n * 2})", flush=True)
        bench_startup(rep, tmp, env, n)
        bench_first_prompt(rep, tmp, env, max(5, n // 2))
        bench_completion(rep)
        bench_scripts(rep, tmp, env)
        server = Server(tmp / "server" / "sandbox.json", env)
        try:
            bench_rest(rep, tmp, env, server)
            bench_server(rep, server)
            bench_database(rep, tmp, server, opts.quick)
            bench_serve_rss(rep, server, 2_000 if opts.quick else 10_000)
            bench_verify(rep, env, server, 3 if opts.quick else 7)
            bench_rotation(rep, tmp, env, server, 3 if opts.quick else 7)  # last: the api certificate changes
        finally:
            server.stop()
        bench_serve_up(rep, tmp, env, 3 if opts.quick else 7, server.up_s)
        bench_preflight(rep, tmp)
        bench_rss(rep, tmp, env)
    misses = [r for r in rep.rows if r["result"] == "MISS"]
    print(f"{len(rep.rows) - len(misses)} PASS, {len(misses)} MISS")
    document = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": _commit(),
                "quick": opts.quick, "baseline_ms": round(baseline, 3), "figures": rep.rows}
    if opts.json:
        print(json.dumps(document))
    if opts.save:
        with open(opts.save, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(document) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
