"""The fast path for valid lines: match a line against the grammar data without pyparsing.

Importing pyparsing alone costs about seven times a bare interpreter start, so a one-shot
command or a long script would spend most of its time on it. This module accepts exactly the
lines the pyparsing parser accepts, with the same arguments (``tests/test_matcher.py`` checks
that on a golden table and on generated lines), and answers ``None`` for anything else, or
anything unusual; :func:`rladmin_py.parser.parse` then asks pyparsing, which stays the one
authority for what a line means and for every error message and column.
"""
from __future__ import annotations

from . import grammar as gm
from .completion import tokenize, value_ok

_UNUSUAL = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\x00")


class _NoMatch(Exception):
    pass


def _value(g: gm.Grammar, type_name: str, tok) -> object:
    """The argument a value token gives, as the pyparsing parser converts it."""
    if not value_ok(g.type(type_name), tok):
        raise _NoMatch
    return int(tok.value) if type_name == "int" else tok.value


def _keyword(tok, word: str) -> bool:
    return not tok.quote and tok.text == word


def _params(g: gm.Grammar, vt: gm.ValueType, tokens, i: int) -> tuple[dict, int]:
    """``name value`` pairs up to the end of the line; each name once, none read-only."""
    seen: dict = {}
    while i < len(tokens):
        tok = tokens[i]
        param = vt.params.get(tok.text) if not tok.quote else None
        if param is None or param.readonly or param.name in seen or i + 1 >= len(tokens):
            raise _NoMatch
        seen[param.name] = _value(g, param.type, tokens[i + 1])
        i += 2
    if not seen:
        raise _NoMatch
    return seen, i


def _elements(g: gm.Grammar, elements, tokens, i: int, line: str, args: dict) -> int:
    for el in elements:
        if el.kind == "optional":
            first = el.children[0]
            # greedy, like pyparsing's Opt: once its first word is there, the rest is required
            if i < len(tokens) and first.kind != "value" and _keyword(tokens[i], first.text):
                i = _elements(g, el.children, tokens, i, line, args)
            elif first.kind == "value" and (i < len(tokens) or first.type == "text"):
                try:
                    trial: dict = {}
                    i = _elements(g, el.children, tokens, i, line, trial)
                    args.update(trial)
                except _NoMatch:
                    pass
            continue
        if el.kind == "value" and el.type == "text":
            start = tokens[i].start if i < len(tokens) else len(line)
            args[el.dest] = line[start:].strip()
            return len(tokens)
        if i >= len(tokens):
            raise _NoMatch
        tok = tokens[i]
        if el.kind in ("keyword", "flag"):
            if not _keyword(tok, el.text):
                raise _NoMatch
            if el.kind == "flag":
                args[el.dest] = True
            i += 1
        elif g.type(el.type).kind == "params":
            args["params"], i = _params(g, g.type(el.type), tokens, i)
        else:
            args[el.dest] = _value(g, el.type, tok)
            i += 1
    return i


def plain_tokens(line: str):
    """The line's words, or None when it is unusual enough to leave to pyparsing: odd
    whitespace or control characters, or two words with no space between them (``a"b"``)."""
    if _UNUSUAL.intersection(line):
        return None
    tokens = tokenize(line)
    for prev, tok in zip(tokens, tokens[1:]):
        if tok.start == prev.end:
            return None
    return tokens


def match(line: str, g: gm.Grammar | None = None):
    """``(form, args)`` for a line the grammar accepts, else None (then ask pyparsing)."""
    tokens = plain_tokens(line)
    if tokens is None:
        return None
    g = g or gm.load()
    if tokens and _keyword(tokens[0], "rladmin"):
        tokens = tokens[1:]
    if not tokens:
        return None
    for form in g.forms:  # the first form that takes the whole line, as pyparsing's trie does
        args: dict = {}
        try:
            if _elements(g, form.elements, tokens, 0, line, args) == len(tokens):
                return form, args
        except _NoMatch:
            pass
    return None
