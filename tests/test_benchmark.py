"""The benchmark runs end to end (a smoke run: the figures themselves are not asserted here;
speed goals live in benchmarks/run.py, not in timed tests)."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_benchmark_smoke_run_reports_every_figure(tmp_path):
    saved = tmp_path / "figures.jsonl"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--json", "--save",
                           str(saved)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    document = json.loads(proc.stdout.strip().splitlines()[-1])
    keys = {row["key"] for row in document["figures"]}
    assert {"oneshot", "version", "help", "first_prompt", "completion_p99", "completion_big_ratio", "check_rate",
            "run_rate", "rest_rate", "server_errors", "preflight", "rss",
            # the sandbox server as users get it: database endpoint, memory, rotation, start-up
            "db_set_ratio", "db_ping_p99", "serve_rss", "rotation_visible", "serve_up", "verify_tls"} <= keys
    assert all(row["result"] in ("PASS", "MISS") for row in document["figures"])
    assert json.loads(saved.read_text())["figures"] == document["figures"]
