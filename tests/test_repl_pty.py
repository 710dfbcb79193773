"""The shell on a real terminal (a pty, through pexpect): what an operator actually sees.

PROMPT_TOOLKIT_NO_CPR=1 (no cursor-position requests to answer), fixed dimensions, generous
timeouts, no sleeps: every step waits for the output it causes. The prompt is matched as
``rladmin>`` (without the trailing space). After Enter, prompt_toolkit redraws the accepted line
(prompt included), so each step first waits for the command's own output, then for the prompt.
"""
from __future__ import annotations

import os
import re
import stat
import sys

import pytest

from conftest import console_script

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 60
PROMPT = "rladmin>"


def _env(**extra) -> dict:
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


@pytest.fixture
def spawn(sandbox_path):
    children = []

    def start(*flags: str, program: list[str] | None = None, **env):
        cmd = program or [console_script(), "--sandbox", str(sandbox_path), *flags]
        child = pexpect.spawn(cmd[0], cmd[1:], env=_env(**env), dimensions=(40, 120), timeout=TIMEOUT,
                              encoding="utf-8", codec_errors="replace")
        children.append(child)
        child.expect_exact(PROMPT)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def leave(child) -> int:
    child.send("exit\r")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def cluster(sandbox_path) -> dict:
    import json

    with open(sandbox_path) as fh:
        return json.load(fh)["cluster"]


def test_tab_completes_a_parameter_name_and_the_command_runs(spawn, sandbox_path):
    child = spawn()
    child.send("cluster config min_data_T")
    child.send("\t")
    child.expect_exact("TLS_version")  # the rest of the name, inserted
    child.expect_exact("TLS 1.3 only")  # and the menu of its values
    child.send("1.3\r")
    child.expect_exact("Cluster configured successfully")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    assert cluster(sandbox_path)["min_data_TLS_version"] == "1.3"


def test_double_tab_lists_certificate_names(spawn):
    child = spawn()
    child.send("cluster certificate set ")
    child.send("\t")
    child.send("\t")
    # the menu, in grammar order (without cursor-position reports the menu gets the reserved rows)
    for name, desc in [("cm", "Cluster Manager UI"), ("api", "REST API (HTTPS, port 9443)"),
                       ("proxy", "database endpoints"), ("syncer", "Replica Of")]:
        child.expect_exact(name)
        child.expect_exact(desc)
    child.send("\x03")  # Ctrl-C: a fresh line
    child.expect_exact(PROMPT)
    assert leave(child) == 0


def test_invalid_line_shows_an_error_with_a_caret_and_the_next_command_works(spawn):
    child = spawn()
    child.send("cluster config min_data_TLS_version 1.5")
    # marked before Enter: the invalid word is drawn in the error style (red). (The toolbar says
    # why, but the renderer redraws only the cells that changed, so its text is checked in
    # test_repl.py rather than here.)
    child.expect(r"\x1b\[[0-9;]*31[0-9;]*m1\.5")
    child.send("\r")
    child.expect_exact("error: column 37: invalid value '1.5' for min_data_TLS_version: expected 1.2 or 1.3")
    child.expect(r"\r\n  cluster config min_data_TLS_version 1\.5\r\n {38}\^\r\n")
    child.expect_exact(PROMPT)
    child.send("info cluster\r")
    child.expect_exact("Cluster configuration:")
    child.expect_exact("min_data_TLS_version: ")
    child.expect_exact(PROMPT)
    assert leave(child) == 0


def test_exit_code_zero_and_history_file_0600(spawn):
    child = spawn()
    child.send("help cluster config\r")
    child.expect_exact("Usage: cluster config")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    path = os.path.join(os.environ["XDG_STATE_HOME"], "rladmin-py", "history")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as fh:
        assert "+help cluster config\n" in fh.read()


def test_ctrl_d_leaves_with_zero(spawn):
    child = spawn()
    child.send("\x04")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_question_mark_shows_what_may_come_next_and_keeps_the_line(spawn, sandbox_path):
    child = spawn()
    child.send("cluster config sentinel_tls_mode ?")
    child.expect_exact("only TLS connections are accepted")
    child.expect_exact("Usage: cluster config")
    child.send("required\r")
    child.expect_exact("Cluster configured successfully")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    assert cluster(sandbox_path)["sentinel_tls_mode"] == "required"


def test_ctrl_r_finds_an_earlier_command(spawn):
    child = spawn()
    child.send("help exit\r")
    child.expect_exact("Usage: exit")
    child.expect_exact(PROMPT)
    child.send("\x12hel")  # Ctrl-R
    child.expect_exact("reverse-i-search")
    child.send("\r")  # take the match
    child.send("\r")  # run it
    child.expect_exact("Usage: exit")
    child.expect_exact(PROMPT)
    assert leave(child) == 0


def test_confirmation_prompt(spawn, sandbox_path, certfactory):
    c = certfactory.leaf()
    child = spawn()
    child.send(f"cluster certificate set proxy certificate_file {c.cert} key_file {c.key}\r")
    child.expect_exact("Replace the proxy certificate on every node of")
    child.expect_exact("[y/N]")
    child.send("y\r")
    child.expect_exact(f"Set proxy certificate to contents of file {c.cert}")
    child.expect_exact(PROMPT)
    assert leave(child) == 0


def test_first_prompt_appears_before_pyparsing_is_imported(spawn, sandbox_path):
    """Completion and highlighting need no pyparsing; the parser is built after the prompt shows."""
    code = (
        "import sys\n"
        "from rladmin_py.shell import repl\n"
        "orig = repl.ParserLoader.start\n"
        "def start(self):\n"
        "    if self._thread is None:\n"
        "        heavy = sorted(m for m in ('pyparsing', 'rladmin_py.language.parser', 'cryptography', 'httpx', 'pygments')\n"
        "                       if m in sys.modules)\n"
        "        sys.stdout.write('\\r\\nHEAVY=%s\\r\\n' % ','.join(heavy or ['none']))\n"
        "    orig(self)\n"
        "repl.ParserLoader.start = start\n"
        "from rladmin_py.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    child = spawn(program=[sys.executable, "-c", code, "--sandbox", str(sandbox_path)])
    child.expect(r"HEAVY=(\S+)")
    assert child.match.group(1) == "none"
    child.send("info cluster\r")
    child.expect_exact("Cluster configuration:")
    child.expect_exact(PROMPT)
    assert leave(child) == 0


def test_no_color_has_no_colour_codes(spawn):
    child = spawn(NO_COLOR="1")
    child.send("cluster config bogus")
    child.send("\r")
    child.expect_exact("error: column 16: unknown cluster config parameter 'bogus'")
    out = child.before  # everything drawn since the first prompt: banner, highlighting, toolbar
    assert "bogus" in out
    assert not re.search(r"\x1b\[[0-9;]*(3[0-7]|38;|4[0-7]|48;|9[0-7])[0-9;]*m", out)
    child.expect_exact(PROMPT)
    assert leave(child) == 0


# -- a wrong password on a live cluster: asked again, never kept ----------------------------------------
def test_a_wrong_password_is_asked_again_and_the_next_line_is_not_kept(spawn, sandbox_path):
    from rladmin_py.paths import history as history_path
    from test_server import start_server

    served = start_server(sandbox_path)
    try:
        program = [console_script(), "--cluster", served.url, "--user", served.user, "--ca-cert", served.ca_cert]
        child = spawn(program=program, REDIS_ENTERPRISE_PASSWORD="not-the-password")
        child.send("info cluster\r")
        child.expect_exact("(try 1 of 3):")  # after the 401
        child.send(served.password + "\r")
        child.expect_exact("Cluster configuration:")
        child.expect_exact(PROMPT)
        assert leave(child) == 0
        child = spawn(program=program, REDIS_ENTERPRISE_PASSWORD="not-the-password")
        child.send("info cluster\r")
        for attempt in (1, 2, 3):
            child.expect_exact(f"(try {attempt} of 3):")
            child.send("still-wrong\r")
        child.expect_exact("authentication still fails")
        child.expect_exact(PROMPT)
        child.send("horse battery staple correct\r")  # the password, typed at rladmin> by mistake: not kept
        child.expect_exact(PROMPT)
        assert leave(child) == 0
    finally:
        served.stop()
    kept = open(history_path(), encoding="utf-8").read()
    assert "info cluster" in kept and "horse battery" not in kept and "still-wrong" not in kept
    assert served.password not in kept
