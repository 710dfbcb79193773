#!/usr/bin/env python3
"""The sandbox database endpoint on its own: TLS relay cost against the server reached directly.

    python benchmarks/database_bench.py [--quick] [--in-process]

``benchmarks/run.py`` measures the endpoint as users get it (figures 11 and 12: the database
endpoint of a real ``rladmin-py --serve``); the RESP client, the certificate and the measurement
are its own, imported from it (one copy). This script isolates the endpoint for whoever works on
it: a RedisServer and two DatabaseEndpoints (TLS with a throwaway self-signed certificate, and
plain), without the REST server, in a child process (``--in-process``: in this one, sharing the
GIL with the load), and adds

* pipelined SET throughput through the endpoint in plain mode (the relay without TLS);
* the same throughput with redis-py, when it is installed (a client other than ours).

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from rladmin_py.sandbox.database import DatabaseEndpoint, RedisServer, find_server
except ImportError:  # run from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from rladmin_py.sandbox.database import DatabaseEndpoint, RedisServer, find_server


def _load_run():
    """benchmarks/run.py as a module (it runs nothing on import)."""
    spec = importlib.util.spec_from_file_location("rladmin_py_benchmark_run", Path(__file__).with_name("run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_run()
HOST = "127.0.0.1"


def serve(directory: str, cert: str, key: str) -> dict:
    """Start the server and a TLS and a plain endpoint; return what clients need."""
    server = RedisServer(os.path.join(directory, "data"))
    server.start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls = DatabaseEndpoint(server.socket_path, lambda: context, host=HOST)
    plain = DatabaseEndpoint(server.socket_path, lambda: None, host=HOST)
    tls.start()
    plain.start()
    return {"socket": server.socket_path, "tls_port": tls.address[1],
            "plain_port": plain.address[1], "stop": [tls, plain, server]}


def redis_py_throughput(target, cert, commands: int, batch: int = 1000) -> float | None:
    """Pipelined SETs per second with redis-py, when it is installed."""
    try:
        import redis
    except ImportError:
        return None
    if isinstance(target, str):
        client = redis.Redis(unix_socket_path=target)
    else:
        client = redis.Redis(host=HOST, port=target, ssl=bool(cert), ssl_ca_certs=cert)
    try:
        client.ping()
        started = time.perf_counter()
        for _ in range(commands // batch):
            pipe = client.pipeline(transaction=False)
            for i in range(batch):
                pipe.set(f"key:{i}", "v" * 32)
            pipe.execute()
        return commands // batch * batch / (time.perf_counter() - started)
    finally:
        client.close()


def measure(info: dict, cert: str, quick: bool) -> dict:
    context = ssl.create_default_context(cafile=cert)
    figures = run.measure_database((HOST, info["tls_port"]), context, info["socket"], quick)
    commands = run.DATABASE_COUNTS[quick][0]
    figures["set_per_s_plain_endpoint"] = max(
        run.set_throughput((HOST, info["plain_port"]), None, commands) for _ in range(3))
    redis_direct = redis_py_throughput(info["socket"], None, 1000)     # also a warm-up
    if redis_direct is not None:
        redis_direct = max(redis_py_throughput(info["socket"], None, commands // 4) for _ in range(3))
        redis_tls = max(redis_py_throughput(info["tls_port"], cert, commands // 4) for _ in range(3))
        figures.update(redis_py_set_per_s_direct=redis_direct, redis_py_set_per_s_tls=redis_tls,
                       redis_py_tls_vs_direct=redis_tls / redis_direct)
    figures = {key: (round(value) if value >= 1000 else round(value, 3)) if isinstance(value, float) else value
               for key, value in figures.items()}
    figures.update(tls_vs_direct_goal=0.5, ping_tls_p99_goal_ms=5.0,
                   **{"pass": figures["tls_vs_direct"] >= 0.5 and figures["ping_tls_p99_ms"] <= 5.0})
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer commands (a smoke run)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the endpoint in this process (shares the GIL with the clients)")
    parser.add_argument("--serve", nargs=3, metavar=("DIR", "CERT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:  # the child: serve until stdin closes
        info = serve(*args.serve)
        stop = info.pop("stop")
        try:
            print(json.dumps(info), flush=True)
            sys.stdin.read()
        finally:
            for thing in stop:
                thing.stop()
        return 0

    binary, reason = find_server()
    if binary is None:
        print(json.dumps({"skipped": reason}))
        return 0
    directory = tempfile.mkdtemp(prefix="rladmin-db-bench-")
    child = info = None
    try:
        cert, key, _ = run.make_certificate(Path(directory))
        if args.in_process:
            info = serve(directory, str(cert), str(key))
        else:
            child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve",
                                      directory, str(cert), str(key)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("the endpoint process did not start")
            info = json.loads(line)
        figures = {"server": reason, "endpoint": "in-process" if args.in_process else "child process",
                   **measure(info, str(cert), args.quick)}
        print(json.dumps(figures, indent=2))
        return 0
    except (OSError, RuntimeError, ssl.SSLError) as exc:
        print(f"database_bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if child is not None:
            child.stdin.close()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        elif info is not None:
            for thing in info["stop"]:
                thing.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
