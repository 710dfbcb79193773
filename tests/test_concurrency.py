"""Concurrency on one sandbox: shell processes and the HTTPS server writing at the same time.

Each writer owns a field and gives it a sequence of distinct values; afterwards every field holds
its writer's last value (no lost update), the state file is strict JSON and 0600 (never torn),
every process exited 0 with one success line per command, and every PUT was answered 200 with its
own change in the answer. The state's ``generation`` counts writes: it must have grown by at
least the number of writes made one by one (a lost read-modify-write would leave it short).
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import threading

from conftest import console_script
from server_fixtures import auth_header, client_context, start_server, strict_json

UPDATES = 100
OK = "Cluster configured successfully\n"
# the four shells' fields, and how the k-th shell writes value i into it
#: Distinct values for data_cipher_suites_tls_1_3, which takes only TLS 1.3 suite names (issue 11):
#: the orderings of non-empty subsets of the five suites (325 of them).
TLS13_ORDERS = [order for n in range(1, 6) for order in itertools.permutations(
    ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
     "TLS_AES_128_CCM_8_SHA256"], n)]
FIELDS = {
    "data_cipher_list": lambda k, i: (f"HIGH:!p{k}n{i}", f"HIGH:!p{k}n{i}"),
    "control_cipher_suites": lambda k, i: (f"DEFAULT:!p{k}n{i}", f"DEFAULT:!p{k}n{i}"),
    "data_cipher_suites_tls_1_3": lambda k, i: (":".join(TLS13_ORDERS[i]), list(TLS13_ORDERS[i])),
    "sentinel_cipher_suites": lambda k, i: (f"TLS_AES_256_GCM_SHA384:P{k}N{i}", ["TLS_AES_256_GCM_SHA384",
                                                                                f"P{k}N{i}"]),
}


class Putter(threading.Thread):
    """PUT /v1/cluster on one keep-alive connection, on fields of its own, until told to stop
    (and at least ``minimum`` times)."""

    def __init__(self, served, minimum: int):
        super().__init__(daemon=True)
        self.served, self.minimum = served, minimum
        self.done = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def body(self, i: int) -> dict:
        return {"logrotate_settings": {"maxage": i, "maxsize": "200M", "rotate": 10},
                "min_sentinel_TLS_version": "1.3" if i % 2 else "1.2"}

    def run(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.served.port, timeout=30,
                                           context=client_context(self.served.ca_cert))
        headers = {"Authorization": auth_header(self.served), "Content-Type": "application/json"}
        try:
            i = 0
            while (i < self.minimum or not self.stop.is_set()) and i < 20 * self.minimum:
                conn.request("PUT", "/v1/cluster", body=json.dumps(self.body(i)), headers=headers)
                resp = conn.getresponse()
                answer = json.loads(resp.read())
                if resp.status != 200 or answer.get("logrotate_settings", {}).get("maxage") != i:
                    self.failures.append(f"PUT {i}: {resp.status} {str(answer)[:200]}")
                i += 1
                self.done = i
        except Exception as err:  # reported by the test, not lost in a thread
            self.failures.append(f"{type(err).__name__}: {err}")
        finally:
            conn.close()


def shell_scripts(tmp_path, fields) -> list:
    scripts = []
    for k, field in enumerate(fields):
        path = tmp_path / f"writer{k}.rla"
        path.write_text("".join(f"cluster config {field} {FIELDS[field](k, i)[0]}\n" for i in range(UPDATES)))
        scripts.append(path)
    return scripts


def expected(fields) -> dict:
    return {field: FIELDS[field](k, UPDATES - 1)[1] for k, field in enumerate(fields)}


def run_all(procs, putter):
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append((proc.returncode, out.decode(), err.decode()))
    finally:
        putter.stop.set()
        putter.join(timeout=120)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def check_state(sandbox_path, want: dict, putter, generation_before: int, min_writes: int):
    with open(sandbox_path, encoding="utf-8") as fh:
        state = strict_json(fh.read())  # never torn, never NaN
    assert os.stat(sandbox_path).st_mode & 0o777 == 0o600
    cluster = state["cluster"]
    for field, value in want.items():
        assert cluster[field] == value, (field, cluster[field])
    last = putter.done - 1
    assert cluster["logrotate_settings"]["maxage"] == last
    assert cluster["min_sentinel_TLS_version"] == ("1.3" if last % 2 else "1.2")
    assert state["generation"] - generation_before >= min_writes, (state["generation"], generation_before)


def generation(sandbox_path) -> int:
    with open(sandbox_path, encoding="utf-8") as fh:
        return json.load(fh)["generation"]


def test_four_sandbox_shells_while_the_server_answers_puts(sandbox_path):
    """4 shell processes x 100 updates on one sandbox, while a client PUTs through the server."""
    served = start_server(sandbox_path)
    try:
        before = generation(sandbox_path)
        fields = list(FIELDS)
        scripts = shell_scripts(sandbox_path.parent, fields)
        putter = Putter(served, UPDATES)
        putter.start()
        procs = [subprocess.Popen([console_script(), "--sandbox", str(sandbox_path), "-f", str(path)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for path in scripts]
        results = run_all(procs, putter)
    finally:
        assert served.stop() == 0
    assert not putter.failures, putter.failures[:5]
    assert putter.done >= UPDATES
    for code, out, err in results:
        assert (code, err) == (0, ""), err[:500]
        assert out == OK * UPDATES
    # each script writes at least once (in batches); each PUT is one write
    check_state(sandbox_path, expected(fields), putter, before, len(scripts) + putter.done)
    assert "Traceback" not in served.log() and "internal error" not in served.log()


def test_four_rest_shells_and_a_sandbox_shell_while_the_server_answers_puts(sandbox_path):
    """The same through the server: 4 REST shells x 100 PUTs (one write each), a sandbox shell and
    the PUT client, all at once: at least 500 writes, interleaved, none lost."""
    served = start_server(sandbox_path)
    try:
        before = generation(sandbox_path)
        fields = list(FIELDS)
        scripts = shell_scripts(sandbox_path.parent, fields)
        putter = Putter(served, UPDATES)
        putter.start()
        env = dict(os.environ, REDIS_ENTERPRISE_PASSWORD=served.password)
        procs = [subprocess.Popen([console_script(), "--cluster", served.url, "--user", served.user, "--ca-cert",
                                   served.ca_cert, "-f", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env) for path in scripts]
        local = sandbox_path.parent / "local.rla"
        local.write_text("".join(f"cluster config min_data_TLS_version {'1.3' if i % 2 else '1.2'}\n"
                                 for i in range(UPDATES)))
        procs.append(subprocess.Popen([console_script(), "--sandbox", str(sandbox_path), "-f", str(local)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        results = run_all(procs, putter)
    finally:
        assert served.stop() == 0
    assert not putter.failures, putter.failures[:5]
    for code, out, err in results:
        assert (code, err) == (0, ""), err[:500]
        assert out == OK * UPDATES
    want = expected(fields)
    want["min_data_TLS_version"] = "1.3"
    check_state(sandbox_path, want, putter, before, len(fields) * UPDATES + 1 + putter.done)
    assert "Traceback" not in served.log() and "internal error" not in served.log()
