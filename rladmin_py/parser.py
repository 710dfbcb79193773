"""Parsing a command line: the fast pure-Python match first, pyparsing for everything else.

Valid lines are matched against the grammar data by :mod:`rladmin_py.matcher` (no pyparsing
import); any other line goes to the pyparsing parser of :mod:`rladmin_py.ppgrammar`, which
gives the error message and column. A differential test keeps the two in agreement.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from . import grammar as gm


@dataclass(frozen=True)
class Command:
    """A parsed command line: which handler to call, with which arguments."""

    handler: str
    args: dict = field(default_factory=dict)
    form: gm.Form | None = None
    line: str = ""

    @property
    def tags(self) -> frozenset[str]:
        return self.form.tags if self.form else frozenset()


class CommandSyntaxError(Exception):
    """A line that does not parse; ``col`` is 1-based."""

    def __init__(self, message: str, line: str, col: int):
        message = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in message)
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col

    def caret(self, width: int = 100) -> str:
        """The offending line and a caret under the column, as compilers print them.

        A long line is cut to a window around the column, so a 1 MB line gives two short lines.
        """
        line, col = self.line, self.col
        start = 0
        if len(line) > width:
            start = max(0, min(col - 1 - width // 2, len(line) - width))
            line = ("..." if start else "") + line[start : start + width] + ("..." if start + width < len(self.line) else "")
            col = col - start + (3 if start else 0)
        line = "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in line)
        pad = "".join("\t" if ch == "\t" else " " for ch in line[: col - 1])
        return f"  {line}\n  {pad}^"


def build_parser(g: gm.Grammar):
    """A pyparsing parser for any grammar (the packaged one, or one made in a test)."""
    from . import ppgrammar

    return ppgrammar.build_parser(g)


@functools.lru_cache(maxsize=None)
def parser():
    """The packaged grammar's pyparsing parser (built on first use, once per process)."""
    return build_parser(gm.load())


@functools.lru_cache(maxsize=4096)
def _parse_cached(line: str):
    return _parse_slow(parser(), line)


def _parse_slow(p, line: str):
    from . import ppgrammar

    return ppgrammar.parse_with(p, line)


def parse(line: str, p=None) -> Command:
    """Parse one command line (without comments). Raises :class:`CommandSyntaxError`.

    ``p``: a parser from :func:`build_parser` (tests); by default the packaged grammar's, with
    results cached by line text (long scripts repeat lines; the shell re-validates per keystroke).
    """
    if "\x00" in line:
        raise CommandSyntaxError("NUL byte in the line", line, line.index("\x00") + 1)
    if p is None:
        from .matcher import match

        found = match(line)
        if found is not None:
            form, args = found
            return Command(form.handler, args, form, line)
    out = _parse_cached(line) if p is None else _parse_slow(p, line)
    if isinstance(out, CommandSyntaxError):
        raise CommandSyntaxError(out.message, out.line, out.col)
    return Command(out.handler, dict(out.args), out.form, line)
