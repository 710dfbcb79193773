"""The fast matcher and the pyparsing parser accept the same lines with the same arguments."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from rladmin_py.language import grammar as gm, parser, walker
from test_grammar import ACCEPTED, REJECTED

PP = parser.parser()


def pyparsing_result(line):
    try:
        cmd = parser.parse(line, PP)  # an explicit parser: pyparsing only, no fast path
    except parser.CommandSyntaxError:
        return None
    return cmd.form, cmd.args


def check_agree(line):
    fast = walker.match(line)
    slow = pyparsing_result(line)
    if fast is not None:
        assert slow is not None, f"matcher accepts what pyparsing refuses: {line!r}"
        assert fast[0] is slow[0] and fast[1] == slow[1], line
    elif slow is not None:
        assert walker.plain_tokens(line) is None, f"matcher refuses a plain line pyparsing accepts: {line!r}"


@pytest.mark.parametrize("line", [a[0] for a in ACCEPTED] + [r[0] for r in REJECTED])
def test_golden_lines_agree(line):
    check_agree(line)


def test_valid_lines_do_not_need_pyparsing():
    for line, _, _ in ACCEPTED:
        assert walker.match(line) is not None, line


g = gm.load()
WORDS = sorted({w for f in g.forms for w in f.notation.replace("[", " ").replace("]", " ").split()
                if not w.startswith("<")}
               | set(g.type("cluster_config").params) | set(g.type("certificate_name").choices)
               | {v for t in g.types.values() for v in t.choices}
               | {"1.1", "9443", "80", "13000-13010", "set", "db_conns", "x.pem", "'a b'", '"c d"', "'", '"', "''", "rladmin", "12", "-", "HIGH:!MD5", "--json"})


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=10), st.sampled_from([" ", "  ", "\t", " \t"]))
def test_generated_lines_agree(words, sep):
    check_agree(sep.join(words))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("cluster config set proxy 1.2 '\"\\\t x")), max_size=40))
def test_odd_text_agrees(line):
    check_agree(line)


def _form_words(data, elements):
    out = []
    for el in elements:
        if el.kind == "optional":
            if data.draw(st.booleans()):
                out += _form_words(data, el.children)
        elif el.kind in ("keyword", "flag"):
            out.append(el.text if data.draw(st.integers(0, 20)) else data.draw(st.sampled_from(WORDS)))
        else:
            vt = g.type(el.type)
            if vt.kind == "params":
                names = data.draw(st.lists(st.sampled_from(sorted(vt.params)), min_size=1, max_size=4))
                for name in names:
                    p = vt.params[name]
                    out.append(name)
                    if not p.settable:
                        out.append("x")
                    else:
                        out += _form_words(data, list(p.elements))
                        if p.values[-1].repeat and data.draw(st.booleans()):
                            out += _form_words(data, [p.values[-1]])
            elif vt.kind == "enum":
                out.append(data.draw(st.sampled_from(sorted(vt.choices) + ["bogus", "'1.2'"])))
            elif el.type == "int":
                out.append(data.draw(st.sampled_from(["1", "2", "03", "x", "-1"])))
            elif vt.kind == "range":  # the bounds, and just outside them
                edges = [vt.minimum, vt.minimum - 1] + ([vt.maximum, vt.maximum + 1] if vt.maximum is not None else [10**6])
                out.append(str(data.draw(st.sampled_from(edges))))
            elif el.type == "port_range":
                out.append(data.draw(st.sampled_from(["11000", "13000-13010", "0", "65536", "20-10", "1-", "x"])))
            else:
                out.append(data.draw(st.sampled_from(["x.pem", "'a b.pem'", '"c \\" d"', "HIGH:!MD5", "''", "--json"])))
    return out


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_lines_built_from_the_forms_agree(data):
    form = data.draw(st.sampled_from(g.forms))
    words = _form_words(data, form.elements)
    if data.draw(st.integers(0, 5)) == 0:
        words.insert(0, "rladmin")
    check_agree(" ".join(words))
