"""Words of a command line with their positions: the one tokenizer of the walker, completion
and the fast path (pyparsing has its own token rules, kept equal by the differential tests)."""
from __future__ import annotations

from dataclasses import dataclass

WS = " \t"


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a line, with its position (0-based ``start``, exclusive ``end``).

    ``text`` is the word as typed (quotes included), ``value`` what the parser sees (quotes
    removed, backslash escapes resolved inside double quotes), ``quote`` the opening quote or
    ``""``, ``closed`` False for a quote still open at the end of the line.
    """

    text: str
    value: str
    start: int
    end: int
    quote: str = ""
    closed: bool = True


def tokenize(line: str) -> list[Token]:
    """Split a line like the parser does: space/tab separated; ``"..."`` (with ``\\`` escapes)
    and ``'...'`` are one word; a bare word stops at a quote."""
    out: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in WS:
            i += 1
            continue
        start = i
        if ch in "\"'":
            quote, i, buf, closed = ch, i + 1, [], False
            while i < n:
                c = line[i]
                if quote == '"' and c == "\\" and i + 1 < n:
                    buf.append(line[i + 1])
                    i += 2
                    continue
                if c == quote:
                    i += 1
                    closed = True
                    break
                buf.append(c)
                i += 1
            out.append(Token(line[start:i], "".join(buf), start, i, quote, closed))
            continue
        while i < n and line[i] not in WS and line[i] not in "\"'":
            i += 1
        out.append(Token(line[start:i], line[start:i], start, i))
    return out


def unquote_partial(text: str) -> tuple[str, str]:
    """(value, opening quote) of a word being typed, whose quote may still be open."""
    if not text or text[0] not in "\"'":
        return text, ""
    quote, buf, i = text[0], [], 1
    while i < len(text):
        c = text[i]
        if quote == '"' and c == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            break
        buf.append(c)
        i += 1
    return "".join(buf), quote

