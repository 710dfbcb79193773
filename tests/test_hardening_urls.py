"""Hardening (issue 14), item 5: passwords in URLs. ``--cluster https://admin:Secret@host`` (and
``REDIS_ENTERPRISE_URL``, ``http://``, ``ftp://``, bad ports) never shows the password, the
banner shows the URL without its userinfo, and a URL holding a password is refused unless the
user confirms at a terminal. Through the console script, loopback only, every process stopped.
"""
from __future__ import annotations

import argparse
import os
import subprocess
from urllib.parse import quote

import pytest

from conftest import console_script

PASSWORD = "S3cr3tPw"
NEEDLES = ("S3cr", "3tPw")  # no part of the password, whatever was cut where
REFUSED = ("error: the cluster URL must not hold credentials: its password would stay in your shell history and show "
           "to every user in ps; give the URL without it and the password in REDIS_ENTERPRISE_PASSWORD, or let "
           "rladmin-py prompt for it\n")

URLS = {
    "http": (f"http://admin:{PASSWORD}@cluster.example", "error: http://cluster.example: plain http:// is refused"),
    "ftp": (f"ftp://admin:{PASSWORD}@cluster.example", "error: ftp://cluster.example: unsupported URL scheme 'ftp'"),
    "port out of range": (f"https://admin:{PASSWORD}@cluster.example:99999",
                          "error: https://cluster.example:99999: not a valid cluster URL"),
    "port not a number": (f"https://admin:{PASSWORD}@cluster.example:abc",
                          "error: https://cluster.example:abc: not a valid cluster URL"),
    "a slash in the password": ("https://admin:S3cr/3tPw@cluster.example:9443", "error: "),
    "an @ in the password": ("https://admin:S3cr@3tPw@cluster.example:9443", "error: "),
    "a query": (f"https://admin:{PASSWORD}@cluster.example/?x=1", "error: https://cluster.example/?x=1: "),
    "no scheme": (f"admin:{PASSWORD}@cluster.example", "error: "),
    "well formed": (f"https://admin:{PASSWORD}@127.0.0.1:9", REFUSED),
}


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **(env or {})))


def assert_no_password(text: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, text


@pytest.mark.parametrize("where", ["--cluster", "REDIS_ENTERPRISE_URL"])
@pytest.mark.parametrize("case", list(URLS))
def test_a_password_in_the_url_is_never_shown(case, where):
    url, expected = URLS[case]
    if where == "--cluster":
        r = run("--cluster", url, "--user", "admin", "info", "cluster")
    else:
        r = run("info", "cluster", env={"REDIS_ENTERPRISE_URL": url, "REDIS_ENTERPRISE_USER": "admin"})
    assert r.returncode == 3, r.stderr
    assert_no_password(r.stdout + r.stderr)
    assert r.stderr.startswith(expected) and r.stderr.count("\n") == 1, r.stderr


def test_a_confirmed_password_in_the_url_is_still_never_shown(sandbox_path):
    """The resolution in-process, with a confirm that says yes: the URL, the target and the
    session's repr hold no password; the user and password are the URL's."""
    from rladmin_py.backends import connection

    args = argparse.Namespace(cluster=f"https://ops%40example.com:{quote('p@ss/w:rd', safe='')}@cluster.example",
                              user=None, profile=None, ca_cert=None, insecure=False, timeout=None, sandbox=None)
    asked = []
    target = connection.resolve(args, environ={}, confirm=lambda question: asked.append(question) or True)
    assert (target.url, target.user, target.password) == ("https://cluster.example:9443", "ops@example.com", "p@ss/w:rd")
    assert len(asked) == 1 and "p@ss" not in asked[0] and "https://cluster.example:9443" in asked[0]
    assert "p@ss" not in repr(target)
    no = lambda question: False  # noqa: E731
    with pytest.raises(connection.ConfigurationProblem, match="^not connecting: the password in the cluster URL"):
        connection.resolve(args, environ={}, confirm=no)


@pytest.mark.parametrize("url", [f"https://admin:{PASSWORD}@cluster.example:9443", f"ftp://admin:{PASSWORD}@h",
                                 f"https://admin:{PASSWORD}@h:99999"])
def test_the_banner_target_strips_userinfo(url):
    from rladmin_py.shell.prompt import describe_target

    args = argparse.Namespace(cluster=url, profile=None, sandbox=None, user=None)
    shown = describe_target(args)
    assert_no_password(shown)
    assert shown.startswith("cluster ") and "admin" not in shown


# -- on a terminal -------------------------------------------------------------------------------
try:
    import pexpect
except ImportError:  # pragma: no cover - pexpect is a test dependency
    pexpect = None
needs_pexpect = pytest.mark.skipif(pexpect is None, reason="pexpect is not installed")


def spawn(*argv: str):
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    return pexpect.spawn(console_script(), list(argv), env=env, dimensions=(40, 200), timeout=60, encoding="utf-8",
                         codec_errors="replace")


def finish(child) -> tuple[str, int]:
    try:
        child.expect(pexpect.EOF)
        out = child.before
        child.close()
        return out, child.exitstatus
    finally:
        if child.isalive():
            child.terminate(force=True)


@needs_pexpect
def test_the_shell_banner_never_shows_the_password():
    child = spawn("--cluster", f"https://admin:{PASSWORD}@127.0.0.1:9", "--user", "admin")
    try:
        child.expect_exact("rladmin>")
        banner = child.before
        child.send("exit\r")
        rest, code = finish(child)
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert "cluster https://127.0.0.1:9" in banner, banner
    assert_no_password(banner + rest)
    assert code == 0


@needs_pexpect
def test_a_password_in_the_url_is_refused_unless_confirmed_at_the_terminal(sandbox_path):
    from test_server import start_server

    served = start_server(sandbox_path)
    try:
        user, password = quote(served.user, safe=""), quote(served.password, safe="")
        url = f"https://{user}:{password}@127.0.0.1:{served.port}"
        # no: refused, nothing sent
        child = spawn("--cluster", url, "--ca-cert", served.ca_cert, "info", "cluster")
        child.expect_exact("Use it anyway? [y/N] ")
        child.send("n\r")
        out, code = finish(child)
        assert code == 3 and "error: not connecting: the password in the cluster URL was not used" in out, out
        # yes: the URL's user and password are used, and shown nowhere
        child = spawn("--cluster", url, "--ca-cert", served.ca_cert, "info", "cluster")
        child.expect_exact("Use it anyway? [y/N] ")
        question = child.before
        child.send("y\r")
        out, code = finish(child)
        assert code == 0, out  # info cluster answered, with the URL's credentials
        assert "TLS" in out
        for text in (question, out):
            assert served.password not in text and password not in text
    finally:
        assert served.stop() == 0
