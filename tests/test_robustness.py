"""Bad input and crashes: only the project's own clear errors, never a traceback, never a torn state."""
from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import console_script
from rladmin_py import commands, context, script
from rladmin_py.language import grammar as gm, parser
from rladmin_py.backends.sandbox import SandboxBackend
from rladmin_py.runner import Printer

WORDS = sorted({w for f in gm.load().forms for w in f.notation.replace("[", " ").replace("]", " ").split()}
               | set(gm.load().type("cluster_config").params) | set(gm.load().type("certificate_name").choices)
               | {"1.2", "1.3", "1.1", "enabled", "disabled", "required", "'", '"', "rladmin", "--json", "x y"})

grammarish = st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=12).map(" ".join)
anytext = st.text(max_size=200)


@settings(max_examples=600, deadline=None)
@given(st.one_of(grammarish, anytext))
def test_parser_raises_only_its_own_error(line):
    try:
        cmd = parser.parse(line)
    except parser.CommandSyntaxError as err:
        assert 1 <= err.col <= len(line) + 1
        assert "\n" not in err.message
        return
    assert cmd.handler in commands.HANDLERS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(grammarish, anytext), max_size=6).map("\n".join))
def test_script_runner_never_raises(sandbox_path, tmp_path, text):
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(out=out, err=err)
    lines = script.parse_script("t.rla", text, printer)
    if lines is None:
        assert ": error: " in err.getvalue()
        return
    # run only what cannot write outside the test's directories
    lines = [sl for sl in lines if sl.command.handler not in ("sandbox_make_certs",)]
    ctx = context.Context(open_backend=lambda: SandboxBackend(str(sandbox_path)), note=printer.note)
    try:
        code = script.run_script(ctx, "t.rla", lines, printer)
    finally:
        ctx.close()
    assert code in (0, 1)
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()
    json.loads(sandbox_path.read_text())


HOSTILE = [
    # (description, script bytes, exit code, fragment of stderr)
    ("unbalanced double quote", b'cluster config data_cipher_list "HIGH:!MD5\n', 2, 'unterminated quote "'),
    ("unbalanced single quote", b"cluster certificate set api certificate_file '/tmp/x.pem\n", 2, "unterminated quote '"),
    ("NUL byte", b"cluster config min_data_TLS_version 1.2\x00\n", 2, "NUL byte"),
    ("1 MB line", b"cluster config data_cipher_list " + b"A" * (1 << 20) + b" x\n", 2, "unknown cluster config parameter 'x'"),
    ("unknown parameter", b"cluster config min_tls 1.2\n", 2, "unknown cluster config parameter 'min_tls'"),
    ("repeated parameter", b"cluster config http_support enabled http_support disabled\n", 2, "given more than once"),
    ("value where a keyword belongs", b"cluster certificate set proxy /tmp/c.pem\n", 2, "expected certificate_file"),
    ("keyword where a value belongs", b"cluster config min_data_TLS_version min_data_TLS_version\n", 2,
     "invalid value 'min_data_TLS_version'"),
    ("non-UTF-8", b"info cluster\ncluster config data_cipher_list \xff\xfe\n", 2, ":2: error: not UTF-8"),
    ("control characters", b"cluster config \x1b[31m 1.2\n", 2, "unknown cluster config parameter"),
    ("only whitespace and comments", b"  \n\t\n# x\n", 0, ""),
]


@pytest.mark.parametrize("what,data,code,fragment", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_lines(rladmin, sandbox, tmp_path, what, data, code, fragment):
    path = tmp_path / "hostile.rla"
    path.write_bytes(data)
    before = sandbox.get_cluster()
    r = rladmin("-f", str(path))
    assert r.returncode == code, r.stderr[:500]
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr) < 1000  # an error about a 1 MB line is short
    assert sandbox.get_cluster() == before


def test_sigkill_never_loses_a_reported_command_or_tears_the_file(sandbox_path, tmp_path):
    """Kill a long script at random points: the state file always loads, and every command reported
    successful is in it (each line sets a unique value; the file holds one at least as late)."""
    n = 20000
    path = tmp_path / "long.rla"
    path.write_text("".join(f"cluster config data_cipher_list HIGH:!x{i}\n" for i in range(n)))
    rng = random.Random(1234)
    kills = 0
    for attempt in range(24):
        proc = subprocess.Popen([console_script(), "--sandbox", str(sandbox_path), "-f", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        reported = 0
        target = rng.randrange(0, n)
        killer = None
        if attempt % 2:  # half the kills land at a random moment, the other half after some output
            killer = threading.Timer(rng.uniform(0.0, 0.3), proc.send_signal, (signal.SIGKILL,))
            killer.start()
        for line in proc.stdout:
            reported += 1
            if killer is None and reported >= target:
                proc.send_signal(signal.SIGKILL)
                break
        proc.stdout.close()
        proc.wait(timeout=60)
        if killer is not None:
            killer.cancel()
        kills += proc.returncode == -signal.SIGKILL
        state = json.loads(sandbox_path.read_text())  # never torn
        value = state["cluster"]["data_cipher_list"]
        if reported:
            assert value.startswith("HIGH:!x"), value
            assert int(value.split("!x")[1]) >= reported - 1
        assert (os.stat(sandbox_path).st_mode & 0o777) == 0o600
    assert kills >= 20
