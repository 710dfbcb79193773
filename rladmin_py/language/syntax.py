"""What parsing a line gives: a :class:`Command`, or a :class:`CommandSyntaxError` with its column.

Shared by the fast path and the pyparsing parser, so that neither imports the other's module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import grammar as gm
from ..terminal import escape


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
        message = escape(message)  # it quotes the line's words: the one escaping, as every message
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
