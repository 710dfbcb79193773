"""The command grammar as plain data, read once from ``grammar/rladmin.grammar``.

This module is deliberately free of pyparsing: completion, help and highlighting walk these
structures directly (fast start-up), while :mod:`.pyparse` builds the pyparsing
parser from the very same objects.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field

GRAMMAR_FILE = "rladmin.grammar"

#: Value types that are not enumerations or params tables, with the word help shows for them.
BUILTIN_TYPES = {
    "path": "a file path (quote it if it holds spaces)",
    "cipher_string": "a colon-separated cipher list (quotes allowed and stripped)",
    "cipher_list": "a colon-separated cipher list (quotes allowed and stripped)",
    "text": "command words",
    "int": "a whole number",
    "fqdn": "a fully qualified domain name",
}


class GrammarDataError(Exception):
    """The grammar file itself is malformed (a bug in the package, not a user error)."""


@dataclass(frozen=True)
class Element:
    """One piece of a command form.

    kind is ``keyword`` (literal word), ``flag`` (``--json``), ``value`` (``<type>``) or
    ``optional`` (``[ ... ]``, with ``children``).
    """

    kind: str
    text: str = ""
    type: str = ""
    dest: str = ""
    label: str = ""  # what help shows inside <>, when not the type's name
    children: tuple["Element", ...] = ()

    def notation(self) -> str:
        if self.kind == "optional":
            return "[ " + " ".join(c.notation() for c in self.children) + " ]"
        if self.kind == "value":
            return f"<{self.label or self.type}>"
        return self.text


@dataclass(frozen=True)
class Param:
    """One ``name value`` pair of a params table (e.g. a ``cluster config`` parameter)."""

    name: str
    type: str | None  # None: read-only
    description: str

    @property
    def readonly(self) -> bool:
        return self.type is None


@dataclass(frozen=True)
class ValueType:
    """A named type of value: an enumeration, a params table, or a built-in."""

    name: str
    kind: str  # "enum" | "params" | "builtin"
    choices: dict[str, str] = field(default_factory=dict)  # enum value -> description
    params: dict[str, Param] = field(default_factory=dict)  # params name -> Param
    description: str = ""

    def describe(self) -> str:
        if self.kind == "enum":
            return " | ".join(self.choices)
        if self.kind == "params":
            return "<name> <value> [<name> <value> ...]"
        return self.description


@dataclass(frozen=True)
class Form:
    """One command form: its notation, elements, handler, tags and one-line description."""

    notation: str
    elements: tuple[Element, ...]
    handler: str
    tags: frozenset[str]
    description: str
    line: int

    def usage(self, grammar: "Grammar") -> str:
        """The form as help shows it: a params table reads ``<name> <value> [<name> <value> ...]``."""
        parts = []
        for el in self.elements:
            if el.kind == "value" and grammar.type(el.type).kind == "params":
                parts.append("<parameter> <value> [ <parameter> <value> ... ]")
            else:
                parts.append(el.notation())
        return " ".join(parts)

    @property
    def words(self) -> tuple[str, ...]:
        """The leading keywords that name the command (``cluster certificate set``)."""
        out = []
        for el in self.elements:
            if el.kind != "keyword":
                break
            out.append(el.text)
        return tuple(out)


@dataclass(frozen=True)
class Grammar:
    forms: tuple[Form, ...]
    types: dict[str, ValueType]

    def type(self, name: str) -> ValueType:
        return self.types[name]

    def forms_starting(self, words: list[str] | tuple[str, ...]) -> list[Form]:
        """The forms whose notation starts with these words (for ``help cluster config``)."""
        words = tuple(w for w in words if w)
        return [f for f in self.forms if f.notation.split()[: len(words)] == list(words)]


def one_of(values) -> str:
    """``a, b or c``: how messages (parser errors, live validation, help) list alternatives."""
    values = list(dict.fromkeys(values))
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " or " + values[-1]


_TOKEN = re.compile(r"\[|\]|[^\s\[\]]+")


def _parse_form(text: str, where: str) -> tuple[Element, ...]:
    tokens = _TOKEN.findall(text)
    pos = 0

    def seq(closing: bool) -> list[Element]:
        nonlocal pos
        out: list[Element] = []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok == "[":
                out.append(Element("optional", children=tuple(seq(True))))
            elif tok == "]":
                if not closing:
                    raise GrammarDataError(f"{where}: unbalanced ']'")
                return out
            elif tok.startswith("<") and tok.endswith(">"):
                # <dest:type> names the argument; otherwise a built-in value after a keyword
                # is stored under that keyword (certificate_file <path>), any other under its type.
                dest, _, type_name = tok[1:-1].rpartition(":")
                label = dest
                prev = out[-1] if out else None
                if not dest:
                    after_kw = prev is not None and prev.kind == "keyword" and type_name in BUILTIN_TYPES
                    dest = prev.text if after_kw else type_name
                out.append(Element("value", type=type_name, dest=dest, label=label))
            elif tok.startswith("--"):
                out.append(Element("flag", text=tok, dest=tok[2:].replace("-", "_")))
            else:
                out.append(Element("keyword", text=tok))
        if closing:
            raise GrammarDataError(f"{where}: unbalanced '['")
        return out

    return tuple(seq(False))


def parse_grammar_text(text: str, source: str = "rladmin.grammar") -> Grammar:
    """Turn grammar text into a :class:`Grammar` (used for the packaged file and in tests)."""
    types: dict[str, ValueType] = {
        name: ValueType(name, "builtin", description=desc) for name, desc in BUILTIN_TYPES.items()
    }
    forms: list[Form] = []
    section: tuple[str, str] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source}:{lineno}"
        if not raw[0].isspace():
            head = line.split()
            if head[0] in ("values", "params") and len(head) == 2:
                section = (head[0], head[1])
                types[head[1]] = ValueType(head[1], "enum" if head[0] == "values" else "params")
            elif head == ["commands"]:
                section = ("commands", "")
            else:
                raise GrammarDataError(f"{where}: unknown section header {line!r}")
            continue
        if section is None:
            raise GrammarDataError(f"{where}: entry outside a section")
        kind, name = section
        if kind == "values":
            value, _, desc = line.strip().partition(" ")
            types[name].choices[value] = desc.strip()
        elif kind == "params":
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise GrammarDataError(f"{where}: expected '<name> <type>|read-only <description>'")
            pname, ptype, desc = parts
            if ptype == "read-only":
                value_type = None
            elif ptype.startswith("<") and ptype.endswith(">"):
                value_type = ptype[1:-1]
            else:
                raise GrammarDataError(f"{where}: bad parameter type {ptype!r}")
            types[name].params[pname] = Param(pname, value_type, desc.strip())
        else:
            parts = [p.strip() for p in line.split("::")]
            if len(parts) != 3:
                raise GrammarDataError(f"{where}: expected '<form> :: <handler> [tags] :: <description>'")
            notation, handler_tags, desc = parts
            handler, *tags = handler_tags.split()
            forms.append(
                Form(" ".join(notation.split()), _parse_form(notation, where), handler, frozenset(tags), desc, lineno)
            )
    grammar = Grammar(tuple(forms), types)
    _check(grammar, source)
    return grammar


def _check(grammar: Grammar, source: str) -> None:
    """Every ``<type>`` used must be defined: a typo in the data fails loudly, at load time."""

    def walk(elements):
        for el in elements:
            if el.kind == "optional":
                yield from walk(el.children)
            else:
                yield el

    for form in grammar.forms:
        for el in walk(form.elements):
            if el.kind == "value" and el.type not in grammar.types:
                raise GrammarDataError(f"{source}:{form.line}: unknown type <{el.type}>")
    for vt in grammar.types.values():
        for p in vt.params.values():
            if p.type is not None and p.type not in grammar.types:
                raise GrammarDataError(f"{source}: parameter {p.name}: unknown type <{p.type}>")


def grammar_file() -> str:
    """Where the packaged grammar data is (installed, or the source tree's grammar/ when editable).

    Found through the data package's own ``__file__``: ``importlib.resources`` would cost more
    start-up time than reading the file.
    """
    try:
        from .. import grammar_data

        directory = os.path.dirname(grammar_data.__file__)
    except ImportError:  # run from a source checkout, not installed: the data is in ../grammar
        directory = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "grammar")
    return os.path.join(directory, GRAMMAR_FILE)


@functools.lru_cache(maxsize=None)
def load() -> Grammar:
    """The packaged grammar, read and checked once per process."""
    with open(grammar_file(), encoding="utf-8") as fh:
        return parse_grammar_text(fh.read())
