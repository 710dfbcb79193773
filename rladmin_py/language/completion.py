"""Tab completion and ``?`` (what may come next) at a cursor, from the walk of the line.

Pure Python, like the walker it reads (no prompt_toolkit: :mod:`rladmin_py.shell.repl` turns
these plain results into prompt_toolkit objects in one place), and no exceptions out of the
public functions: a completer never breaks the prompt.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field

from . import grammar as gm, walker
from .tokens import WS, Token, tokenize, unquote_partial
from .walker import END, MATCH, PARAMS, TEXT, Node, Program, State, error_for, forms_of, grammar, initial, programs, walk

# Candidate kinds (the shell styles the menu by kind).
COMMAND, KEYWORD, FLAG, VALUE, PARAMETER, PATH, DIRECTORY = (
    "command", "keyword", "flag", "value", "parameter", "path", "directory")

#: Options have no description in the grammar notation; these are shown in menus.
FLAG_HELP = {"--json": "output as JSON"}
#: Files that look like PEM certificates or keys, offered first after a *_file keyword.
PEM_SUFFIXES = (".pem", ".crt", ".cer", ".key")
MAX_PATH_CANDIDATES = 400
#: What ``?`` shows for a line that can be run as it is.
ENTER = ("<Enter>", "run the command")


# -- completion ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Candidate:
    """One completion: ``text`` replaces the ``-start_position`` characters before the cursor."""

    text: str
    start_position: int
    display: str
    description: str = ""
    kind: str = VALUE


def complete(line: str, cursor: int | None = None) -> list[Candidate]:
    """Completions at ``cursor`` (default: end of line). Never raises; never blocks."""
    try:
        return _complete(line, len(line) if cursor is None else max(0, min(cursor, len(line))))
    except Exception:
        return []


@dataclass
class _Site:
    """Where completion happens: the walk states before the word under the cursor, and that word."""

    states: list[State]
    word: str  # the word before the cursor as typed (quotes included)
    value: str  # the same, unquoted
    quote: str
    start: int  # where the word starts (its replacement starts there)
    cursor: int
    line: str
    tokens: list[Token] = field(default_factory=list)
    current: Token | None = None


def _site(line: str, cursor: int) -> _Site | None:
    tokens = tokenize(line)
    current = next((t for t in tokens if t.start < cursor <= t.end), None)
    before = [t for t in tokens if t.end <= cursor and t is not current]
    if current is not None and not current.closed and current.end > cursor:
        current = Token(line[current.start:cursor], "", current.start, cursor, current.quote, False)
    states, _, fail = walk(before)
    if fail is not None:
        return None
    if current is None:
        return _Site(states, "", "", "", cursor, cursor, line, tokens, None)
    word = line[current.start:cursor]
    value, quote = unquote_partial(word)
    return _Site(states, word, value, quote, current.start, cursor, line, tokens, current)


def _space(site: _Site) -> str:
    """A space after a finished word, unless one follows already."""
    if site.cursor < len(site.line) and site.line[site.cursor] in WS:
        return ""
    if site.current is not None and site.current.end > site.cursor:
        return ""  # editing inside a word: do not split it
    return " "


def _quote(value: str, quote: str, close: bool) -> str:
    if not quote and not re.search(r"[\s\"'\\]", value) and value != "":
        return value
    if quote == "'" and "'" not in value:
        return "'" + value + ("'" if close else "")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped + ('"' if close else "")


def _leading_meta(entries: list[tuple[Program, Node]]) -> str:
    forms = list(dict.fromkeys(p.form for p, _ in entries))
    if len(forms) == 1:
        return forms[0].description
    follows = list(dict.fromkeys(n.follow for _, n in entries if n.follow))
    return " | ".join(follows)


def _inner_meta(node: Node) -> str:
    el = node.el
    if el.kind == "flag":
        meta = FLAG_HELP.get(el.text, "option")
    elif el.kind == "keyword":
        meta = node.follow
    else:
        meta = ""
    if node.optional and meta:
        meta += " (optional)"
    return meta


def pending_element(vt: gm.ValueType, pending: tuple) -> gm.Element:
    """The word a parameter's value waits for (pending = (name, position, more))."""
    return vt.params[pending[0]].elements[pending[1]]


def pending_rest(vt: gm.ValueType, pending: tuple) -> str:
    return " ".join(el.notation() for el in vt.params[pending[0]].elements[pending[1] + 1:]) or "<Enter>"


def _line_params(site: _Site, vt: gm.ValueType) -> set[str]:
    """Parameter names given anywhere on the line (except the word being completed)."""
    skip = site.current.start if site.current is not None else -1
    return {t.value for t in site.tokens if t.start != skip and not t.quote and t.value in vt.params}


def _complete(line: str, cursor: int) -> list[Candidate]:
    site = _site(line, cursor)
    if site is None:
        return []
    back, space = site.start - site.cursor, _space(site)
    if site.states == list(initial()) and not site.quote:
        # the first word of a line: the same few answers over and over, whatever the grammar's size
        return list(_first_words(site.value, space, back))
    return _candidates(site.states, site.value, site.quote, space, back, site)


@functools.lru_cache(maxsize=512)
def _first_words(prefix: str, space: str, back: int) -> tuple[Candidate, ...]:
    return tuple(_candidates(list(initial()), prefix, "", space, back, None))


def _candidates(states: list[State], prefix: str, quote: str, space: str, back: int,
                site: "_Site | None") -> list[Candidate]:
    """Every candidate the walk ``states`` allow for the word ``prefix`` (``site``: the line, for
    the parameters already given; None at the first word, where there are none)."""
    progs = programs()
    out: dict[str, Candidate] = {}
    leading: dict[str, list[tuple[Program, Node]]] = {}

    def add(text: str, display: str, description: str, kind: str, finished: bool = True) -> None:
        if text not in out:
            out[text] = Candidate(text + (space if finished else ""), back, display, description, kind)

    def add_value(vt: gm.ValueType) -> None:
        if vt.kind == "enum":
            for choice, desc in vt.choices.items():
                if choice.startswith(prefix):
                    add(_quote(choice, quote, True) if quote else choice, choice, desc, VALUE)
        elif vt.name == "path":
            for c in path_candidates(prefix, quote, dirs_only=False, back=back, space=space):
                out.setdefault(c.text, c)

    for fi, ni, extra in states:
        prog = progs[fi]
        node = prog.nodes[ni]
        if node.op == MATCH:
            el = node.el
            if el.kind in ("keyword", "flag"):
                if quote or not el.text.startswith(prefix) or el.text == "?":
                    continue
                if node.leading:
                    leading.setdefault(el.text, []).append((prog, node))
                    add(el.text, el.text, "", COMMAND)
                else:
                    add(el.text, el.text, _inner_meta(node), FLAG if el.kind == "flag" else KEYWORD)
                continue
            vt = grammar().type(el.type)
            if vt.name == "path" and el.dest == "directory":
                for c in path_candidates(prefix, quote, dirs_only=True, back=back, space=space):
                    out.setdefault(c.text, c)
            else:
                add_value(vt)
        elif node.op == PARAMS:
            used, pending = extra if extra is not None else ((), None)
            if pending is not None:
                el = pending_element(node.vt, pending)
                if el.kind == "keyword":
                    if not quote and el.text.startswith(prefix):
                        add(el.text, el.text, "", KEYWORD)
                else:
                    add_value(grammar().type(el.type))
            if pending is None or pending[2]:
                given = set(used) | (_line_params(site, node.vt) if site else set())
                for name, p in node.vt.params.items():
                    if not p.settable or name in given or quote or not name.startswith(prefix) or \
                            (used and node.vt.single):
                        continue
                    add(name, name, p.description, PARAMETER)
        elif node.op == TEXT:
            for word, desc in help_words(extra or (), prefix):
                add(word, word, desc, COMMAND)
    for word, entries in leading.items():  # descriptions of command words: every form that offers them
        c = out[word]
        out[word] = Candidate(c.text, c.start_position, c.display, _leading_meta(entries), COMMAND)
    return list(out.values())


def help_words(words: tuple[str, ...], prefix: str = "") -> list[tuple[str, str]]:
    """The command words that may follow ``help <words>`` (nested completion of a command name)."""
    return list(_help_words(tuple(words), prefix))


@functools.lru_cache(maxsize=256)
def _help_words(words: tuple[str, ...], prefix: str) -> tuple[tuple[str, str], ...]:
    words = tuple(words[1:] if words[:1] == ("rladmin",) else words)
    found: dict[str, list[gm.Form]] = {}
    for form in grammar().forms:
        parts = form.notation.split()
        if tuple(parts[: len(words)]) != words or len(parts) <= len(words):
            continue
        nxt = parts[len(words)]
        if re.fullmatch(r"[A-Za-z][\w-]*", nxt) and nxt.startswith(prefix):
            found.setdefault(nxt, []).append(form)
    out = []
    for word, forms in found.items():
        if len(forms) == 1:
            desc = forms[0].description
        else:
            nexts = list(dict.fromkeys(f.notation.split()[len(words) + 1] for f in forms
                                       if len(f.notation.split()) > len(words) + 1))
            desc = " | ".join(nexts)
        out.append((word, desc))
    return tuple(out)


# -- file paths ----------------------------------------------------------------------------------
_listing_cache: dict[str, tuple[int, list[tuple[str, bool]]]] = {}


def _listing(directory: str) -> list[tuple[str, bool]]:
    """(name, is_dir) of a directory, sorted by name; cached while the directory is unchanged."""
    try:
        mtime = os.stat(directory).st_mtime_ns
    except OSError:
        return []
    hit = _listing_cache.get(directory)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    entries = []
    try:
        with os.scandir(directory) as it:
            for entry in it:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                entries.append((entry.name, is_dir))
    except OSError:
        return []
    entries.sort()
    if len(_listing_cache) > 64:
        _listing_cache.clear()
    _listing_cache[directory] = (mtime, entries)
    return entries


def path_candidates(value: str, quote: str = "", *, dirs_only: bool = False, back: int | None = None,
                    space: str = " ") -> list[Candidate]:
    """Files and directories that complete ``value`` (a partial path, ``~`` allowed).

    PEM-looking files come first, then directories, then other files; hidden entries only when
    the name typed so far starts with a dot. The candidate keeps the directory part as typed.
    """
    if back is None:
        back = -(len(value) + (1 if quote else 0))
    if value == "~":
        return [Candidate(_quote("~/", quote, False), back, "~/", "home directory", DIRECTORY)]
    head, base = os.path.split(value)
    if head == "" and value.startswith("/"):
        head = "/"
    directory = os.path.expanduser(head) if head else "."
    typed_head = value[: len(value) - len(base)]
    ranked = []
    for name, is_dir in _listing(directory):
        if not name.startswith(base) or (name.startswith(".") and not base.startswith(".")):
            continue
        if dirs_only and not is_dir:
            continue
        pem = not is_dir and name.lower().endswith(PEM_SUFFIXES)
        ranked.append((0 if pem else 1 if is_dir else 2, name, is_dir, pem))
        if len(ranked) >= MAX_PATH_CANDIDATES:
            break
    ranked.sort()
    out = []
    for _, name, is_dir, pem in ranked:
        full = typed_head + name + ("/" if is_dir else "")
        text = _quote(full, quote, close=not is_dir)
        if not is_dir:
            text += space
        meta = "directory" if is_dir else "PEM file" if pem else "file"
        out.append(Candidate(text, back, name + ("/" if is_dir else ""), meta, DIRECTORY if is_dir else PATH))
    return out


# -- "?": what may come next ---------------------------------------------------------------------
@dataclass(frozen=True)
class NextHelp:
    """What ``?`` shows: rows of (what, description), the usage of the matching commands, or an
    error when the line is already wrong before the cursor."""

    rows: tuple[tuple[str, str], ...] = ()
    usages: tuple[str, ...] = ()
    error: tuple[int, str] | None = None


def next_help(line: str, cursor: int | None = None) -> NextHelp:
    try:
        return _next_help(line, len(line) if cursor is None else max(0, min(cursor, len(line))))
    except Exception:
        return NextHelp()


def _next_help(line: str, cursor: int) -> NextHelp:
    tokens = tokenize(line)
    current = next((t for t in tokens if t.start < cursor <= t.end), None)
    before = [t for t in tokens if t.end <= cursor and t is not current]
    states, _, fail = walk(before)
    if fail is not None:
        tok = before[fail]
        return NextHelp(error=(tok.start + 1, error_for(states, tok)))
    prefix = unquote_partial(line[current.start:cursor])[0] if current is not None else ""
    g = grammar()
    progs = programs()
    rows: dict[str, str] = {}
    leading: dict[str, list[tuple[Program, Node]]] = {}

    def value_rows(vt: gm.ValueType, label: str) -> None:
        if vt.kind == "enum":
            for choice, desc in vt.choices.items():
                if choice.startswith(prefix):
                    rows.setdefault(choice, desc)
        else:
            rows.setdefault(f"<{label}>", vt.description)

    site = _Site(states, "", prefix, "", 0, cursor, line, tokens, current)
    for fi, ni, extra in states:
        prog = progs[fi]
        node = prog.nodes[ni]
        if node.op == END:
            rows.setdefault(*ENTER)
        elif node.op == TEXT:
            for word, desc in help_words(extra or (), prefix):
                rows.setdefault(word, desc)
            if not extra:
                rows.setdefault("<Enter>", "list the commands")
        elif node.op == PARAMS:
            used, pending = extra if extra is not None else ((), None)
            if pending is not None:
                el = pending_element(node.vt, pending)
                if el.kind == "keyword":
                    if el.text.startswith(prefix):
                        rows.setdefault(el.text, f"then {pending_rest(node.vt, pending)}")
                else:
                    value_rows(g.type(el.type), el.label or el.type)
            if pending is None or pending[2]:
                if pending is not None:
                    rows.setdefault(*ENTER)
                given = set(used) | _line_params(site, node.vt)
                for name, p in node.vt.params.items():
                    if p.settable and name not in given and name.startswith(prefix) and not (used and node.vt.single):
                        rows.setdefault(name, p.description)
        else:
            el = node.el
            if el.kind in ("keyword", "flag"):
                if el.text.startswith(prefix) and el.text != "?":
                    if node.leading:
                        leading.setdefault(el.text, []).append((prog, node))
                        rows.setdefault(el.text, "")
                    else:
                        rows.setdefault(el.text, _inner_meta(node))
            else:
                value_rows(g.type(el.type), el.label or el.type)
    for word, entries in leading.items():
        rows[word] = _leading_meta(entries)
    usages = tuple(f.usage(g) for f in forms_of(states))
    return NextHelp(tuple(rows.items()), usages if len(usages) <= 4 else ())


walker.GRAMMAR_CACHES += [_first_words.cache_clear, _help_words.cache_clear]
