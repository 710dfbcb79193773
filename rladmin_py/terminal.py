"""Untrusted text made safe to show on a terminal: the one escaping function of the package.

Certificate fields (CN, SANs, issuer), file names, a live cluster's answers and names, and the
request lines the ``--serve`` log shows all come from somewhere else; written raw, an ``ESC ]``
or ``ESC [`` in them would retitle the window, clear the screen or fake a line of output, and a
bidi override (U+202E) would show text in another order than it is. :func:`escape` turns every
character that is not ordinary printable text into a visible escape (``\\x1b``, ``\\x9b``,
``\\u202e``); everything else, non-ASCII letters included, is kept. JSON output needs none of
this (``json.dumps`` escapes these characters itself) and is left exact.
"""
from __future__ import annotations

import re
import unicodedata

#: Unicode categories never written raw: controls (C0, DEL, C1), format characters (bidi
#: overrides and isolates, zero-width characters, soft hyphen), surrogates, private use,
#: unassigned code points, and the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: Printable ASCII (space to ~) is by far the common case: no lookup for it.
_PLAIN = re.compile(r"[\x20-\x7e]*")


def _escaped_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text) -> str:
    """``text`` (anything; ``str()`` is applied) with every control (C0, DEL, C1), format/bidi
    character (U+200B..U+200F, U+202A..U+202E, U+2066..U+2069, ...), surrogate, private-use or
    unassigned code point and line/paragraph separator written as a visible ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN``. Newlines and tabs are escaped too: the result is one line.
    Ordinary printable text, non-ASCII included, is unchanged, and so is text already escaped
    (escaping twice gives the same result as once)."""
    text = text if isinstance(text, str) else str(text)
    if _PLAIN.fullmatch(text):
        return text
    return "".join(ch if " " <= ch <= "~" or unicodedata.category(ch) not in _UNSAFE_CATEGORIES
                   else _escaped_char(ch) for ch in text)


def escape_lines(text) -> str:
    """Text of several lines (a confirmation question that lists changes): each line through
    :func:`escape`, the line breaks kept."""
    return "\n".join(escape(line) for line in str(text).split("\n"))


def one_line(text, limit: int = 400) -> str:
    """Untrusted text (a server's error description, an exception's words) as one short line:
    runs of whitespace become one space, the rest goes through :func:`escape`, and the whole is
    shortened to ``limit`` characters (ending in ``...``)."""
    text = escape(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."
