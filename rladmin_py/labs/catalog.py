"""The labs as data: one JSON file per lab in ``data/``, read and checked here.

A lab file holds::

    name, title, level (beginner | intermediate | advanced), order (its place in ``lab list``)
    story            lines of text
    setup            steps (see :mod:`.scenario`): CAs and certificates to make, files to write,
                     changes to the sandbox
    objectives       [{"id", "text", "check", ...the check's fields}] (see :mod:`.objectives`)
    hints            lines, shown one by one by ``lab hint``
    solution         the reference solution: rladmin-py lines (``{"run": line, "exit": N}`` for a
                     line that is meant to fail), and ``{"edit": ...}`` for a file the trainee fixes
                     in an editor (see :func:`apply_edit`)
    unmet_at_start   the objectives the untouched setup leaves unmet (tests/test_labs.py checks it)

Text may name ``{cluster}`` (the cluster's name), ``{directory}`` (the lab directory) and
``{sandbox}`` (the state file). Adding a lab is adding a file (and its name to ``values lab_name``
in the grammar; a test keeps the two in sync).
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

DATA = os.path.join(os.path.dirname(__file__), "data")
LEVELS = ("beginner", "intermediate", "advanced")
#: The setup steps :mod:`.scenario` knows (its docstring says what each takes).
STEPS = ("ca", "certificate", "cluster", "ocsp", "database", "node")
FIELDS = ("name", "title", "level", "order", "story", "setup", "objectives", "hints", "solution", "unmet_at_start")


class LabDataProblem(ValueError):
    """A lab file that does not hold a lab (a bug in the package's data: tests catch it)."""


@dataclass(frozen=True)
class Lab:
    name: str
    title: str
    level: str
    order: int
    story: tuple[str, ...]
    setup: tuple[dict, ...]
    objectives: tuple[dict, ...]
    hints: tuple[str, ...]
    solution: tuple
    unmet_at_start: tuple[str, ...]

    def objective(self, ident: str) -> dict:
        return next(o for o in self.objectives if o["id"] == ident)


def fill(text: str, values: dict) -> str:
    """``text`` with ``{cluster}``, ``{directory}`` and ``{sandbox}`` filled in (other braces kept)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def _check(raw: dict, path: str) -> Lab:
    from . import objectives

    def bad(why: str):
        raise LabDataProblem(f"{path}: {why}")

    if not isinstance(raw, dict):
        bad("not a JSON object")
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        bad(f"missing {', '.join(missing)}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        bad(f"unknown field {unknown[0]!r}")
    if os.path.basename(path) != f"{raw['name']}.json":
        bad(f"the file of lab {raw['name']!r} must be named {raw['name']}.json")
    if raw["level"] not in LEVELS:
        bad(f"level must be one of {', '.join(LEVELS)}")
    ids = [o.get("id") for o in raw["objectives"]]
    if not ids or len(set(ids)) != len(ids):
        bad("objectives need ids, each once")
    for o in raw["objectives"]:
        if o.get("check") not in objectives.CHECKS:
            bad(f"objective {o.get('id')!r}: unknown check {o.get('check')!r} "
                f"(known: {', '.join(sorted(objectives.CHECKS))})")
        if not isinstance(o.get("text"), str):
            bad(f"objective {o.get('id')!r}: no text")
    for step in raw["setup"]:
        if not isinstance(step, dict) or step.get("do") not in STEPS:
            bad(f"unknown setup step {step!r} (known: {', '.join(STEPS)})")
    if set(raw["unmet_at_start"]) - set(ids):
        bad("unmet_at_start names an objective the lab does not have")
    for step in raw["solution"]:
        if not (isinstance(step, str) or (isinstance(step, dict) and ("run" in step or "edit" in step))):
            bad(f"solution step {step!r}: a line, {{'run': line, 'exit': N}} or {{'edit': ...}}")
    if not raw["hints"]:
        bad("no hints")
    return Lab(raw["name"], raw["title"], raw["level"], int(raw["order"]), tuple(raw["story"]), tuple(raw["setup"]),
               tuple(raw["objectives"]), tuple(raw["hints"]), tuple(raw["solution"]), tuple(raw["unmet_at_start"]))


@functools.lru_cache(maxsize=None)
def labs() -> tuple[Lab, ...]:
    """Every lab shipped, in ``lab list`` order."""
    out = []
    for file in sorted(os.listdir(DATA)):
        if file.endswith(".json"):
            path = os.path.join(DATA, file)
            with open(path, encoding="utf-8") as fh:
                out.append(_check(json.load(fh), path))
    return tuple(sorted(out, key=lambda lab: (lab.order, lab.name)))


def names() -> list[str]:
    return [lab.name for lab in labs()]


def get(name: str) -> Lab:
    for lab in labs():
        if lab.name == name:
            return lab
    raise KeyError(name)


# -- solution steps --------------------------------------------------------------------------------
def solution_lines(lab: Lab, values: dict) -> list[tuple[str, int]]:
    """The reference solution's rladmin-py lines, filled in, with the exit code each should have
    (``edit`` steps are left out: see :func:`apply_edit`)."""
    out = []
    for step in lab.solution:
        if isinstance(step, str):
            out.append((fill(step, values), 0))
        elif "run" in step:
            out.append((fill(step["run"], values), int(step.get("exit", 0))))
    return out


def apply_edit(step: dict, directory: str) -> str:
    """Do what a solution's ``edit`` step says a trainee does in a text editor: write ``write``
    with the PEM blocks of ``from`` numbered in ``blocks`` (1-based, in that order; the text around
    the blocks, such as ``Bag Attributes``, is left out). Returns the path written."""
    import re

    from ..safefiles import write_secret_file

    with open(os.path.join(directory, step["from"]), encoding="utf-8") as fh:
        texts = [m.group(0) for m in re.finditer(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----\n?", fh.read(), re.S)]
    content = "".join(texts[i - 1] if texts[i - 1].endswith("\n") else texts[i - 1] + "\n" for i in step["blocks"])
    path = os.path.join(directory, step["write"])
    write_secret_file(path, content, mode=0o600)
    return path
