"""What the shell shows before prompt_toolkit is loaded: the banner and the first prompt.

Importing prompt_toolkit takes several times a bare interpreter start; drawing the banner and
the prompt first lets the operator start typing at once (keystrokes wait in the terminal and
the real prompt picks them up). Nothing here imports prompt_toolkit, pyparsing or a backend.
"""
from __future__ import annotations

import os
import sys

from .. import __version__, paths

PROMPT = "rladmin> "
HELP_LINE = "Use <?> for help at any time, <TAB> for command completion."


def no_color() -> bool:
    """https://no-color.org: set and not empty."""
    return bool(os.environ.get("NO_COLOR"))


def describe_target(args) -> str:
    """The banner's and toolbar's target, computed without opening anything: the sandbox path,
    or the cluster URL and user as backends/connection.py would choose them."""
    url = getattr(args, "cluster", None) or os.environ.get("REDIS_ENTERPRISE_URL")
    profile = getattr(args, "profile", None)
    # connection.uses_sandbox, written out: importing it here would slow the first prompt
    if getattr(args, "sandbox", None) or not (url or profile):
        return f"sandbox {getattr(args, 'sandbox', None) or paths.sandbox_state()}"
    from ..backends.connection import load_profile, named, normalize_url  # a live cluster: the banner can wait

    data: dict = {}
    if profile:
        try:  # a local TOML file: cheap, and no network
            data = load_profile(profile)
        except Exception:  # the first command reports a broken profile properly
            pass
    url, user = named(args, os.environ, data)
    if not url:
        return f"profile {profile}"
    try:
        url = normalize_url(url)
    except Exception:
        pass
    where = f"cluster {url}" + (f" as {user}" if user else "")
    return f"{where} (profile {profile})" if profile else where


def banner(target: str) -> str:
    return f"rladmin-py {__version__} - {target}\n{HELP_LINE}"


def greeting_text(target: str) -> str:
    """The banner, and a word when the first command will create the sandbox."""
    text = banner(target)
    if target.startswith("sandbox ") and not os.path.exists(target[len("sandbox "):]):
        text += "\nThe sandbox does not exist yet: the first command creates it (a few seconds)."
    return text


def predraw(args, out, stdin=None) -> str:
    """Write the banner and the prompt now; returns the target (for the session's toolbar).

    The terminal leaves line mode at once (no echo, no line buffering, as prompt_toolkit will
    set it): keys typed before prompt_toolkit is ready reach it as typed, Ctrl-D included. The
    terminal's own settings come back when the process ends.
    """
    target = describe_target(args)
    _keys_as_typed(stdin if stdin is not None else sys.stdin)
    out.write(greeting_text(target) + "\n" + PROMPT)
    out.flush()
    return target


def _keys_as_typed(stream) -> None:
    try:
        import atexit
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
        mode = termios.tcgetattr(fd)
        mode[3] &= ~(termios.ICANON | termios.ECHO)
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(fd, termios.TCSANOW, mode)
        atexit.register(termios.tcsetattr, fd, termios.TCSANOW, saved)
    except (OSError, ValueError, ImportError):  # not a terminal: nothing to do
        pass
