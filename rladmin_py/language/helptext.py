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


OPTIONS = (("-y", "Assume Yes for all required user confirmations."),)
_ADDITION_TAGS = frozenset(TAG_NOTES)


def _is_addition(form: gm.Form) -> bool:
    return bool(form.tags & _ADDITION_TAGS)


def form_list(g: gm.Grammar | None = None) -> str:
    """``?`` on an empty line: every command form with its one-line description."""
    g = g or gm.load()
    lines = ["Commands:"]
    for f in g.forms:
        if f.notation != "?":
            lines += [f"  {f.usage(g)}", f"      {f.description}{_tags(f)}"]
    lines += ["", "Type 'help' for rladmin's command list, 'help <command words>' for details, e.g. 'help cluster config'."]
    return "\n".join(lines)


def command_list(g: gm.Grammar | None = None) -> str:
    """``help``: rladmin's own layout (``rladmin help``, https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/help/):
    usage, options, one line per command word, the closing line; then this tool's additions
    under their own heading, so that nothing here looks like rladmin when it is not."""
    g = g or gm.load()
    words = g.type("command_words").choices
    ours = [f for f in g.forms if f.notation != "?"]
    real = [w for w in words if any(f.words[:1] == (w,) and not _is_addition(f) for f in ours)]
    lines = ["usage: rladmin [options] [command] [command args]", "", "Options:"]
    lines += [f"  {flag}  {desc}" for flag, desc in OPTIONS]
    lines += ["", "Commands:"]
    lines += [f"  {w:9} {words[w]}" for w in real]
    lines += ["", 'Use "rladmin help [command]" to get more information on a specific command.', "",
              "rladmin-py additions (not rladmin commands):"]
    added = [(" ".join(f.words), f.description + (" (sandbox only)" if "sandbox" in f.tags else ""))
             for f in ours if _is_addition(f)]
    added += [(w, words[w]) for w in words if w not in real and not any(f.words[:1] == (w,) for f in ours if _is_addition(f))
              and any(f.words[:1] == (w,) for f in ours)]
    lines += _table(list(dict.fromkeys(added)), "  ")
    return "\n".join(lines)


def _values_text(g: gm.Grammar, p: gm.Param) -> str:
    if p.renamed:
        return f"renamed: use {p.renamed}"
    if p.readonly:
        return "read-only"
    parts = []
    for el in p.elements:
        if el.kind == "keyword":
            parts.append(el.text)
            continue
        vt = g.type(el.type)
        text = vt.describe() if vt.kind in ("enum", "range") else f"<{el.label or el.type}>"
        parts.append(text + (" ..." if el.repeat else ""))
    return " ".join(parts)


def _rest_target(p: gm.Param, table: str) -> str | None:
    """Where a live cluster takes the parameter (for ``help cluster config <parameter>``)."""
    route = p.attr("route")
    if table == "ocsp_config":
        return f"field {p.name} of /v1/ocsp (GET and PUT)"
    if route == "services_configuration":
        return "PUT /v1/cluster/services_configuration {\"<service>\": {\"operating_mode\": \"enabled|disabled\"}}"
    if route == "auditing":
        return "PUT /v1/cluster/auditing/db_conns {\"audit_protocol\", \"audit_address\", \"audit_port\"}"
    if p.renamed:
        return None
    return f"field {p.attr('field', p.name)} of the cluster object (PUT /v1/cluster)"


def param_help(form: gm.Form, vt: gm.ValueType, p: gm.Param, g: gm.Grammar) -> str:
    """``help cluster config <parameter>``: what it is, its values, default and REST field."""
    label = " ".join(form.words)
    lines = [f"Usage: {label} {p.name} {p.notation()}".rstrip() if p.settable else f"{label} {p.name}",
             f"  {p.description}", f"  Values:      {_values_text(g, p)}"]
    if p.attr("default") is not None:
        lines.append(f"  Default:     {p.attr('default')}")
    target = _rest_target(p, vt.name)
    if target:
        lines.append(f"  REST:        {target}")
    return "\n".join(lines)


def help_for(words: list[str], g: gm.Grammar | None = None) -> str:
    """Usage and descriptions of the forms that start with ``words`` (all forms when empty);
    a params table's name after its command (``help cluster config cm_port``) explains it."""
    g = g or gm.load()
    if words and words[0] == "rladmin":
        words = words[1:]
    if not words:
        return command_list(g)
    forms = g.forms_starting(words)
    if not forms and len(words) >= 2:
        for form in g.forms_starting(words[:-1]):
            for vt in _value_types(form, g):
                if vt.kind == "params" and words[-1] in vt.params and len(form.words) == len(words) - 1:
                    return param_help(form, vt, vt.params[words[-1]], g)
    if not forms:
        raise LookupError(f"no command starts with '{' '.join(words)}'; type 'help' for the list")
    lines = []
    for form in forms:
        lines.append(f"Usage: {form.usage(g)}")
        lines.append(f"  {form.description}{_tags(form)}")
        for vt in _value_types(form, g):
            if vt.kind == "params":
                lines.append("  Parameters:")
                rows = [(p.name, f"{p.description} [{_values_text(g, p)}]") for p in vt.params.values()]
                lines += _table(rows)
                lines.append(f"  'help {' '.join(form.words)} <parameter>' explains one (values, default, REST field).")
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
