"""The house rules, checked on the installed package's source: data flows one way, no module
imports a module that imports it back, and each heavy library has one door.

Imports are read with ``ast`` (those inside functions too: a lazy import is still a dependency),
so the rules hold for every code path, not only for the ones a test happens to run.
"""
from __future__ import annotations

import ast
import os

import pytest

import rladmin_py

ROOT = os.path.dirname(rladmin_py.__file__)


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(ROOT))[: -len(".py")].split(os.sep)
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def _is_module(name: str) -> bool:
    base = os.path.join(os.path.dirname(ROOT), *name.split("."))
    return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))


def _imports(path: str) -> set[str]:
    """Every module of ours and every top-level library this file imports, anywhere in it."""
    name = _module_name(path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            for alias in node.names:  # `from . import walker`: the submodule itself
                if _is_module(f"{target}.{alias.name}"):
                    out.add(f"{target}.{alias.name}")
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for directory, _, files in os.walk(ROOT):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(directory, file)
                graph[_module_name(path)] = _imports(path)
    return graph


GRAPH = _graph()
OURS = {m: {d for d in deps if d.split(".")[0] == "rladmin_py"} for m, deps in GRAPH.items()}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_sees_the_package():
    assert {"rladmin_py.cli", "rladmin_py.language.walker", "rladmin_py.shell.repl",
            "rladmin_py.sandbox.cluster", "rladmin_py.backends.rest"} <= set(GRAPH)
    assert "rladmin_py.language.pyparse" in OURS["rladmin_py.language.parser"]  # lazy imports are seen


def test_no_module_imports_a_module_that_imports_it_back():
    """No cycle of any length (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in OURS.get(v, ()):
            if w == v or w not in OURS:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(OURS):
        if module not in index:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("package, forbidden", [
    ("rladmin_py.language", ("rladmin_py.backends", "rladmin_py.shell", "rladmin_py.sandbox", "rladmin_py.commands",
                             "rladmin_py.runner", "rladmin_py.render", "rladmin_py.cli", "rladmin_py.certificates")),
    ("rladmin_py.backends", ("rladmin_py.shell", "rladmin_py.render", "rladmin_py.language", "rladmin_py.runner",
                             "rladmin_py.commands", "rladmin_py.cli")),
    ("rladmin_py.certificates", ("rladmin_py.shell", "rladmin_py.render", "rladmin_py.language", "rladmin_py.commands",
                                 "rladmin_py.backends", "rladmin_py.sandbox")),
    ("rladmin_py.sandbox", ("rladmin_py.shell", "rladmin_py.render", "rladmin_py.commands", "rladmin_py.runner",
                            "rladmin_py.cli")),
])
def test_data_flows_one_way(package, forbidden):
    wrong = sorted((m, d) for m, deps in OURS.items() if _in(m, package)
                   for d in deps if any(_in(d, f) for f in forbidden))
    assert wrong == []


def test_the_sandbox_reads_only_the_grammar_data_of_the_language():
    """The simulated cluster checks cluster fields against the grammar's parameter table; it
    never needs the parser, the walker or help."""
    used = sorted({d for m, deps in OURS.items() if _in(m, "rladmin_py.sandbox")
                   for d in deps if _in(d, "rladmin_py.language")})
    assert "rladmin_py.language.grammar" in used
    assert set(used) <= {"rladmin_py.language", "rladmin_py.language.grammar"}, used


@pytest.mark.parametrize("library, door", [
    ("prompt_toolkit", "rladmin_py.shell"),
    ("pyparsing", "rladmin_py.language.pyparse"),
    ("httpx", "rladmin_py.backends.rest"),
])
def test_each_heavy_library_has_one_door(library, door):
    users = sorted(m for m, deps in GRAPH.items() if any(d == library or d.startswith(library + ".") for d in deps))
    assert users and all(_in(m, door) for m in users), users


# -- the Ansible collection (rladmin_py/ansible_collections/redis/rs_tls) ------------------------------------------
COLLECTION = "rladmin_py.ansible_collections"


def test_the_graph_sees_the_ansible_collection():
    utils = f"{COLLECTION}.redis.rs_tls.plugins.module_utils.rs_tls"
    assert utils in GRAPH and "rladmin_py.ansible_support" in OURS[utils]
    assert {f"{COLLECTION}.redis.rs_tls.plugins.modules.{m}" for m in
            ("certificate", "tls_settings", "certificate_info", "tls_verify")} <= set(GRAPH)


@pytest.mark.parametrize("library", ["ansible", "ansible_collections"])
def test_ansible_is_imported_by_the_collection_only(library):
    """The shell never imports Ansible: ansible_support (what the modules run) is plain rladmin-py."""
    users = sorted(m for m, deps in GRAPH.items() if any(d == library or d.startswith(library + ".") for d in deps))
    assert users and all(_in(m, COLLECTION) for m in users), users


def test_only_the_collection_uses_ansible_support():
    users = sorted(m for m, deps in OURS.items() if "rladmin_py.ansible_support" in deps)
    assert users and all(_in(m, COLLECTION) for m in users), users


def test_the_collection_reaches_rladmin_py_through_ansible_support_only():
    """One door each way: the modules run the shell's code only as ansible_support's tasks."""
    wrong = sorted((m, d) for m, deps in OURS.items() if _in(m, COLLECTION)
                   for d in deps if d not in ("rladmin_py", "rladmin_py.ansible_support"))
    assert wrong == []
