"""Parsing a command line: the walker's fast match first, pyparsing for everything else.

Valid lines are matched against the grammar data by :func:`.walker.match` (no pyparsing
import); any other line goes to the pyparsing parser of :mod:`.pyparse`, which gives the error
message and column. A differential test keeps the two in agreement.
"""
from __future__ import annotations

import functools

from . import grammar as gm
from .syntax import Command, CommandSyntaxError


def build_parser(g: gm.Grammar):
    """A pyparsing parser for any grammar (the packaged one, or one made in a test)."""
    from . import pyparse

    return pyparse.build_parser(g)


@functools.lru_cache(maxsize=None)
def parser():
    """The packaged grammar's pyparsing parser (built on first use, once per process)."""
    return build_parser(gm.load())


@functools.lru_cache(maxsize=4096)
def _parse_cached(line: str):
    return _parse_slow(parser(), line)


def _parse_slow(p, line: str):
    from . import pyparse

    return pyparse.parse_with(p, line)


def parse(line: str, p=None) -> Command:
    """Parse one command line (without comments). Raises :class:`CommandSyntaxError`.

    ``p``: a parser from :func:`build_parser` (tests); by default the packaged grammar's, with
    results cached by line text (long scripts repeat lines; the shell re-validates per keystroke).
    """
    if "\x00" in line:
        raise CommandSyntaxError("NUL byte in the line", line, line.index("\x00") + 1)
    if p is None:
        from .walker import match

        found = match(line)
        if found is not None:
            form, args = found
            return Command(form.handler, args, form, line)
    out = _parse_cached(line) if p is None else _parse_slow(p, line)
    if isinstance(out, CommandSyntaxError):
        raise CommandSyntaxError(out.message, out.line, out.col)
    return Command(out.handler, dict(out.args), out.form, line)
