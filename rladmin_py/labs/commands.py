"""The ``lab`` commands (sandbox only): list, start, status, hint, check, stop.

Each handler takes (context, arguments) and returns a ``Result("lab", {"text", "json"})``: the
text is what the shell prints, the JSON what ``--json`` prints. Progress lives in the sandbox
state, ``state["labs"]``::

    {"current": {"name", "directory", "started", "hints", "checks": [{"at", "met", "of"}]},
     "results": {name: {"runs", "done", "best_seconds"}}}

``sandbox reset`` makes a new state, so it starts the progress again from nothing too.
"""
from __future__ import annotations

import contextlib
import time

from ..results import Cancelled, CommandFailed, Result
from . import catalog, objectives, scenario

MAX_CHECKS_KEPT = 50  # check runs remembered per lab run


def _progress(backend) -> dict:
    labs = backend.store.view().get("labs")
    return labs if isinstance(labs, dict) else {}


def _current(backend, what: str) -> tuple[dict, catalog.Lab]:
    current = _progress(backend).get("current")
    if not isinstance(current, dict):
        raise CommandFailed(f"'{what}': no lab is running: 'lab list' shows the labs, 'lab start <name>' starts one",
                            error_code="no_lab")
    try:
        return current, catalog.get(current.get("name"))
    except KeyError:
        raise CommandFailed(f"'{what}': the running lab {current.get('name')!r} is not one this version ships; "
                            "'lab stop' leaves it", error_code="unknown_lab") from None


@contextlib.contextmanager
def _update(backend):
    """The ``labs`` section of the state, to change (written when the block exits)."""
    with backend.store.update() as state:
        labs = state.get("labs")
        if not isinstance(labs, dict):
            labs = state["labs"] = {}
        labs.setdefault("results", {})
        yield labs


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _objective_lines(rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        if row["met"] is None:
            out.append(f"  - {row['id']}: {row['text']}")
        else:
            out.append(f"  [{'met' if row['met'] else 'NOT MET'}] {row['id']}: {row['text']}")
        if row.get("observed"):
            out.append(f"      observed: {row['observed']}")
    return out


# -- the handlers ----------------------------------------------------------------------------------
def list(ctx, args) -> Result:  # noqa: A001 - the grammar's handler name
    backend = ctx.sandbox("lab list")
    progress = _progress(backend)
    current = (progress.get("current") or {}).get("name")
    results = progress.get("results") or {}
    rows = []
    for lab in catalog.labs():
        result = results.get(lab.name) or {}
        state = "done" if result.get("done") else "in progress" if lab.name == current else (
            "stopped" if result.get("runs") else "not started")
        rows.append({"name": lab.name, "title": lab.title, "level": lab.level, "state": state,
                     "done": bool(result.get("done")), "best_seconds": result.get("best_seconds")})
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'LAB'.ljust(width)}  {'LEVEL':<12}  {'STATE':<11}  {'BEST':>7}  TITLE"]
    for r in rows:
        best = duration(r["best_seconds"]) if r["done"] else "-"
        lines.append(f"{r['name'].ljust(width)}  {r['level']:<12}  {r['state']:<11}  {best:>7}  {r['title']}")
    lines.append("'lab start <name>' sets one up on the sandbox.")
    return Result("lab", {"text": lines, "json": {"labs": rows, "current": current}})


def start(ctx, args) -> Result:
    backend = ctx.sandbox("lab start")
    lab = catalog.get(args["lab"])
    changes = scenario.describe(lab, backend)
    directory = scenario.directory_for(backend, lab.name)
    running = (_progress(backend).get("current") or {}).get("name")
    if ctx.options.dry_run:
        text = [f"Dry run, nothing changed: lab start {lab.name} would:"] + [f"  - {c}" for c in changes]
        return Result("lab", {"text": text, "json": {"lab": lab.name, "dry_run": True, "changes": changes,
                                                     "directory": directory}})
    if ctx.confirm is not None and not ctx.options.yes:
        leaving = f" (and leave the running lab {running})" if running and running != lab.name else ""
        question = (f"Start the lab {lab.name}{leaving}? It changes the sandbox {backend.path}:\n"
                    + "\n".join(f"  - {c}" for c in changes) + "\nGo ahead?")
        if not ctx.confirm(question):
            raise Cancelled()
    made = scenario.apply(lab, backend)
    with _update(backend) as labs:
        labs["current"] = {"name": lab.name, "directory": made["directory"], "started": time.time(), "hints": 0,
                           "checks": []}
        result = labs["results"].setdefault(lab.name, {})
        result["runs"] = int(result.get("runs", 0)) + 1
    values = scenario.values(backend, made["directory"])
    rows = [{"id": o["id"], "text": catalog.fill(o["text"], values), "met": None, "observed": None}
            for o in lab.objectives]
    story = [catalog.fill(line, values) for line in lab.story]
    width = max(len(f["file"]) for f in made["files"]) if made["files"] else 0
    lines = [f"Lab {lab.name}: {lab.title} ({lab.level})"]
    if running and running != lab.name:
        lines.append(f"(left the lab {running})")
    lines += ["", *story, "", "What the setup changed:", *[f"  - {c}" for c in changes], ""]
    if made["files"]:
        lines += [f"Your files (in {made['directory']}):",
                  *[f"  {f['file'].ljust(width)}  {f['purpose']}" for f in made["files"]], ""]
    lines += ["Objectives (checked on the wire):", *_objective_lines(rows), "",
              "'lab status' shows each objective as the endpoints show it now, 'lab hint' gives a hint (counted), "
              "'lab check' says whether you are done."]
    if not backend.served():
        lines.append(f"Other clients (curl, redis-cli, a browser) need the sandbox served: rladmin-py --sandbox "
                     f"{backend.path} --serve 127.0.0.1:0 in another terminal ('lab check' serves it itself when "
                     "none runs).")
    document = {"lab": lab.name, "title": lab.title, "level": lab.level, "directory": made["directory"],
                "story": story, "changes": changes, "files": made["files"], "objectives": rows}
    return Result("lab", {"text": lines, "json": document})


def _observe(backend, current: dict, lab: catalog.Lab) -> tuple[list[dict], str]:
    values = scenario.values(backend, current["directory"])
    rows, how = objectives.observe(backend, current["directory"], lab.objectives)
    for row in rows:
        row["text"] = catalog.fill(row["text"], values)
    return rows, how


def _document(lab, current, rows, how) -> dict:
    return {"lab": lab.name, "directory": current["directory"], "objectives": rows,
            "met": all(r["met"] for r in rows), "elapsed_seconds": round(time.time() - current["started"], 1),
            "hints_used": int(current.get("hints", 0)), "hints": len(lab.hints), "observed_through": how}


def status(ctx, args) -> Result:
    backend = ctx.sandbox("lab status")
    current, lab = _current(backend, "lab status")
    rows, how = _observe(backend, current, lab)
    met = sum(1 for r in rows if r["met"])
    lines = [f"lab {lab.name}: {met} of {len(rows)} objectives met (observed through {how}; "
             f"{duration(time.time() - current['started'])} since the start, "
             f"{current.get('hints', 0)} of {len(lab.hints)} hints used)", *_objective_lines(rows)]
    return Result("lab", {"text": lines, "json": _document(lab, current, rows, how)})


def check(ctx, args) -> Result:
    backend = ctx.sandbox("lab check")
    current, lab = _current(backend, "lab check")
    rows, how = _observe(backend, current, lab)
    now = time.time()
    met = [r for r in rows if r["met"]]
    done = len(met) == len(rows)
    elapsed = now - current["started"]
    with _update(backend) as labs:
        running = labs.get("current")
        if isinstance(running, dict) and running.get("name") == lab.name:
            running.setdefault("checks", []).append({"at": now, "met": len(met), "of": len(rows)})
            del running["checks"][:-MAX_CHECKS_KEPT]
        if done:
            result = labs["results"].setdefault(lab.name, {})
            result["done"] = True
            best = result.get("best_seconds")
            result["best_seconds"] = round(elapsed if best is None else min(best, elapsed), 1)
    document = _document(lab, current, rows, how)
    hints = int(current.get("hints", 0))
    if done:
        text = (f"lab {lab.name}: done: every objective is met ({len(rows)} of {len(rows)}) in {duration(elapsed)} "
                f"with {hints} hint{'' if hints == 1 else 's'}")
        return Result("lab", {"text": [text], "json": document}, exit_code=0)
    unmet = [r for r in rows if not r["met"]]
    lines = [f"lab {lab.name}: not done: {len(met)} of {len(rows)} objectives met", *_objective_lines(unmet),
             "'lab hint' gives a hint."]
    return Result("lab", {"text": lines, "json": document}, exit_code=1)


def hint(ctx, args) -> Result:
    backend = ctx.sandbox("lab hint")
    current, lab = _current(backend, "lab hint")
    used = int(current.get("hints", 0))
    number = min(used + 1, len(lab.hints))
    with _update(backend) as labs:
        if used < len(lab.hints) and isinstance(labs.get("current"), dict):
            labs["current"]["hints"] = number
    text = catalog.fill(lab.hints[number - 1], scenario.values(backend, current["directory"]))
    last = " (the last one)" if number == len(lab.hints) else ""
    return Result("lab", {"text": [f"hint {number} of {len(lab.hints)}{last}: {text}"],
                          "json": {"lab": lab.name, "hint": text, "number": number, "of": len(lab.hints)}})


def stop(ctx, args) -> Result:
    backend = ctx.sandbox("lab stop")
    current, lab = _current(backend, "lab stop")
    with _update(backend) as labs:
        labs.pop("current", None)
    text = (f"left the lab {lab.name}; the sandbox keeps its state and the lab's files stay in {current['directory']} "
            "('sandbox reset' starts again from scratch)")
    return Result("lab", {"text": [text], "json": {"lab": lab.name, "stopped": True, "directory": current["directory"]}})
