"""Every example script runs, and every transcript replays exactly, against a fresh sandbox."""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, console_script

SCRIPTS = sorted(EXAMPLES.glob("**/*.rla"))
TRANSCRIPTS = sorted(EXAMPLES.glob("transcripts/*.txt"))


def test_there_are_examples():
    assert len(SCRIPTS) >= 2 and TRANSCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(EXAMPLES)) for s in SCRIPTS])
def test_example_script_runs(script, sandbox_path):
    proc = subprocess.run([console_script(), "--sandbox", str(sandbox_path), "-f", script.name],
                          cwd=script.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def parse_transcript(path: Path):
    """[(argv, expected stdout lines, expected stderr lines, exit code)]; '~ ' lines are regexes."""
    steps = []
    for raw in path.read_text().splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        if raw.startswith("$ "):
            argv = shlex.split(raw[2:])
            assert argv[0] == "rladmin-py"
            steps.append([argv[1:], [], [], 0])
        elif raw.startswith("[exit "):
            steps[-1][3] = int(raw[6:-1])
        elif raw.startswith("! "):
            steps[-1][2].append(raw[2:])
        else:
            steps[-1][1].append(raw)
    return steps


def _matches(expected: list[str], actual: list[str]) -> bool:
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        if e.startswith("~ "):
            if not re.fullmatch(e[2:], a):
                return False
        elif e != a:
            return False
    return True


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.name for t in TRANSCRIPTS])
def test_transcript_replays(transcript, sandbox_path):
    for argv, out, err, code in parse_transcript(transcript):
        proc = subprocess.run([console_script(), "--sandbox", str(sandbox_path), *argv], cwd=EXAMPLES,
                              capture_output=True, text=True, timeout=120)
        where = f"{transcript.name}: rladmin-py {shlex.join(argv)}"
        assert proc.returncode == code, f"{where}\n{proc.stderr}"
        assert _matches(out, proc.stdout.splitlines()), f"{where}\nstdout:\n{proc.stdout}"
        assert _matches(err, proc.stderr.splitlines()), f"{where}\nstderr:\n{proc.stderr}"
