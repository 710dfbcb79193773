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


@functools.lru_cache(maxsize=1)
def _packaged_flags() -> frozenset:
    return _flags(gm.load())


def _flags(g: gm.Grammar) -> frozenset:
    def walk(elements):
        for el in elements:
            if el.kind == "optional":
                yield from walk(el.children)
            elif el.kind == "flag" and el.text.startswith("--"):
                yield el.text

    return frozenset(t for f in g.forms for t in walk(f.elements))


def flags_last(line: str, g: gm.Grammar | None = None) -> tuple[str, dict]:
    """The line with its ``--flags`` moved to the end (their place blanked, so every other word
    keeps its column): ``--json`` may stand anywhere after the command words, as users type it.
    Returns the line and {column in the new line: column in the typed line} for the moved flags.
    ``help`` keeps its words as typed."""
    from .tokens import tokenize

    if "--" not in line:
        return line, {}
    flags = _flags(g) if g is not None else _packaged_flags()
    tokens = tokenize(line)
    words = [t for t in tokens if not (t.text == "rladmin" and t is tokens[0])]
    if not words or words[0].text in ("help", "?"):
        return line, {}
    moving = [t for t in words[1:] if not t.quote and t.text in flags]
    tail = []
    for t in reversed(words):  # flags already at the end stay where they are
        if t in moving and (not tail or tail[-1] is not None):
            tail.append(t)
        else:
            break
    moving = [t for t in moving if t not in tail]
    if not moving:
        return line, {}
    out, where = list(line), {}
    for t in moving:
        out[t.start:t.end] = " " * (t.end - t.start)
    new = "".join(out).rstrip()
    for t in moving:
        new += " "
        where[len(new) + 1] = t.start + 1
        new += t.text
    return new, where


def parse(line: str, p=None) -> Command:
    """Parse one command line (without comments). Raises :class:`CommandSyntaxError`.

    ``p``: a parser from :func:`build_parser` (tests); by default the packaged grammar's, with
    results cached by line text (long scripts repeat lines; the shell re-validates per keystroke).
    """
    if "\x00" in line:
        raise CommandSyntaxError("NUL byte in the line", line, line.index("\x00") + 1)
    moved, where = flags_last(line) if p is None else (line, {})
    if where:
        try:
            cmd = parse(moved)
        except CommandSyntaxError as err:
            col = where.get(err.col, err.col if err.col <= len(line) else len(line) + 1)
            raise CommandSyntaxError(err.message, line, col) from None
        return Command(cmd.handler, cmd.args, cmd.form, line)
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
