"""Completion, "what may come next" (the ``?`` key), highlighting roles and live validation,
all computed by walking the grammar data.

Pure Python on purpose: no prompt_toolkit and no pyparsing here (the shell's first prompt must
appear before either parser library is needed), no network, and no exceptions out of the public
functions. :mod:`rladmin_py.repl` converts the plain results into prompt_toolkit objects in one
place.

Each command form is compiled once into a tiny NFA (Thompson style): ``match`` nodes for
keywords, flags and values, ``split`` nodes for ``[ optional ]`` parts, a ``params`` node for a
``name value`` table (``cluster config``) that remembers which names were given, a ``text``
node that takes the rest of the line (``help <words>``) and an ``end`` node. A walk state is
``(form index, node index, extra)``; the tokens of a line move a set of states forward.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import grammar as gm

# Candidate kinds (repl.py styles the menu by kind).
COMMAND, KEYWORD, FLAG, VALUE, PARAMETER, PATH, DIRECTORY = (
    "command", "keyword", "flag", "value", "parameter", "path", "directory")

#: Options have no description in the grammar notation; these are shown in menus.
FLAG_HELP = {"--json": "output as JSON"}
#: Files that look like PEM certificates or keys, offered first after a *_file keyword.
PEM_SUFFIXES = (".pem", ".crt", ".cer", ".key")
MAX_PATH_CANDIDATES = 400
#: What ``?`` shows for a line that can be run as it is.
ENTER = ("<Enter>", "run the command")

_WS = " \t"


# -- tokens ------------------------------------------------------------------------------------
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
        if ch in _WS:
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
        while i < n and line[i] not in _WS and line[i] not in "\"'":
            i += 1
        out.append(Token(line[start:i], line[start:i], start, i))
    return out


def _unquote_partial(text: str) -> tuple[str, str]:
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


# -- the compiled grammar ------------------------------------------------------------------------
MATCH, SPLIT, PARAMS, TEXT, END = range(5)


@dataclass(slots=True)
class _Node:
    op: int
    el: gm.Element | None = None
    next: int = -1
    alt: int = -1  # SPLIT: the second branch (skip the optional part)
    vt: gm.ValueType | None = None  # PARAMS: the table
    leading: bool = False  # a keyword that names the command (``cluster config``)
    follow: str = ""  # notation of what comes after this element (menu descriptions)
    optional: bool = False


@dataclass
class _Program:
    form: gm.Form
    nodes: list[_Node]
    start: int
    label: str  # "cluster config": how messages name the command


def _compile(form: gm.Form) -> _Program:
    nodes: list[_Node] = []

    def emit(node: _Node) -> int:
        nodes.append(node)
        return len(nodes) - 1

    def seq(elements, nxt: int, top: bool, optional: bool, follow_after: str) -> int:
        for i in range(len(elements) - 1, -1, -1):
            el = elements[i]
            follow = elements[i + 1].notation() if i + 1 < len(elements) else follow_after
            if el.kind == "optional":
                body = seq(el.children, nxt, False, True, follow)
                nxt = emit(_Node(SPLIT, next=body, alt=nxt))
            elif el.kind == "value" and el.type == "text":
                nxt = emit(_Node(TEXT, el=el))
            elif el.kind == "value" and grammar().type(el.type).kind == "params":
                nxt = emit(_Node(PARAMS, el=el, next=nxt, vt=grammar().type(el.type)))
            else:
                leading = top and el.kind == "keyword" and i < len(form.words)
                nxt = emit(_Node(MATCH, el=el, next=nxt, leading=leading, follow=follow, optional=optional))
        return nxt

    end = emit(_Node(END))
    start = seq(form.elements, end, True, False, "")
    return _Program(form, nodes, start, " ".join(form.words) or form.handler)


_GRAMMAR: gm.Grammar | None = None  # another grammar to complete against (benchmarks, tests)


def grammar() -> gm.Grammar:
    return _GRAMMAR or gm.load()


def use_grammar(g: gm.Grammar | None) -> None:
    """Complete against ``g`` from now on (None: the packaged grammar again)."""
    global _GRAMMAR
    _GRAMMAR = g
    _programs.cache_clear()
    _initial.cache_clear()
    _initial_index.cache_clear()
    _analyze.cache_clear()
    _first_words.cache_clear()
    _help_words.cache_clear()


@functools.lru_cache(maxsize=None)
def _programs() -> tuple[_Program, ...]:
    return tuple(_compile(f) for f in grammar().forms)


State = tuple  # (form index, node index, extra)


def _closure(states: Iterable[State]) -> list[State]:
    """The states that wait for a token (or for the end of the line), optional parts expanded."""
    progs = _programs()
    out: list[State] = []
    seen: set[State] = set()

    def visit(st: State) -> None:
        if st in seen:
            return
        seen.add(st)
        fi, ni, extra = st
        node = progs[fi].nodes[ni]
        if node.op == SPLIT:
            visit((fi, node.next, None))
            visit((fi, node.alt, None))
            return
        out.append(st)
        if node.op == PARAMS and extra is not None and extra[1] is None:
            visit((fi, node.next, None))  # at least one pair given: the table may end here

    for st in states:
        visit(st)
    return out


@functools.lru_cache(maxsize=1)
def _initial() -> tuple[State, ...]:
    return tuple(_closure((fi, p.start, None) for fi, p in enumerate(_programs())))


@functools.lru_cache(maxsize=1)
def _initial_index() -> tuple[dict[str, tuple[State, ...]], tuple[State, ...]]:
    """The initial states by their leading keyword, and those that do not start with one."""
    progs = _programs()
    by_word: dict[str, list[State]] = {}
    others: list[State] = []
    for st in _initial():
        node = progs[st[0]].nodes[st[1]]
        if node.op == MATCH and node.el.kind == "keyword":
            by_word.setdefault(node.el.text, []).append(st)
        else:
            others.append(st)
    return {w: tuple(v) for w, v in by_word.items()}, tuple(others)


def _initial_for(tok: Token) -> list[State]:
    """The initial states that may take ``tok`` as the first word of a line."""
    by_word, others = _initial_index()
    return list(by_word.get(tok.text, ()) if not tok.quote else ()) + list(others)


def _value_role(vt: gm.ValueType) -> str:
    if vt.kind == "enum" or vt.name == "int":
        return "value"
    if vt.name == "path":
        return "path"
    return "string"


def value_ok(vt: gm.ValueType, tok: Token) -> bool:
    """Whether a word is a valid value of a type: the one rule, shared with the matcher."""
    if not tok.closed:
        return False
    if vt.kind == "enum":
        return tok.value in vt.choices
    if vt.name == "int":
        return tok.value.isdigit()
    return tok.value != ""


def _step(state: State, tok: Token) -> tuple[State, str] | None:
    """The state after ``tok`` and the token's role, or None when this state cannot take it."""
    fi, ni, extra = state
    prog = _programs()[fi]
    node = prog.nodes[ni]
    if node.op == MATCH:
        el = node.el
        if el.kind in ("keyword", "flag"):
            if not tok.quote and tok.text == el.text:
                return (fi, node.next, None), ("flag" if el.kind == "flag" else "keyword")
            return None
        vt = grammar().type(el.type)
        if value_ok(vt, tok):
            return (fi, node.next, None), _value_role(vt)
        return None
    if node.op == TEXT:
        words = extra or ()
        return (fi, ni, words + (tok.value,)), "help"
    if node.op == PARAMS:
        used, pending = extra if extra is not None else ((), None)
        if pending is None:
            p = node.vt.params.get(tok.value) if not tok.quote else None
            if p is None or p.readonly or p.name in used:
                return None
            return (fi, ni, (used + (p.name,), p.name)), "parameter"
        vt = grammar().type(node.vt.params[pending].type)
        if value_ok(vt, tok):
            return (fi, ni, (used, None)), _value_role(vt)
        return None
    return None  # END


def _advance(states: list[State], tok: Token) -> tuple[list[State], str | None]:
    nxt, role = [], None
    for st in states:
        r = _step(st, tok)
        if r is not None:
            nxt.append(r[0])
            role = role or r[1]
    return _closure(nxt), role


def _accepts_prefix(state: State, tok: Token) -> bool:
    """Could ``tok`` (the word still being typed at the end of the line) become valid here?"""
    fi, ni, extra = state
    node = _programs()[fi].nodes[ni]
    value = tok.value
    if node.op == MATCH:
        el = node.el
        if el.kind in ("keyword", "flag"):
            return not tok.quote and el.text.startswith(tok.text)
        vt = grammar().type(el.type)
    elif node.op == PARAMS:
        used, pending = extra if extra is not None else ((), None)
        if pending is None:
            return not tok.quote and any(n.startswith(value) and not p.readonly and n not in used
                                         for n, p in node.vt.params.items())
        vt = grammar().type(node.vt.params[pending].type)
    else:
        return node.op == TEXT
    if not tok.closed:
        return True
    if vt.kind == "enum":
        return any(c.startswith(value) for c in vt.choices)
    if vt.name == "int":
        return value.isdigit() or value == ""
    return True


# -- messages ------------------------------------------------------------------------------------
def _expected_label(state: State) -> str:
    fi, ni, extra = state
    prog = _programs()[fi]
    node = prog.nodes[ni]
    if node.op == END:
        return "end of line"
    if node.op == TEXT:
        return "command words"
    if node.op == PARAMS:
        used, pending = extra if extra is not None else ((), None)
        if pending is None:
            return f"a {prog.label} parameter"
        return f"a value for {pending}"
    el = node.el
    if el.kind != "value":
        return el.text
    vt = grammar().type(el.type)
    if vt.kind == "enum":
        return "a " + el.type.replace("_", " ")
    return el.notation()


def _error_for(states: list[State], tok: Token) -> str:
    """A message for a word none of ``states`` accepts (close to the parser's own wording)."""
    word = tok.value
    for fi, ni, extra in states:
        node = _programs()[fi].nodes[ni]
        if node.op != PARAMS:
            continue
        used, pending = extra if extra is not None else ((), None)
        label = _programs()[fi].label
        if pending is not None:
            vt = grammar().type(node.vt.params[pending].type)
            if vt.kind == "enum":
                return f"invalid value '{word}' for {pending}: expected {gm.one_of(list(vt.choices))}"
            return f"empty value for {pending}" if tok.closed else f"unterminated quote {tok.quote}"
        p = node.vt.params.get(word)
        if p is not None and p.readonly:
            return f"{word} is read-only: it cannot be set with {label}"
        if p is not None and word in used:
            return f"{word} is given more than once"
        if not any(_programs()[f].nodes[n].op == END for f, n, _ in states):
            return f"unknown {label} parameter '{word}'"
    if not tok.closed:
        return f"unterminated quote {tok.quote}"
    nodes = [_programs()[fi].nodes[ni] for fi, ni, _ in states]
    if len(nodes) == 1 and nodes[0].op == MATCH and nodes[0].el.kind == "value":
        vt = grammar().type(nodes[0].el.type)
        if vt.kind == "enum":
            return f"unknown {vt.name.replace('_', ' ')} '{word}': expected {gm.one_of(list(vt.choices))}"
        if vt.name == "int":
            return f"expected a whole number, found '{word}'"
    if all(n.op == END for n in nodes):
        return f"unexpected '{word}'"
    labels = [_expected_label(st) for st in states]
    return f"expected {gm.one_of(labels)}, found '{word}'"


# -- analysis: roles, validation, the command being typed ---------------------------------------
@dataclass(frozen=True)
class Analysis:
    """What the grammar says about a whole line.

    ``roles`` has one entry per token: keyword, flag, parameter, value, path, string, help,
    partial (the word still being typed), invalid, or None (after an invalid word).
    ``status`` is ``empty``, ``comment``, ``complete`` (Enter would run it), ``incomplete``
    (more is needed, nothing wrong so far) or ``invalid`` (``error`` = (column, message),
    column 1-based, as the parser reports it).
    """

    line: str
    tokens: tuple[Token, ...]
    roles: tuple[str | None, ...]
    status: str
    error: tuple[int, str] | None = None
    forms: tuple[gm.Form, ...] = ()
    checked: bool = False  # the pyparsing parser confirmed the verdict

    @property
    def invalid(self) -> bool:
        return self.status == "invalid"


def _skip_prefix(tokens: list[Token]) -> int:
    return 1 if tokens and not tokens[0].quote and tokens[0].text == "rladmin" else 0


def _walk(tokens: list[Token]) -> tuple[list[State], list[str | None], int | None]:
    """Walk ``tokens``; (states after the last one walked, roles, index of the failing token)."""
    roles: list[str | None] = [None] * len(tokens)
    skip = _skip_prefix(tokens)
    if skip:
        roles[0] = "keyword"
    states = list(_initial())
    for i in range(skip, len(tokens)):
        # the first word picks its forms through an index: a larger grammar costs no more per word
        nxt, role = _advance(_initial_for(tokens[i]) if i == skip else states, tokens[i])
        if not nxt:
            return states, roles, i
        states = nxt
        roles[i] = role
    return states, roles, None


def _forms_of(states: Iterable[State]) -> tuple[gm.Form, ...]:
    progs = _programs()
    return tuple(dict.fromkeys(progs[fi].form for fi, _, _ in states))


def analyze(line: str, parse: Callable[[str], object] | None = None) -> Analysis:
    """Classify a line for highlighting, the toolbar and validation while typing.

    ``parse`` is the pyparsing parser's ``parse`` once it is built: it then has the last word
    on whether a line is valid, and gives the message and column Enter would print. A word still
    being typed at the end of the line (a prefix of something valid) is never an error.
    """
    try:
        return _analyze(line, parse)
    except Exception:  # never let a display helper break the prompt
        return Analysis(line, (), (), "incomplete")


@functools.lru_cache(maxsize=256)
def _analyze(line: str, parse) -> Analysis:
    if not line.strip():
        return Analysis(line, (), (), "empty")
    if line.lstrip().startswith("#"):
        return Analysis(line, (), (), "comment")
    tokens = tokenize(line)
    states, roles, fail = _walk(tokens)
    error = None
    forms: tuple[gm.Form, ...]
    if fail is None:
        waiting = [_programs()[fi].nodes[ni].op for fi, ni, _ in states]
        status = "complete" if any(op in (END, TEXT) for op in waiting) else "incomplete"
        forms = _forms_of(states)
    else:
        tok = tokens[fail]
        last = fail == len(tokens) - 1 and tok.end == len(line)
        if last and (any(_accepts_prefix(st, tok) for st in states)
                     or (fail == 0 and not tok.quote and "rladmin".startswith(tok.text))):
            roles[fail] = "partial"
            status = "incomplete"
            forms = _forms_of(st for st in states if _accepts_prefix(st, tok)) or _forms_of(states)
        else:
            roles[fail] = "invalid"
            status = "invalid"
            error = (tok.start + 1, _error_for(states, tok))
            forms = _forms_of(states)
    checked = False
    if parse is not None and status in ("complete", "invalid"):
        verdict = _parse_verdict(parse, line)
        if verdict is not None:
            checked = True
            if verdict is True:
                if status == "invalid":  # the parser is the authority: trust it
                    roles = [r if r != "invalid" else "string" for r in roles]
                    status, error = "complete", None
            else:
                col, message = verdict
                status, error = "invalid", (col, message)
                roles = _mark_invalid(tokens, roles, col)
    return Analysis(line, tuple(tokens), tuple(roles), status, error, forms, checked)


def _parse_verdict(parse, line: str):
    """True when ``parse`` accepts the line, (col, message) when it refuses it, None if broken."""
    try:
        parse(line)
    except Exception as err:
        col, message = getattr(err, "col", None), getattr(err, "message", None)
        if isinstance(col, int) and isinstance(message, str):
            return col, message
        return None
    return True


def _mark_invalid(tokens: list[Token], roles: list[str | None], col: int) -> list[str | None]:
    out = list(roles)
    pos = col - 1
    marked = False
    for i, tok in enumerate(tokens):
        if marked or tok.end > pos and (tok.start >= pos or tok.start <= pos < tok.end):
            out[i] = None if marked else "invalid"
            marked = True
    return out


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
    states, _, fail = _walk(before)
    if fail is not None:
        return None
    if current is None:
        return _Site(states, "", "", "", cursor, cursor, line, tokens, None)
    word = line[current.start:cursor]
    value, quote = _unquote_partial(word)
    return _Site(states, word, value, quote, current.start, cursor, line, tokens, current)


def _space(site: _Site) -> str:
    """A space after a finished word, unless one follows already."""
    if site.cursor < len(site.line) and site.line[site.cursor] in _WS:
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


def _leading_meta(entries: list[tuple[_Program, _Node]]) -> str:
    forms = list(dict.fromkeys(p.form for p, _ in entries))
    if len(forms) == 1:
        return forms[0].description
    follows = list(dict.fromkeys(n.follow for _, n in entries if n.follow))
    return " | ".join(follows)


def _inner_meta(node: _Node) -> str:
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


def _line_params(site: _Site, vt: gm.ValueType) -> set[str]:
    """Parameter names given anywhere on the line (except the word being completed)."""
    skip = site.current.start if site.current is not None else -1
    return {t.value for t in site.tokens if t.start != skip and not t.quote and t.value in vt.params}


def _complete(line: str, cursor: int) -> list[Candidate]:
    site = _site(line, cursor)
    if site is None:
        return []
    back, space = site.start - site.cursor, _space(site)
    if site.states == list(_initial()) and not site.quote:
        # the first word of a line: the same few answers over and over, whatever the grammar's size
        return list(_first_words(site.value, space, back))
    return _candidates(site.states, site.value, site.quote, space, back, site)


@functools.lru_cache(maxsize=512)
def _first_words(prefix: str, space: str, back: int) -> tuple[Candidate, ...]:
    return tuple(_candidates(list(_initial()), prefix, "", space, back, None))


def _candidates(states: list[State], prefix: str, quote: str, space: str, back: int,
                site: "_Site | None") -> list[Candidate]:
    """Every candidate the walk ``states`` allow for the word ``prefix`` (``site``: the line, for
    the parameters already given; None at the first word, where there are none)."""
    progs = _programs()
    out: dict[str, Candidate] = {}
    leading: dict[str, list[tuple[_Program, _Node]]] = {}

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
            if pending is None:
                given = set(used) | (_line_params(site, node.vt) if site else set())
                for name, p in node.vt.params.items():
                    if p.readonly or name in given or quote or not name.startswith(prefix):
                        continue
                    add(name, name, p.description, PARAMETER)
            else:
                add_value(grammar().type(node.vt.params[pending].type))
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
    states, _, fail = _walk(before)
    if fail is not None:
        tok = before[fail]
        return NextHelp(error=(tok.start + 1, _error_for(states, tok)))
    prefix = _unquote_partial(line[current.start:cursor])[0] if current is not None else ""
    g = grammar()
    progs = _programs()
    rows: dict[str, str] = {}
    leading: dict[str, list[tuple[_Program, _Node]]] = {}

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
            if pending is None:
                given = set(used) | _line_params(site, node.vt)
                for name, p in node.vt.params.items():
                    if not p.readonly and name not in given and name.startswith(prefix):
                        rows.setdefault(name, p.description)
            else:
                value_rows(g.type(node.vt.params[pending].type), node.vt.params[pending].type)
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
    usages = tuple(f.usage(g) for f in _forms_of(states))
    return NextHelp(tuple(rows.items()), usages if len(usages) <= 4 else ())


def format_next_help(h: NextHelp) -> str:
    """The text ``?`` prints above the prompt."""
    if h.error is not None:
        col, message = h.error
        return f"error: column {col}: {message}"
    if not h.rows:
        return "(nothing more fits here)"
    width = min(max(len(a) for a, _ in h.rows), 32)
    lines = [f"  {a.ljust(width)}  {b}".rstrip() for a, b in h.rows]
    if h.usages:
        lines.append("")
        lines += [f"Usage: {u}" for u in h.usages]
    return "\n".join(lines)


def toolbar_hint(a: Analysis) -> tuple[str, str]:
    """(kind, text) for the bottom toolbar: ("error", "column N: ..."), ("usage", ...) or ("", "")."""
    if a.status == "invalid" and a.error is not None:
        return "error", f"column {a.error[0]}: {a.error[1]}"
    if a.status in ("empty", "comment") or not a.forms:
        return "", ""
    g = grammar()
    usages = list(dict.fromkeys(f.usage(g) for f in a.forms))
    if len(usages) == 1:
        return "usage", f"{usages[0]}  -  {a.forms[0].description}"
    return "usage", "  |  ".join(usages[:3]) + ("  | ..." if len(usages) > 3 else "")


# -- history -------------------------------------------------------------------------------------
_SECRET = re.compile(r"-----BEGIN|PRIVATE KEY|passw(?:or)?d|\bpwd\b|secret|api[_-]?key|token", re.IGNORECASE)


#: A word that looks like a line of a PEM body (a key pasted at the prompt by mistake).
_PEM_BODY = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9+/]{40,}={0,2}(?![\w/+=.-])")


def may_hold_secret(line: str) -> bool:
    """True for lines that must never reach the history file (PEM blocks and their base64
    lines, passwords...)."""
    return bool(_SECRET.search(line) or _PEM_BODY.search(line))
