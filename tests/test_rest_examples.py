"""examples/rest/serve-and-connect.sh runs and every step ends as the script expects."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import EXAMPLES, console_script

SCRIPT = EXAMPLES / "rest" / "serve-and-connect.sh"


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("python3") is None,
                    reason="the walkthrough needs sh and python3")
def test_serve_and_connect_walkthrough(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, RLADMIN=console_script(), TMPDIR=str(tmp))
    proc = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 unexpected exit code(s)" in proc.stdout
    assert "Traceback" not in proc.stderr and "PRIVATE KEY" not in proc.stdout + proc.stderr
    assert "not all nodes were updated" in proc.stderr and "safe to retry" in proc.stderr
    assert "TLS verification failed" in proc.stderr and "warning: TLS verification is off" in proc.stderr
    assert not any(tmp.iterdir())  # the walkthrough cleaned up after itself
