#!/usr/bin/env python3
"""rladmin-py benchmark: start-up, completion, scripts, REST and the sandbox server.

Standard library only. Run with the interpreter of the venv rladmin-py is installed in:

    .venv/bin/python benchmarks/run.py [--json] [--quick]

Machines here are shared and noisy, so times are reported as ratios to ``python -c pass``
measured in the same run (the baseline), and every figure is a median of repeated runs.
Each figure is printed with its target and PASS or MISS.
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
import select
import shutil
import signal
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
        self.rows.append({"key": key, "label": label, "value": round(value, 3), "unit": unit,
                          "target": target, "result": "PASS" if ok else "MISS", "note": note})
        print(f"{'PASS' if ok else 'MISS'}  {label:<58} {value:>9.2f} {unit:<8} target {target}"
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
                for p in list(g.type(el.type).params.values())[:3]:
                    if not p.readonly:
                        vt = g.type(p.type)
                        out += [p.name, next(iter(vt.choices)) if vt.kind == "enum" else "HIGH:!MD5"]
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
            for k in range(1, factor):
                out.append(f"{header}{k}")
                out += [line.replace(line.split()[0], f"{line.split()[0]}_{k}", 1) for line in body]
        elif header == "commands":
            for k in range(1, factor):
                for line in body:
                    first = line.split()[0]
                    copy = line.replace(first, f"{first}{k}", 1)
                    out.append(copy.replace("<cluster_config>", f"<cluster_config{k}>"))
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


class Server:
    def __init__(self, tmp: Path, env: dict):
        sandbox = tmp / "server" / "sandbox.json"
        self.proc = subprocess.Popen([RLADMIN, "--sandbox", str(sandbox), "--serve", "127.0.0.1:0", "--json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.info = json.loads(self.proc.stdout.readline())
        self.ctx = ssl.create_default_context(cafile=self.info["ca_cert"])
        host, port = self.info["url"].split("//", 1)[1].rsplit(":", 1)
        self.host, self.port = host, int(port)
        token = base64.b64encode(f"{self.info['user']}:{self.info['password']}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def stats(self) -> dict:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        conn.request("GET", "/_rladmin_py/stats", headers=self.headers)
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


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
        server = Server(tmp, env)
        try:
            bench_rest(rep, tmp, env, server)
            bench_server(rep, server)
        finally:
            server.stop()
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
