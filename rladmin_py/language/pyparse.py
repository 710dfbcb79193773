"""The pyparsing parser, built from the grammar data: the authority for what a line means.

Forms are merged into a keyword trie so that once a keyword has matched, a later failure is
fatal (pyparsing's ``-``) and is reported at the column where it happened, with a message of
our own instead of pyparsing's "Expected end of text". Imported only when a line needs it
(see :func:`.walker.match`): pyparsing is the slowest import on the one-shot path.
"""
from __future__ import annotations

import difflib
import re

import pyparsing as pp

from . import grammar as gm
from .syntax import Command, CommandSyntaxError

pp.ParserElement.set_default_whitespace_chars(" \t")

_IDENT = pp.printables.replace('"', "").replace("'", "")

_DONE = "\x00"  # marks a message that is complete (pyparsing re-wraps exceptions, so no subclass)


def _fatal(s: str, loc: int, message: str) -> pp.ParseFatalException:
    """A fatal failure whose message is already complete (no "found ..." to add).

    Parse actions receive the location before whitespace was skipped: point at the token.
    """
    while loc < len(s) and s[loc] in " \t":
        loc += 1
    return pp.ParseFatalException(s, loc, _DONE + message)


def _suggest(word: str, candidates) -> str:
    if len(word) < 4:  # "1.1" is not a typo of "1.3"
        return ""
    close = difflib.get_close_matches(word, [c for c in candidates if c != word], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _constant(value):
    def action(toks):
        return [value]

    return action


def _label(g: gm.Grammar, el: gm.Element, what: str) -> str:
    """How an error message names what was expected at ``el``."""
    if el.kind == "optional":
        return _label(g, el.children[0], what)
    if el.kind != "value":
        return el.text
    vt = g.type(el.type)
    if vt.kind == "params":
        return f"a {what} parameter ({', '.join(list(vt.params)[:3])}, ...)"
    if vt.kind == "enum":
        return f"a {el.type.replace('_', ' ')}"
    return el.notation()


def _token() -> pp.ParserElement:
    """One word: bare, or quoted with ' or " (the quotes are not part of the value)."""
    dq = pp.QuotedString('"', esc_char="\\")
    sq = pp.QuotedString("'")

    def unterminated(s, loc, toks):
        raise _fatal(s, loc, f"unterminated quote {s[loc]}")

    open_quote = pp.Regex(r"[\"'].*").set_parse_action(unterminated)
    bare = pp.Regex(r"[^\s\"']+")
    return (dq | sq | open_quote | bare).set_name("a value")


class _Furthest(pp.ParseExpression):
    """Alternatives where a fatal error in one does not stop the next: the first that matches
    wins; when none does, the error found furthest along the line (the first of equals)."""

    def parseImpl(self, instring, loc, do_actions=True):
        best = None
        for e in self.exprs:
            try:
                return e._parse(instring, loc, do_actions)
            except pp.ParseBaseException as err:
                fatal = isinstance(err, pp.ParseFatalException)
                rank = (fatal, err.loc)
                if best is None or rank > best[0]:
                    best = (rank, err)
        raise best[1]


class _Builder:
    def __init__(self, grammar: gm.Grammar):
        self.g = grammar

    # -- values -------------------------------------------------------------------------
    def value(self, el: gm.Element, label: str, param: str = "", soft: bool = False) -> pp.ParserElement:
        """A value element; ``soft`` (inside ``[ ]``, or a list's next item): a mismatch lets the
        optional part be skipped (a list item that starts with a digit stays an error)."""
        vt = self.g.type(el.type)
        if vt.kind == "params":
            return self.params(vt, label)
        tok = _token()
        dest = el.dest

        if vt.kind == "enum":
            choices = vt.choices

            def check_enum(s, loc, toks):
                word = toks[0]
                if word not in choices:
                    if soft:
                        raise pp.ParseException(s, loc, f"expected {gm.one_of(choices)}")
                    what = (f"invalid value '{word}' for {param}" if param else f"unknown {label} parameter '{word}'"
                            if el.type.endswith(".name") else f"unknown {el.type.replace('_', ' ')} '{word}'")
                    raise _fatal(s, loc, f"{what}: expected {gm.one_of(choices)}{_suggest(word, choices)}")
                return [(dest, word)]

            return tok.copy().set_parse_action(check_enum).set_name(f"{el.type.replace('_', ' ')} ({gm.one_of(choices)})")
        if el.type == "int" and not param:

            def check_int(s, loc, toks):
                if not toks[0].isdigit():
                    if soft:
                        raise pp.ParseException(s, loc, "expected a whole number")
                    raise _fatal(s, loc, f"expected a whole number, found '{toks[0]}'")
                return [(dest, int(toks[0]))]

            return tok.copy().set_parse_action(check_int).set_name("a whole number")
        if el.type == "text":
            rest = pp.Regex(r".*").leave_whitespace()
            return pp.Opt(pp.White(" \t")).suppress() + rest.set_parse_action(lambda t: [(dest, t[0].strip())])

        def check(s, loc, toks):
            word = toks[0]
            problem = gm.value_problem(vt, word, param or el.label or el.dest)
            if problem is not None:
                if soft and not word[:1].isdigit():
                    raise pp.ParseException(s, loc, problem)
                if not word and not param:
                    problem = f"empty {el.type.replace('_', ' ')}"
                raise _fatal(s, loc, problem)
            return [(dest, int(word) if vt.numeric else word)]

        return tok.copy().set_parse_action(check).set_name(vt.describe() if vt.kind == "range" else f"<{el.type}>")

    def param_value(self, p: gm.Param, label: str) -> pp.ParserElement:
        """A parameter's value words; the result is ``(name, value)``: one value, a list, or a
        dict by part name (as :func:`.walker.match` gives them)."""
        pieces = []
        for el in p.elements:
            if el.kind == "keyword":
                pieces.append(pp.Keyword(el.text, ident_chars=_IDENT).set_name(el.text).suppress())
                continue
            what = el.dest if p.compound else p.name
            one = self.value(gm.Element("value", type=el.type, dest=el.dest), label, what)
            one.set_name(f"a value for {what} ({self.g.type(el.type).describe()})")
            if el.repeat:
                more = self.value(gm.Element("value", type=el.type, dest=el.dest), label, what, soft=True)
                one = one + pp.ZeroOrMore(more)
            pieces.append(one)
        expr = pieces[0]
        for piece in pieces[1:]:
            expr = expr - piece

        def shape(s, loc, toks):  # (pyparsing passes a parse action's arguments by its arity)
            if p.compound:
                return [(p.name, {dest: val for dest, val in toks})]
            if p.values[0].repeat:
                return [(p.name, [val for _, val in toks])]
            return [(p.name, toks[0][1])]

        return pp.And([expr]).set_parse_action(shape)  # a new element: the value's own check stays

    def params(self, vt: gm.ValueType, label: str) -> pp.ParserElement:
        from .walker import renamed_message

        alternatives = []
        for p in vt.params.values():
            kw = pp.Keyword(p.name, ident_chars=_IDENT)
            if not p.settable:

                def refused(s, loc, toks, p=p):
                    message = renamed_message(p, label) if p.renamed else \
                        f"{p.name} is read-only: it cannot be set with {label}"
                    raise _fatal(s, loc, message)

                alternatives.append(kw.copy().set_parse_action(refused))
                continue

            def located(s, loc, toks):
                (dest, val) = toks[0]
                return [(dest, val, loc)]

            alternatives.append((kw.suppress() - self.param_value(p, label)).set_parse_action(located))
        names = [n for n, p in vt.params.items() if p.settable]
        one = pp.MatchFirst(alternatives).set_name(f"a {label} parameter")

        def unknown(s, loc, toks):
            word = toks[0]
            raise _fatal(s, loc, f"unknown {label} parameter '{word}'{_suggest(word, names)}")

        bad = pp.Regex(r"(?!--)\S+").set_parse_action(unknown)  # a --flag after the table is the form's

        def collect(s, loc, toks):
            seen: dict = {}
            for name, val, where in toks:
                if name in seen:
                    raise _fatal(s, where, f"{name} is given more than once")
                seen[name] = val
            return [("params", seen)]

        if vt.single:
            def only_one(s, loc, toks):
                raise _fatal(s, loc, f"{label} takes one parameter at a time")

            more = pp.Regex(r"\S+").set_parse_action(only_one) if vt.single else None
            return (one + pp.Opt(pp.FollowedBy(pp.MatchFirst([pp.Keyword(n, ident_chars=_IDENT) for n in vt.params])) + more)
                    ).set_parse_action(collect) | bad
        return (pp.OneOrMore(one) + pp.Opt(bad)).set_parse_action(collect) | bad

    # -- forms ----------------------------------------------------------------------------
    def sequence(self, elements, label: str, soft: bool = False) -> list[pp.ParserElement]:
        out = []
        for i, el in enumerate(elements):
            if el.kind == "keyword":
                out.append(pp.Keyword(el.text, ident_chars=_IDENT).set_name(el.text).suppress())
            elif el.kind == "flag":
                out.append(pp.Keyword(el.text, ident_chars=_IDENT).set_parse_action(_constant((el.dest, True))))
            elif el.kind == "value":
                out.append(self.value(el, label, soft=soft and i == 0))
            else:  # optional: once its first word matched, the rest is required
                inner = self.sequence(el.children, label, soft=True)
                group = inner[0]
                for piece in inner[1:]:
                    group = group - piece
                out.append(pp.Opt(group))
        return out

    def form_tail(self, form: gm.Form, start: int) -> pp.ParserElement:
        """The form's elements from ``start`` on, then the end of the line."""
        label = " ".join(form.words) or form.handler
        pieces = self.sequence(form.elements[start:], label)
        trailing = []  # what may still come where the line went wrong: for "did you mean"
        for el in form.elements:
            if el.kind == "optional":
                first = el.children[0]
                if first.kind != "value":
                    trailing.append(first.text)
                elif self.g.type(first.type).kind == "enum":
                    trailing += list(self.g.type(first.type).choices)

        def unexpected(s, loc, toks):
            word = toks[0]
            hint = _suggest(word, trailing) if trailing else ""
            raise _fatal(s, loc, f"unexpected '{word}'{hint}")

        end = pp.StringEnd() | pp.Regex(r"\S+").set_parse_action(unexpected)
        expr = None
        for piece in pieces + [end]:
            expr = piece if expr is None else expr - piece

        def build(s, loc, toks, form=form):
            args = {}
            for item in toks:
                dest, val = item[0], item[1]
                if dest == "params":
                    args.update({"params": val})
                else:
                    args[dest] = val
            return [Command(form.handler, args, form)]

        return expr.set_parse_action(build)

    def trie(self, forms: list[gm.Form], depth: int, what: str) -> pp.ParserElement:
        """Alternatives at one depth: keywords shared by several forms, then value-led forms."""
        alternatives = []
        by_word: dict[str, list[gm.Form]] = {}
        order: list[str] = []
        names: list[str] = []
        for form in forms:
            el = form.elements[depth] if depth < len(form.elements) else None
            if el is not None and el.kind == "keyword":
                if el.text not in by_word:
                    by_word[el.text] = []
                    order.append(el.text)
                by_word[el.text].append(form)
        for form in forms:
            el = form.elements[depth] if depth < len(form.elements) else None
            if el is None or el.kind != "keyword":
                alternatives.append((form, el))
        exprs = []
        for word in order:
            group = by_word[word]
            kw = pp.Keyword(word, ident_chars=_IDENT).suppress()
            words = " ".join(group[0].words[: depth + 1])
            exprs.append(kw - self.trie(group, depth + 1, words))
            names.append(word)
        tails = []
        for form, el in alternatives:
            tails.append(self.form_tail(form, depth))
            names.append(_label(self.g, el, " ".join(form.words)) if el is not None else "end of line")
        # several forms led by a value (``cluster ocsp config <name>`` and ``... <name> set <value>``):
        # each is tried, and the one that went furthest gives the error
        exprs += [_Furthest(tails)] if len(tails) > 1 else tails
        choice = pp.MatchFirst(exprs)
        subject = f"after '{what}'" if what else ""
        choice.set_name(f"{gm.one_of(names)}{' ' + subject if subject else ''}")
        return choice


def build_parser(g: gm.Grammar) -> pp.ParserElement:
    """A whole-line parser for any grammar (the packaged one, or one made in a test)."""
    body = _Builder(g).trie(list(g.forms), 0, "")
    whole = pp.Opt(pp.Keyword("rladmin", ident_chars=_IDENT)).suppress() + body
    return whole.parse_with_tabs()  # columns count a tab as one character, as editors do


def _found(line: str, loc: int) -> str:
    rest = line[loc:].split()
    return f"'{rest[0]}'" if rest else "end of line"


#: pyparsing's message for a word that starts with a keyword and goes on ("clusterx").
_GLUED = re.compile(r"Expected Keyword '([^']+)', keyword was immediately followed by keyword character")


def parse_with(p: pp.ParserElement, line: str):
    """A Command, or the CommandSyntaxError for the line (returned, so that it can be cached)."""
    try:
        result = p.parse_string(line, parse_all=True)
    except pp.ParseBaseException as err:
        msg = err.msg
        glued = _GLUED.match(msg)
        if glued:  # "clusterx": the keyword's letters, then more (pyparsing's own words for it)
            start = end = min(err.loc, len(line))
            while start > 0 and not line[start - 1].isspace():
                start -= 1
            while end < len(line) and not line[end].isspace():
                end += 1
            word = line[start:end]
            return CommandSyntaxError(f"unexpected '{word}' (did you mean {glued.group(1)}?)", line, start + 1)
        if msg.startswith(_DONE):
            message = msg[len(_DONE) :]
        else:
            if msg.startswith("Expected "):
                msg = "expected " + msg[len("Expected ") :]
            message = f"{msg}, found {_found(line, err.loc)}"
        return CommandSyntaxError(message, line, err.loc + 1)
    return result[0]
