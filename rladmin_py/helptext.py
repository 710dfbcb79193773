"""Help text, generated from the grammar data (never written by hand)."""
from __future__ import annotations

from . import grammar as gm

TAG_NOTES = {
    "sandbox": "local sandbox only; not an rladmin command",
    "local": "runs on this machine, not a cluster command",
    "addition": "rladmin-py addition, not in rladmin",
}


def _tags(form: gm.Form) -> str:
    notes = [TAG_NOTES[t] for t in sorted(form.tags) if t in TAG_NOTES]
    return f" ({'; '.join(notes)})" if notes else ""


def _value_types(form: gm.Form, g: gm.Grammar) -> list[gm.ValueType]:
    seen, out = set(), []

    def walk(elements):
        for el in elements:
            if el.kind == "optional":
                walk(el.children)
            elif el.kind == "value" and el.type not in seen:
                seen.add(el.type)
                out.append(g.type(el.type))

    walk(form.elements)
    return out


def _table(rows: list[tuple[str, str]], indent: str = "    ") -> list[str]:
    width = max((len(a) for a, _ in rows), default=0)
    return [f"{indent}{a.ljust(width)}  {b}".rstrip() for a, b in rows]


def command_list(g: gm.Grammar | None = None) -> str:
    """``help`` and ``?``: every command form with its one-line description."""
    g = g or gm.load()
    rows = [(f.usage(g), f.description + _tags(f)) for f in g.forms if f.notation != "?"]
    lines = ["Commands:"]
    for notation, desc in rows:
        lines.append(f"  {notation}")
        lines.append(f"      {desc}")
    lines.append("")
    lines.append("Type 'help <command words>' for details, e.g. 'help cluster config'.")
    return "\n".join(lines)


def help_for(words: list[str], g: gm.Grammar | None = None) -> str:
    """Usage and descriptions of the forms that start with ``words`` (all forms when empty)."""
    g = g or gm.load()
    if words and words[0] == "rladmin":
        words = words[1:]
    if not words:
        return command_list(g)
    forms = g.forms_starting(words)
    if not forms:
        raise LookupError(f"no command starts with '{' '.join(words)}'; type 'help' for the list")
    lines = []
    for form in forms:
        lines.append(f"Usage: {form.usage(g)}")
        lines.append(f"  {form.description}{_tags(form)}")
        for vt in _value_types(form, g):
            if vt.kind == "params":
                lines.append("  Parameters:")
                rows = []
                for p in vt.params.values():
                    ptype = None if p.readonly else g.type(p.type)
                    values = "read-only" if ptype is None else ptype.describe() if ptype.kind == "enum" else "<ciphers>"
                    rows.append((p.name, f"{p.description} [{values}]"))
                lines += _table(rows)
            elif vt.kind == "enum":
                lines.append(f"  <{vt.name}>:")
                lines += _table(list(vt.choices.items()))
        lines.append("")
    return "\n".join(lines).rstrip()
