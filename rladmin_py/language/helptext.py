"""Help text, generated from the grammar data (never written by hand): ``help``, the ``?``
listing, and the usage line the shell's toolbar shows for the command being typed."""
from __future__ import annotations

from . import grammar as gm, walker

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


def format_next_help(h) -> str:
    """The text ``?`` prints above the prompt, for a :class:`.completion.NextHelp`."""
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


def toolbar_hint(a) -> tuple[str, str]:
    """(kind, text) for the bottom toolbar from a :class:`.walker.Analysis`: ``("error", "column N:
    ...")``, ``("usage", ...)`` or ``("", "")``."""
    if a.status == "invalid" and a.error is not None:
        return "error", f"column {a.error[0]}: {a.error[1]}"
    if a.status in ("empty", "comment") or not a.forms:
        return "", ""
    g = walker.grammar()
    usages = list(dict.fromkeys(f.usage(g) for f in a.forms))
    if len(usages) == 1:
        return "usage", f"{usages[0]}  -  {a.forms[0].description}"
    return "usage", "  |  ".join(usages[:3]) + ("  | ..." if len(usages) > 3 else "")
