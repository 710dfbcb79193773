"""Whole interactive sessions, in process: prompt_toolkit pipe input and DummyOutput.

Keys are sent up front ("\\r" is Enter, "\\t" Tab, "\\x03" Ctrl-C, "\\x04" Ctrl-D, "\\x15" Ctrl-U);
prompt_toolkit keeps what one prompt did not read for the next one.
"""
from __future__ import annotations

import re
import io
import json
import os
import stat
import subprocess
import sys

import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.output.color_depth import ColorDepth

import rladmin_py
from rladmin_py import cli
from rladmin_py.shell import repl
from rladmin_py.runner import Printer


class Session:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


def args_for(sandbox_path, *extra):
    return cli.build_argparser().parse_args(["--sandbox", str(sandbox_path), *extra])


@pytest.fixture
def shell(sandbox_path):
    """shell(keys, *flags) runs a whole session on this test's sandbox."""

    def run(keys: str, *flags: str) -> Session:
        out, err = io.StringIO(), io.StringIO()
        with create_pipe_input() as inp:
            inp.send_text(keys)
            code = repl.run(args_for(sandbox_path, *flags), Printer(out, err), input=inp, output=DummyOutput())
        return Session(code, out.getvalue(), err.getvalue())

    return run


def state(sandbox_path) -> dict:
    with open(sandbox_path) as fh:
        return json.load(fh)


def history_file(home) -> str:
    return os.path.join(os.environ["XDG_STATE_HOME"], "rladmin-py", "history")


def test_banner_command_and_exit(shell, sandbox_path):
    s = shell("cluster config min_data_TLS_version 1.3\rexit\r")
    assert s.code == 0, s.err
    first, second = s.out.splitlines()[:2]
    assert first == f"rladmin-py {rladmin_py.__version__} - sandbox {sandbox_path}"
    assert second == "Use <?> for help at any time, <TAB> for command completion."
    assert "Cluster configured successfully" in s.out
    assert state(sandbox_path)["cluster"]["min_data_TLS_version"] == "1.3"


@pytest.mark.parametrize("leave", ["exit\r", "quit\r", "\x04", "rladmin exit\r"])
def test_leaving_exits_zero(shell, leave):
    s = shell("info cluster\r" + leave + "info cluster\r")
    assert s.code == 0
    assert s.out.count("Cluster configuration:") == 1  # nothing after leaving


def test_tab_completes_and_the_command_runs(shell, sandbox_path):
    s = shell("cluster config min_d\t1.3 encrypt_p\tdisabled\rexit\r")
    assert s.code == 0, s.err
    cluster = state(sandbox_path)["cluster"]
    assert cluster["min_data_TLS_version"] == "1.3"
    assert cluster["encrypt_pkeys"] is False


def test_tab_in_the_middle_of_a_line(shell, sandbox_path):
    # type the value first, go back (Ctrl-A, then right arrows), complete the parameter name there
    keys = "cluster config  1.3" + "\x01" + "\x1b[C" * 15 + "min_da\t" + "\r" + "exit\r"
    s = shell(keys)
    assert s.code == 0, s.err
    assert state(sandbox_path)["cluster"]["min_data_TLS_version"] == "1.3"


def test_invalid_line_prints_the_script_mode_error_and_goes_on(shell, sandbox_path):
    s = shell("cluster config min_data_TLS_version 1.5\rcluster config min_data_TLS_version 1.3\rexit\r")
    assert s.code == 0
    assert s.err.splitlines()[:3] == [
        "error: column 37: invalid value '1.5' for min_data_TLS_version: expected 1.2 or 1.3",
        "  cluster config min_data_TLS_version 1.5",
        "                                      ^",
    ]
    assert state(sandbox_path)["cluster"]["min_data_TLS_version"] == "1.3"


def test_failing_command_reports_and_goes_on(shell):
    s = shell("cluster certificate set api certificate_file /nonexistent/c.pem\rhelp nosuchcommand\rinfo cluster\rexit\r")
    assert s.code == 0
    assert s.err.count("error: ") == 2
    assert "Cluster configuration:" in s.out


def test_ctrl_c_clears_the_line(shell, sandbox_path):
    s = shell("cluster config min_data_TLS_version 1.3\x03info cluster\rexit\r")
    assert s.code == 0
    assert "Cluster configured successfully" not in s.out
    assert "Cluster configuration:" in s.out
    assert state(sandbox_path)["cluster"]["min_data_TLS_version"] != "1.3"


def test_question_mark_shows_what_comes_next_and_keeps_the_line(shell, sandbox_path):
    s = shell("cluster config ?min_data_TLS_version ?1.3\rexit\r")
    assert s.code == 0, s.err
    assert re.search(r"\n  sentinel_tls_mode +TLS mode of the discovery service", s.out)
    assert "Usage: cluster config <parameter> <value> [ <parameter> <value> ... ] [ --json ]" in s.out
    assert "  1.3  TLS 1.3 only" in s.out
    assert state(sandbox_path)["cluster"]["min_data_TLS_version"] == "1.3"  # the line ran, without '?'


def test_question_mark_on_an_empty_line_lists_the_commands(shell):
    s = shell("?exit\r")
    assert "Commands:" in s.out and "cluster config <parameter> <value>" in s.out


def test_question_mark_after_a_mistake_names_it(shell):
    s = shell("cluster bogus ?\x15exit\r")
    assert "error: column 9: expected certificate, config or ocsp, found 'bogus'" in s.out


def test_question_mark_inside_quotes_is_literal(shell):
    s = shell("help 'what?'\rexit\r")
    assert "?" in s.err  # help got the word with its '?': no such command
    with open(history_file(None)) as fh:
        assert "+help 'what?'\n" in fh.read()


def test_help_commands(shell):
    s = shell("help\rhelp cluster config\rhelp cluster certificate set\rexit\r")
    assert s.code == 0, s.err
    assert "Commands:" in s.out
    assert "Usage: cluster config <parameter> <value> [ <parameter> <value> ... ] [ --json ]" in s.out
    assert "Usage: cluster certificate set <certificate_name> certificate_file <path> [ key_file <path> ]" in s.out


def test_confirmation_is_asked_and_no_cancels(shell, sandbox_path, certfactory):
    c = certfactory.leaf()
    before = state(sandbox_path)["certificates"]["proxy"]["cert"]
    line = f"cluster certificate set proxy certificate_file {c.cert} key_file {c.key}\r"
    s = shell(line + "n\r" + "exit\r")
    assert s.code == 0
    assert "cancelled: nothing was changed" in s.err and "error" not in s.err  # an answer, not an error
    assert state(sandbox_path)["certificates"]["proxy"]["cert"] == before
    s = shell(line.replace("\r", " --json\r") + "n\r" + "exit\r")  # with --json: a document says so
    assert '{"ok": false, "cancelled": true, "message": "cancelled: nothing was changed"}' in s.out
    assert state(sandbox_path)["certificates"]["proxy"]["cert"] == before
    s = shell(line + "y\r" + "exit\r")
    assert f"Set proxy certificate to contents of file {c.cert}" in s.out, s.err
    assert state(sandbox_path)["certificates"]["proxy"]["cert"].startswith(c.issued.cert_pem)


def test_yes_flag_skips_the_confirmation(shell, sandbox_path, certfactory):
    c = certfactory.leaf()
    s = shell(f"cluster certificate set proxy certificate_file {c.cert} key_file {c.key}\rexit\r", "-y")
    assert f"Set proxy certificate to contents of file {c.cert}" in s.out, s.err
    assert state(sandbox_path)["certificates"]["proxy"]["cert"].startswith(c.issued.cert_pem)


def test_history_file_mode_and_secrets(shell):
    s = shell("info cluster\rhelp password\rhelp -----BEGIN\rcluster config min_data_TLS_version 1.2\rexit\r")
    assert s.code == 0
    path = history_file(None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path) as fh:
        text = fh.read()
    assert "+info cluster\n" in text and "+cluster config min_data_TLS_version 1.2\n" in text
    assert "password" not in text and "BEGIN" not in text


def test_existing_history_file_mode_is_fixed_and_used(shell):
    path = history_file(None)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write("\n# old\n+cluster config min_data_TLS_version 1.3\n")
    os.chmod(path, 0o644)
    s = shell("\x1b[A\rexit\r")  # Up: the remembered line
    assert s.code == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "Cluster configured successfully" in s.out


def test_never_a_prompt_session_without_a_terminal(sandbox_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    err = io.StringIO()
    built = []
    monkeypatch.setattr(repl, "PromptSession", lambda *a, **k: built.append(1))
    assert repl.run(args_for(sandbox_path), Printer(io.StringIO(), err)) == 2
    assert not built
    assert "needs a terminal" in err.getvalue()


# -- the widgets, through a Shell built on a pipe -------------------------------------------------
@pytest.fixture
def built(sandbox_path):
    with create_pipe_input() as inp:
        s = repl.Shell(args_for(sandbox_path), Printer(io.StringIO(), io.StringIO()), input=inp, output=DummyOutput())
        yield s
        s.ctx.close()


def test_toolbar_target_usage_and_error(built, sandbox_path):
    text = "".join(t for _, t in built.toolbar())
    assert f"sandbox {sandbox_path}" in text and "<TAB> completes" in text
    text = "".join(t for _, t in built.toolbar_for("cluster config min", width=400))
    assert text.startswith(" cluster config <parameter> <value> [ <parameter> <value> ... ] [ --json ]")
    assert text.endswith(f" sandbox {sandbox_path} ") and len(text) == 400
    text = "".join(t for _, t in built.toolbar_for("cluster config min", width=60))
    assert text.startswith(" cluster config <parameter>") and len(text) <= 60  # the usage shortened at a space
    assert " ..." in text and not text.split(" ...")[0].endswith(("<", "[", "<param"))
    for width in (80, 50):  # an error is never cut: wrapped at spaces
        parts = built.toolbar_for("cluster config min_data_TLS_version 1.5", width=width)
        error = next(t for style, t in parts if style == "class:toolbar.error")
        assert all(len(line) < width for line in error.splitlines())
        assert " ".join(error.split()) == \
            "error: column 37: invalid value '1.5' for min_data_TLS_version: expected 1.2 or 1.3"
        assert width < 80 or any("expected 1.2 or 1.3" in line for line in error.splitlines())


def test_toolbar_uses_the_parser_once_built(built):
    built.loader.start()
    built.loader.wait()
    assert built.loader.ready and built.loader.parse is not None
    text = "".join(t for _, t in built.toolbar_for("cluster certificate set ap x"))
    assert "error: column 25: unknown certificate name 'ap'" in text  # the parser's own words


def test_lexer_marks_roles_and_the_invalid_word(built):
    frags = built.session.lexer.lex_document(Document("cluster config foo 1.3"))(0)
    assert frags == [("class:keyword", "cluster"), ("", " "), ("class:keyword", "config"), ("", " "),
                     ("class:invalid", "foo"), ("", " "), ("", "1.3")]
    assert "".join(t for _, t in frags) == "cluster config foo 1.3"


def test_no_color(sandbox_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    with create_pipe_input() as inp:
        s = repl.Shell(args_for(sandbox_path), Printer(io.StringIO(), io.StringIO()), input=inp, output=DummyOutput())
        assert s.session.app.color_depth == ColorDepth.DEPTH_1_BIT
    monkeypatch.setenv("NO_COLOR", "")
    with create_pipe_input() as inp:
        s = repl.Shell(args_for(sandbox_path), Printer(io.StringIO(), io.StringIO()), input=inp, output=DummyOutput())
        assert s.session.color_depth is None  # the terminal decides


@pytest.mark.parametrize("argv,env,expected", [
    (["--sandbox", "/tmp/s.json"], {}, "sandbox /tmp/s.json"),
    (["--cluster", "https://c:9443", "--user", "ops@x"], {}, "cluster https://c:9443 as ops@x"),
    ([], {"REDIS_ENTERPRISE_URL": "https://e:9443", "REDIS_ENTERPRISE_USER": "u"}, "cluster https://e:9443 as u"),
    (["--profile", "missing"], {}, "profile missing"),
    (["--cluster", "c.example.com"], {}, "cluster https://c.example.com:9443"),
    ([], {}, None),
])
def test_describe_target(argv, env, expected, monkeypatch):
    """Computed from flags, environment and profile without opening a connection."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = cli.build_argparser().parse_args(argv)
    if expected is None:
        from rladmin_py.sandbox.store import default_path

        expected = f"sandbox {default_path()}"
    assert repl.describe_target(args) == expected


def test_describe_target_reads_a_profile(isolated_env):
    config = isolated_env / ".config" / "rladmin-py"
    config.mkdir(parents=True)
    (config / "config.toml").write_text('[profiles.prod]\nurl = "https://prod.example.com:9443"\nuser = "ops@example.com"\n')
    args = cli.build_argparser().parse_args(["--profile", "prod"])
    assert repl.describe_target(args) == "cluster https://prod.example.com:9443 as ops@example.com (profile prod)"


def test_piped_input_never_starts_the_shell(rladmin):
    r = rladmin(input="info cluster\n")
    assert r.returncode == 0, r.stderr
    assert "Cluster configuration:" in r.stdout
    assert "rladmin>" not in r.stdout + r.stderr and "\x1b[" not in r.stdout + r.stderr


def test_other_modes_do_not_import_prompt_toolkit(sandbox_path):
    code = ("import sys; from rladmin_py.cli import main; code = main(['--sandbox', sys.argv[1], 'info', 'cluster']);"
            "print('PT' if any(m.startswith('prompt_toolkit') for m in sys.modules) else 'no-PT', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(sandbox_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("no-PT")


def test_sandbox_reset_asks_first_in_the_shell(shell, sandbox_path):
    before = state(sandbox_path)["admin"]["password"]
    s = shell("sandbox reset\rn\rexit\r")
    assert "cancelled: nothing was changed" in s.err
    assert state(sandbox_path)["admin"]["password"] == before
    s = shell("sandbox reset\ry\rexit\r")
    assert "Sandbox reset" in s.out
    assert state(sandbox_path)["admin"]["password"] != before
