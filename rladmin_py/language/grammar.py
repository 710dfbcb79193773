"""The command grammar as plain data, read once from ``grammar/rladmin.grammar``.

This module is deliberately free of pyparsing: completion, help and highlighting walk these
structures directly (fast start-up), while :mod:`.pyparse` builds the pyparsing
parser from the very same objects.
"""
from __future__ import annotations

import dataclasses
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
    "port_range": "a port (11000) or a range of ports (13000-13010)",
    "url": "a URL (scheme://host...)",
    "address": "a host name or IP address",
    "database": "db:<id> or the database's name",
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
    repeat: bool = False  # ``<type>...``: one or more values (the last element of a parameter only)

    def notation(self) -> str:
        if self.kind == "optional":
            return "[ " + " ".join(c.notation() for c in self.children) + " ]"
        if self.kind == "value":
            return f"<{self.label or self.type}>" + (" ..." if self.repeat else "")
        return self.text


@dataclass(frozen=True)
class Param:
    """One ``name value`` pair of a params table (e.g. a ``cluster config`` parameter).

    The value is a small form: one ``<type>`` for most parameters, ``<type>...`` for a list
    (``reserved_ports 11000 13000-13010``), or keywords and values
    (``services <service> <switch>``). No value: read-only, or ``renamed`` (an old name the
    documentation mentions, refused with the new one). ``attrs``: what help and the backends
    need beyond the syntax (``default``, the REST ``field`` and ``route`` when not the
    parameter's own name on the cluster object).
    """

    name: str
    elements: tuple[Element, ...]
    description: str
    renamed: str = ""
    attrs: tuple[tuple[str, str], ...] = ()

    @property
    def readonly(self) -> bool:
        return not self.elements and not self.renamed

    @property
    def settable(self) -> bool:
        return bool(self.elements)

    @property
    def values(self) -> tuple[Element, ...]:
        return tuple(el for el in self.elements if el.kind == "value")

    @property
    def type(self) -> str | None:
        """The value's type when the value is one plain value (None otherwise)."""
        values = self.values
        return values[0].type if len(values) == 1 and not values[0].repeat else None

    @property
    def compound(self) -> bool:
        """Several values (``services <service> <switch>``): the value is a dict by argument name."""
        return len(self.values) > 1

    def attr(self, key: str, default: str | None = None) -> str | None:
        return dict(self.attrs).get(key, default)

    def notation(self) -> str:
        return " ".join(el.notation() for el in self.elements)


@dataclass(frozen=True)
class ValueType:
    """A named type of value: an enumeration, a params table, or a built-in."""

    name: str
    kind: str  # "enum" | "params" | "range" | "builtin"
    choices: dict[str, str] = field(default_factory=dict)  # enum value -> description
    params: dict[str, Param] = field(default_factory=dict)  # params name -> Param
    description: str = ""
    single: bool = False  # params: one pair only (``cluster ocsp config <name> set <value>``)
    minimum: int = 0  # range: the bounds (maximum None: no upper bound)
    maximum: int | None = None

    def describe(self) -> str:
        if self.kind == "enum":
            return " | ".join(self.choices)
        if self.kind == "params":
            return "<name> <value>" if self.single else "<name> <value> [<name> <value> ...]"
        if self.kind == "range":
            return f"{self.description} ({self.bounds()})"
        return self.description

    def bounds(self) -> str:
        if self.maximum is None:
            return f"a whole number, at least {self.minimum}"
        return f"a whole number from {self.minimum} to {self.maximum}"

    @property
    def numeric(self) -> bool:
        return self.kind == "range" or self.name == "int"


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
                parts.append("<parameter> <value>" + ("" if grammar.type(el.type).single else " [ <parameter> <value> ... ]"))
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


_PORT_RANGE = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")


def value_problem(vt: ValueType, text: str, what: str) -> str | None:
    """Why ``text`` is not a value of ``vt`` (one line naming ``what`` it was for), or None.

    The one rule for the fast match, pyparsing, live validation and the sandbox's REST checks.
    """
    if vt.kind == "enum":
        return None if text in vt.choices else f"invalid value '{text}' for {what}: expected {one_of(vt.choices)}"
    if vt.numeric:
        if not text.isdigit() or len(text) > 12:
            return f"invalid value '{text}' for {what}: expected a whole number" + (
                f" from {vt.minimum} to {vt.maximum}" if vt.kind == "range" and vt.maximum is not None else "")
        n = int(text)
        if vt.kind == "range" and (n < vt.minimum or (vt.maximum is not None and n > vt.maximum)):
            return f"{what} {n} is out of range: expected {vt.bounds()}"
        return None
    if vt.name == "port_range":
        m = _PORT_RANGE.fullmatch(text)
        lo, hi = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, 0)
        if not m or not 1 <= lo <= hi <= 65535:
            return (f"invalid value '{text}' for {what}: expected a port (1 to 65535) or a range of ports, "
                    "low-high (13000-13010)")
        return None
    if vt.name == "url":
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if parts is None or not parts.scheme or not parts.netloc:
            return f"invalid value '{text}' for {what}: expected a URL such as https://s3.amazonaws.com"
        return None
    if vt.name == "database" and (text.startswith("-") or not text):
        return f"invalid database '{text}': expected db:<id> or the database's name"
    return None if text else f"empty value for {what}"


def one_of(values) -> str:
    """``a, b or c``: how messages (parser errors, live validation, help) list alternatives."""
    values = list(dict.fromkeys(values))
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " or " + values[-1]


_TOKEN = re.compile(r"\[|\]|\.\.\.|[^\s\[\]]+?(?=\.\.\.|[\s\[\]]|$)")
_COLUMNS = re.compile(r"\s{2,}")


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
                children = tuple(seq(True))
                if len(children) == 1 and children[0].kind == "keyword":  # [ issues_only ]: an option word
                    children = (Element("flag", text=children[0].text, dest=children[0].text),)
                out.append(Element("optional", children=children))
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
            elif tok == "...":
                if not out or out[-1].kind != "value":
                    raise GrammarDataError(f"{where}: '...' must follow a <value>")
                out[-1] = dataclasses.replace(out[-1], repeat=True)
            elif tok.startswith("--"):
                out.append(Element("flag", text=tok, dest=tok[2:].replace("-", "_")))
            else:
                out.append(Element("keyword", text=tok))
        if closing:
            raise GrammarDataError(f"{where}: unbalanced '['")
        return out

    return tuple(seq(False))


def _parse_param(line: str, where: str) -> tuple[str, Param]:
    """``<name>  <value form>|read-only|renamed:<new>  [key=value ...]  <description>``, the
    columns two spaces apart (a value form's own words one space apart)."""
    parts = _COLUMNS.split(line.strip())
    if len(parts) < 3:
        raise GrammarDataError(f"{where}: expected '<name>  <value>|read-only  <description>' (columns two spaces apart)")
    pname, value, *rest = parts
    attrs: tuple = ()
    if len(rest) > 1 and all("=" in w for w in rest[0].split()):
        attrs = tuple(tuple(w.split("=", 1)) for w in rest[0].split())
        rest = rest[1:]
    desc = "  ".join(rest)
    if value == "read-only":
        return pname, Param(pname, (), desc, attrs=attrs)
    if value.startswith("renamed:"):
        return pname, Param(pname, (), desc, renamed=value.partition(":")[2], attrs=attrs)
    elements = _parse_form(value, where)
    if not elements or any(el.kind not in ("keyword", "value") for el in elements) or \
            any(el.repeat for el in elements[:-1]) or elements[0].kind != "value" and len(elements) == 1:
        raise GrammarDataError(f"{where}: bad value for parameter {pname}: {value!r}")
    if sum(el.kind == "value" for el in elements) == 1:  # one value: stored under the parameter's name
        elements = tuple(dataclasses.replace(el, dest=pname) if el.kind == "value" else el for el in elements)
    return pname, Param(pname, elements, desc, attrs=attrs)


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
            if head[0] in ("values", "params") and len(head) == 2 or head[0] == "params" and head[2:] == ["single"]:
                section = (head[0], head[1])
                types[head[1]] = ValueType(head[1], "enum" if head[0] == "values" else "params", single=len(head) == 3)
            elif head in (["commands"], ["ranges"]):
                section = (head[0], "")
            else:
                raise GrammarDataError(f"{where}: unknown section header {line!r}")
            continue
        if section is None:
            raise GrammarDataError(f"{where}: entry outside a section")
        kind, name = section
        if kind == "values":
            value, _, desc = line.strip().partition(" ")
            types[name].choices[value] = desc.strip()
        elif kind == "ranges":
            parts = line.split(None, 3)
            if len(parts) < 4 or not parts[1].isdigit() or not (parts[2].isdigit() or parts[2] == "-"):
                raise GrammarDataError(f"{where}: expected '<name> <minimum> <maximum>|- <description>'")
            types[parts[0]] = ValueType(parts[0], "range", description=parts[3].strip(), minimum=int(parts[1]),
                                        maximum=None if parts[2] == "-" else int(parts[2]))
        elif kind == "params":
            types[name].params.update([_parse_param(line, where)])
        else:
            parts = [p.strip() for p in line.split("::")]
            if len(parts) != 3:
                raise GrammarDataError(f"{where}: expected '<form> :: <handler> [tags] :: <description>'")
            notation, handler_tags, desc = parts
            handler, *tags = handler_tags.split()
            forms.append(
                Form(" ".join(notation.split()), _parse_form(notation, where), handler, frozenset(tags), desc, lineno)
            )
    for vt in [t for t in types.values() if t.kind == "params"]:  # <table.name>: the names of a table
        types[f"{vt.name}.name"] = ValueType(f"{vt.name}.name", "enum",
                                             choices={n: p.description for n, p in vt.params.items()})
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
            for el in p.elements:
                if el.kind == "value" and el.type not in grammar.types:
                    raise GrammarDataError(f"{source}: parameter {p.name}: unknown type <{el.type}>")
            if p.renamed and p.renamed not in vt.params:
                raise GrammarDataError(f"{source}: parameter {p.name}: renamed to an unknown {p.renamed}")


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
