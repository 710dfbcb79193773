"""The one pure-Python engine over the grammar data: the fast match of whole lines, and what
completion, ``?``, live validation and highlighting need to know about a partial line.

No prompt_toolkit and no pyparsing here: the shell's first prompt and every valid one-shot
command must not wait for either. pyparsing (:mod:`.pyparse`) stays the parser of record for
lines this engine does not accept, and for every error message and column Enter prints; the
differential tests keep the two in agreement.

Each command form is compiled once into a tiny NFA (Thompson style): ``match`` nodes for
keywords, flags and values, ``split`` nodes for ``[ optional ]`` parts, a ``params`` node for a
``name value`` table (``cluster config``) that remembers which names were given, a ``text``
node that takes the rest of the line (``help <words>``) and an ``end`` node. A walk state is
``(form index, node index, extra)``; the tokens of a line move a set of states forward.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable

from . import grammar as gm
from .tokens import Token, tokenize

MATCH, SPLIT, PARAMS, TEXT, END = range(5)


@dataclass(slots=True)
class Node:
    op: int
    el: gm.Element | None = None
    next: int = -1
    alt: int = -1  # SPLIT: the second branch (skip the optional part)
    vt: gm.ValueType | None = None  # PARAMS: the table; MATCH of a value: its type
    leading: bool = False  # a keyword that names the command (``cluster config``)
    follow: str = ""  # notation of what comes after this element (menu descriptions)
    optional: bool = False


@dataclass
class Program:
    form: gm.Form
    nodes: list[Node]
    start: int
    label: str  # "cluster config": how messages name the command


def _compile(form: gm.Form) -> Program:
    nodes: list[Node] = []

    def emit(node: Node) -> int:
        nodes.append(node)
        return len(nodes) - 1

    def seq(elements, nxt: int, top: bool, optional: bool, follow_after: str) -> int:
        for i in range(len(elements) - 1, -1, -1):
            el = elements[i]
            follow = elements[i + 1].notation() if i + 1 < len(elements) else follow_after
            if el.kind == "optional":
                body = seq(el.children, nxt, False, True, follow)
                nxt = emit(Node(SPLIT, next=body, alt=nxt))
            elif el.kind == "value" and el.type == "text":
                nxt = emit(Node(TEXT, el=el))
            elif el.kind == "value" and grammar().type(el.type).kind == "params":
                nxt = emit(Node(PARAMS, el=el, next=nxt, vt=grammar().type(el.type)))
            else:
                leading = top and el.kind == "keyword" and i < len(form.words)
                vt = grammar().type(el.type) if el.kind == "value" else None
                nxt = emit(Node(MATCH, el=el, next=nxt, vt=vt, leading=leading, follow=follow, optional=optional))
        return nxt

    end = emit(Node(END))
    start = seq(form.elements, end, True, False, "")
    return Program(form, nodes, start, " ".join(form.words) or form.handler)


_GRAMMAR: gm.Grammar | None = None  # another grammar to walk (benchmarks, tests)
#: ``cache_clear`` of the caches other modules keep of walk results (completion registers its own).
GRAMMAR_CACHES: list[Callable[[], None]] = []


def grammar() -> gm.Grammar:
    return _GRAMMAR or gm.load()


def use_grammar(g: gm.Grammar | None) -> None:
    """Walk ``g`` from now on (None: the packaged grammar again)."""
    global _GRAMMAR
    _GRAMMAR = g
    for clear in (programs.cache_clear, _expand.cache_clear, _stepped.cache_clear, initial.cache_clear, initial_index.cache_clear,
                  _analyze.cache_clear, *GRAMMAR_CACHES):
        clear()


@functools.lru_cache(maxsize=None)
def programs() -> tuple[Program, ...]:
    return tuple(_compile(f) for f in grammar().forms)


State = tuple  # (form index, node index, extra)


@functools.lru_cache(maxsize=None)
def _expand(state: State) -> tuple[State, ...]:
    """The states one state stands for once optional parts are expanded (computed once each)."""
    progs = programs()
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
        if node.op == PARAMS and params_ended(extra):
            visit((fi, node.next, None))  # at least one pair given: the table may end here

    visit(state)
    return tuple(out)


def _closure(states: Iterable[State]) -> list[State]:
    """The states that wait for a token (or for the end of the line), optional parts expanded."""
    out: list[State] = []
    seen: set[State] = set()
    for st in states:
        for s in _expand(st):
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


@functools.lru_cache(maxsize=1)
def initial() -> tuple[State, ...]:
    return tuple(_closure((fi, p.start, None) for fi, p in enumerate(programs())))


@functools.lru_cache(maxsize=1)
def initial_index() -> tuple[dict[str, tuple[State, ...]], tuple[State, ...]]:
    """The initial states by their leading keyword, and those that do not start with one."""
    progs = programs()
    by_word: dict[str, list[State]] = {}
    others: list[State] = []
    for st in initial():
        node = progs[st[0]].nodes[st[1]]
        if node.op == MATCH and node.el.kind == "keyword":
            by_word.setdefault(node.el.text, []).append(st)
        else:
            others.append(st)
    return {w: tuple(v) for w, v in by_word.items()}, tuple(others)


def initial_for(tok: Token) -> list[State]:
    """The initial states that may take ``tok`` as the first word of a line."""
    by_word, others = initial_index()
    return list(by_word.get(tok.text, ()) if not tok.quote else ()) + list(others)


def _value_role(vt: gm.ValueType) -> str:
    if vt.kind == "enum" or vt.numeric or vt.name == "port_range":
        return "value"
    if vt.name == "path":
        return "path"
    return "string"


def value_ok(vt: gm.ValueType, tok: Token) -> bool:
    """Whether a word is a valid value of a type: the one rule, for the walk and the fast match."""
    return tok.closed and gm.value_problem(vt, tok.value, "") is None


def _step(state: State, tok: Token) -> tuple[State, str, tuple] | None:
    """The state after ``tok``, the token's role and the argument it gives, or None when this
    state cannot take it. The argument is ``((key, value),)`` or ``()``: values converted as the
    pyparsing parser converts them (numbers to int), a flag True, a ``params`` value keyed
    ``("params", name)`` (``("params", name, dest)`` in a compound value, ``("params", name, "+")``
    for each item of a list)."""
    return _stepped(state, tok.text, tok.value, tok.quote, tok.closed)


def _param_step(p: gm.Param, pos: int, tok: Token):
    """A parameter's value, word ``pos``: (what is pending after it, role, argument) or None.
    Pending is ``(name, position, more)``; ``more``: a list that has its first item (it may
    end, or take another)."""
    el = p.elements[pos]
    if el.kind == "keyword":
        if tok.quote or tok.text != el.text:
            return None
        role, arg = "keyword", ()
    else:
        vt = grammar().type(el.type)
        if not value_ok(vt, tok):
            return None
        key = ("params", p.name, "+") if el.repeat else ("params", p.name, el.dest) if p.compound else ("params", p.name)
        role, arg = _value_role(vt), ((key, _converted(vt, tok)),)
    if el.repeat:
        return (p.name, pos, True), role, arg
    return ((p.name, pos + 1, False) if pos + 1 < len(p.elements) else None), role, arg


@functools.lru_cache(maxsize=8192)
def _stepped(state: State, text: str, value: str, quote: str, closed: bool) -> tuple[State, str, tuple] | None:
    """:func:`_step` by what a token says, not where it stands: lines repeat their words."""
    tok = Token(text, value, 0, 0, quote, closed)
    fi, ni, extra = state
    node = programs()[fi].nodes[ni]
    op = node.op
    if op == MATCH:
        el = node.el
        if el.kind == "keyword":
            if not tok.quote and tok.text == el.text:
                return (fi, node.next, None), "keyword", ()
            return None
        if el.kind == "flag":
            if not tok.quote and tok.text == el.text:
                return (fi, node.next, None), "flag", ((el.dest, True),)
            return None
        if value_ok(node.vt, tok):
            return (fi, node.next, None), _value_role(node.vt), ((el.dest, _converted(node.vt, tok)),)
        return None
    if op == TEXT:
        words = extra or ()
        return (fi, ni, words + (tok.value,)), "help", ()
    if op == PARAMS:
        used, pending = extra if extra is not None else ((), None)
        if pending is not None:
            name, pos, more = pending
            taken = _param_step(node.vt.params[name], pos, tok)
            if taken is not None:
                return (fi, ni, (used, taken[0])), taken[1], taken[2]
            if not more:
                return None
        p = node.vt.params.get(tok.value) if not tok.quote else None
        if p is None or not p.settable or p.name in used or (used and node.vt.single):
            return None
        return (fi, ni, (used + (p.name,), (p.name, 0, False))), "parameter", ()
    return None  # END


def _converted(vt: gm.ValueType, tok: Token) -> object:
    return int(tok.value) if vt.numeric else tok.value


def params_ended(extra) -> bool:
    """Whether a params table's walk may end here (no value pending, or a list has its first item)."""
    return extra is not None and (extra[1] is None or extra[1][2])


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
    node = programs()[fi].nodes[ni]
    if node.op == MATCH:
        el = node.el
        if el.kind in ("keyword", "flag"):
            return not tok.quote and el.text.startswith(tok.text)
        return _value_prefix(grammar().type(el.type), tok)
    if node.op == PARAMS:
        used, pending = extra if extra is not None else ((), None)
        if pending is not None:
            name, pos, more = pending
            el = node.vt.params[name].elements[pos]
            if el.kind == "keyword" and not tok.quote and el.text.startswith(tok.text):
                return True
            if el.kind == "value" and _value_prefix(grammar().type(el.type), tok):
                return True
            if not more:
                return False
        return not tok.quote and not (used and node.vt.single) and any(
            n.startswith(tok.value) and p.settable and n not in used for n, p in node.vt.params.items())
    return node.op == TEXT


def _value_prefix(vt: gm.ValueType, tok: Token) -> bool:
    value = tok.value
    if not tok.closed:
        return True
    if vt.kind == "enum":
        return any(c.startswith(value) for c in vt.choices)
    if vt.numeric:  # digits that may still become a number in range
        return value == "" or value.isdigit() and (vt.maximum is None or int(value[:12]) <= vt.maximum)
    if vt.name == "port_range":
        parts = value.split("-")
        return len(parts) <= 2 and all(p == "" or p.isdigit() and int(p[:6]) <= 65535 for p in parts)
    return True


# -- messages ------------------------------------------------------------------------------------
def _expected_label(state: State) -> str:
    fi, ni, extra = state
    prog = programs()[fi]
    node = prog.nodes[ni]
    if node.op == END:
        return "end of line"
    if node.op == TEXT:
        return "command words"
    if node.op == PARAMS:
        used, pending = extra if extra is not None else ((), None)
        if pending is None or pending[2]:
            return f"a {prog.label} parameter"
        el = node.vt.params[pending[0]].elements[pending[1]]
        return el.text if el.kind == "keyword" else f"a value for {_value_name(node.vt.params[pending[0]], el)}"
    el = node.el
    if el.kind != "value":
        return el.text
    vt = grammar().type(el.type)
    if vt.kind == "enum":
        return "a " + el.type.replace("_", " ")
    return el.notation()


def _value_name(p: gm.Param, el: gm.Element) -> str:
    """How messages name a parameter's value: the parameter, or in a compound value its part."""
    return el.dest if p.compound else p.name


def param_value_error(p: gm.Param, el: gm.Element, tok: Token) -> str:
    """The message for a word that is not the parameter's next value word (walk and pyparsing alike)."""
    if el.kind == "keyword":
        return f"expected {el.text} after {p.name}, found '{tok.value}'"
    if not tok.closed:
        return f"unterminated quote {tok.quote}"
    return gm.value_problem(grammar().type(el.type), tok.value, _value_name(p, el)) or f"unexpected '{tok.value}'"


def error_for(states: list[State], tok: Token) -> str:
    """A message for a word none of ``states`` accepts (close to the parser's own wording)."""
    word = tok.value
    for fi, ni, extra in states:
        node = programs()[fi].nodes[ni]
        if node.op != PARAMS:
            continue
        used, pending = extra if extra is not None else ((), None)
        label = programs()[fi].label
        if pending is not None:
            name, pos, more = pending
            p = node.vt.params[name]
            if not more or (not tok.quote and word[:1].isdigit()):
                return param_value_error(p, p.elements[pos], tok)
        p = node.vt.params.get(word)
        if p is not None and p.renamed:
            return renamed_message(p, label)
        if p is not None and p.readonly:
            return f"{word} is read-only: it cannot be set with {label}"
        if p is not None and word in used:
            return f"{word} is given more than once"
        if used and node.vt.single and p is not None:
            return f"{label} takes one parameter at a time"
        if not any(programs()[f].nodes[n].op == END for f, n, _ in states):
            return f"unknown {label} parameter '{word}'"
    if not tok.closed:
        return f"unterminated quote {tok.quote}"
    nodes = [programs()[fi].nodes[ni] for fi, ni, _ in states]
    if len(nodes) == 1 and nodes[0].op == MATCH and nodes[0].el.kind == "value":
        vt = grammar().type(nodes[0].el.type)
        if vt.kind == "enum" and vt.name.endswith(".name"):
            return (f"unknown {programs()[states[0][0]].label} parameter '{word}': "
                    f"expected {gm.one_of(list(vt.choices))}")
        if vt.kind == "enum":
            return f"unknown {vt.name.replace('_', ' ')} '{word}': expected {gm.one_of(list(vt.choices))}"
        if vt.name == "int":
            return f"expected a whole number, found '{word}'"
        if vt.numeric:
            return gm.value_problem(vt, word, nodes[0].el.label or nodes[0].el.dest) or f"unexpected '{word}'"
    if all(n.op == END for n in nodes):
        return f"unexpected '{word}'"
    labels = [_expected_label(st) for st in states]
    return f"expected {gm.one_of(labels)}, found '{word}'"


def renamed_message(p: gm.Param, label: str) -> str:
    return f"{p.name} is the old name of {p.renamed}: use {label} {p.renamed} <value>"


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


def walk(tokens: list[Token]) -> tuple[list[State], list[str | None], int | None]:
    """Walk ``tokens``; (states after the last one walked, roles, index of the failing token)."""
    roles: list[str | None] = [None] * len(tokens)
    skip = _skip_prefix(tokens)
    if skip:
        roles[0] = "keyword"
    states = list(initial())
    for i in range(skip, len(tokens)):
        # the first word picks its forms through an index: a larger grammar costs no more per word
        nxt, role = _advance(initial_for(tokens[i]) if i == skip else states, tokens[i])
        if not nxt:
            return states, roles, i
        states = nxt
        roles[i] = role
    return states, roles, None


def forms_of(states: Iterable[State]) -> tuple[gm.Form, ...]:
    progs = programs()
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
    states, roles, fail = walk(tokens)
    error = None
    forms: tuple[gm.Form, ...]
    if fail is None:
        waiting = [programs()[fi].nodes[ni].op for fi, ni, _ in states]
        status = "complete" if any(op in (END, TEXT) for op in waiting) else "incomplete"
        forms = forms_of(states)
    else:
        tok = tokens[fail]
        last = fail == len(tokens) - 1 and tok.end == len(line)
        if last and (any(_accepts_prefix(st, tok) for st in states)
                     or (fail == 0 and not tok.quote and "rladmin".startswith(tok.text))):
            roles[fail] = "partial"
            status = "incomplete"
            forms = forms_of(st for st in states if _accepts_prefix(st, tok)) or forms_of(states)
        else:
            roles[fail] = "invalid"
            status = "invalid"
            error = (tok.start + 1, error_for(states, tok))
            forms = forms_of(states)
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



# -- the fast path: a whole line as one form and its arguments ----------------------------------
#: Characters that make a line unusual enough to leave to pyparsing (odd whitespace, controls).
_UNUSUAL = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\x00")


def plain_tokens(line: str) -> list[Token] | None:
    """The line's words, or None when it is unusual enough to leave to pyparsing: odd
    whitespace or control characters, or two words with no space between them (``a"b"``)."""
    if _UNUSUAL.intersection(line):
        return None
    tokens = tokenize(line)
    for prev, tok in zip(tokens, tokens[1:]):
        if tok.start == prev.end:
            return None
    return tokens


def match(line: str):
    """``(form, args)`` for a line the grammar accepts, else None (then ask pyparsing).

    The walk carries each state's arguments; optional parts are tried before they are skipped
    (greedy, as pyparsing's ``Opt``), and the first form that takes the whole line wins, as in
    pyparsing's keyword trie. ``help <words>`` keeps the rest of the line as typed.
    """
    tokens = plain_tokens(line)
    if tokens is None:
        return None
    skip = _skip_prefix(tokens)
    if len(tokens) == skip:
        return None
    progs = programs()
    paths: dict[State, tuple] = {}
    for i in range(skip, len(tokens)):
        tok = tokens[i]
        sources = [(st, ()) for st in initial_for(tok)] if i == skip else paths.items()
        taken_by: dict[State, tuple] = {}
        for st, args in sources:
            stepped = _step(st, tok)
            if stepped is None:
                continue
            taken = args + stepped[2] if stepped[2] else args
            for nxt in _expand(stepped[0]):
                if nxt not in taken_by:
                    taken_by[nxt] = taken
        if not taken_by:
            return None
        paths = taken_by
    accepting = [(fi, ni, extra, args) for (fi, ni, extra), args in paths.items()
                 if progs[fi].nodes[ni].op in (END, TEXT)]
    if not accepting:
        return None
    fi, ni, extra, captured = min(accepting, key=lambda a: a[0])  # stable: the first path of that form
    out: dict = {}
    for key, value in captured:
        if isinstance(key, tuple):
            params = out.setdefault("params", {})
            if len(key) == 2:
                params[key[1]] = value
            elif key[2] == "+":
                params.setdefault(key[1], []).append(value)
            else:
                params.setdefault(key[1], {})[key[2]] = value
        else:
            out[key] = value
    node = progs[fi].nodes[ni]
    if node.op == TEXT:
        words = len(extra or ())
        start = tokens[len(tokens) - words].start if words else len(line)
        out[node.el.dest] = line[start:].strip()
    return progs[fi].form, out
