"""The training labs (issue 16): every lab's reference solution, run through the console script,
takes ``lab check`` from exit 1 to exit 0; the untouched setup fails with the objectives the lab
file says; list, status, hint, stop and --json behave. Objectives are checked on the wire: by
endpoints ``lab check`` serves itself, or through a running ``--serve`` (stopped by each test)."""
from __future__ import annotations

import json
import os
import stat

import pytest

from rladmin_py.labs import catalog
from rladmin_py.language import grammar as gm
from rladmin_py.language.parser import parse
from test_server import start_server

LABS = catalog.names()


def _json(run) -> dict:
    assert run.stdout.strip(), run.stderr
    return json.loads(run.stdout)


def _values(sandbox_path, name: str) -> dict:
    return {"cluster": "cluster.sandbox.local", "directory": str(sandbox_path.parent / "labs" / name),
            "sandbox": str(sandbox_path)}


def _solve(rladmin, sandbox_path, lab: catalog.Lab) -> None:
    """The reference solution, step by step, as a trainee types it (one command each)."""
    values = _values(sandbox_path, lab.name)
    for step in lab.solution:
        if isinstance(step, dict) and "edit" in step:
            catalog.apply_edit(step, values["directory"])
            continue
        line, expected = ((step, 0) if isinstance(step, str) else (step["run"], int(step.get("exit", 0))))
        r = rladmin("-y", *_words(catalog.fill(line, values)))
        assert r.returncode == expected, (line, r.stdout, r.stderr)


def _words(line: str) -> list[str]:
    import shlex

    return shlex.split(line)


def test_the_grammar_lists_every_shipped_lab():
    """``values lab_name`` (completion, help, the parser) and the lab files say the same names."""
    assert list(gm.load().type("lab_name").choices) == LABS
    assert len(LABS) >= 6


@pytest.mark.parametrize("name", LABS)
def test_every_lab_file_is_complete(name):
    lab = catalog.get(name)
    assert lab.story and lab.hints and lab.solution and lab.unmet_at_start
    for line, _ in catalog.solution_lines(lab, {"cluster": "c.example", "directory": "/tmp/x", "sandbox": "/tmp/s"}):
        words = [w for w in _words(line) if not w.startswith("--")]  # global options come first
        parse(" ".join(words))  # every solution line is rladmin-py syntax


def test_a_bad_lab_file_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    raw = json.loads(open(os.path.join(catalog.DATA, "harden-tls.json")).read())
    raw["name"] = "broken"
    raw["objectives"][0]["check"] = "looks_fine"
    with pytest.raises(catalog.LabDataProblem, match="unknown check 'looks_fine'"):
        catalog._check(raw, str(path))


@pytest.mark.parametrize("name", LABS)
def test_the_reference_solution_takes_check_from_1_to_0(rladmin, sandbox_path, name):
    lab = catalog.get(name)
    r = rladmin("-y", "--json", "lab", "start", name)
    assert r.returncode == 0, r.stderr
    started = _json(r)
    assert started["lab"] == name and started["directory"] == _values(sandbox_path, name)["directory"]
    assert [o["id"] for o in started["objectives"]] == [o["id"] for o in lab.objectives]

    r = rladmin("--json", "lab", "check")
    assert r.returncode == 1, r.stderr
    before = _json(r)
    assert sorted(o["id"] for o in before["objectives"] if not o["met"]) == sorted(lab.unmet_at_start)
    assert all(o["observed"] for o in before["objectives"])
    assert before["observed_through"] == "the endpoints served here for the check"

    server = start_server(sandbox_path) if any("ocsp test_certificate" in str(s) for s in lab.solution) else None
    try:  # cluster ocsp test_certificate asks the responder a --serve runs
        _solve(rladmin, sandbox_path, lab)
        r = rladmin("--json", "lab", "check")
    finally:
        if server is not None:
            assert server.stop() == 0, server.log()
    assert r.returncode == 0, r.stdout
    after = _json(r)
    assert all(o["met"] for o in after["objectives"]) and after["met"] is True


def test_untouched_objectives_say_what_was_observed(rladmin):
    assert rladmin("-y", "lab", "start", "ca-signed").returncode == 0
    r = rladmin("lab", "status")
    assert r.returncode == 0, r.stderr
    assert "serves CN=cluster.sandbox.local issued by itself; expected a certificate issued by \"Lab Root CA\"" in r.stdout
    assert "[NOT MET] database:" in r.stdout


def test_ca_signed_as_a_script_and_through_a_running_serve(rladmin, sandbox_path, tmp_path):
    lab = catalog.get("ca-signed")
    assert rladmin("-y", "lab", "start", "ca-signed").returncode == 0
    script = tmp_path / "solve.rla"
    script.write_text("\n".join(line for line, _ in catalog.solution_lines(lab, _values(sandbox_path, lab.name))) + "\n")
    r = rladmin("-y", "-f", str(script))
    assert r.returncode == 0, r.stderr
    server = start_server(sandbox_path)
    try:
        r = rladmin("--json", "lab", "check")
        status = rladmin("lab", "status")
    finally:
        assert server.stop() == 0, server.log()
    assert r.returncode == 0, r.stdout
    assert _json(r)["observed_through"].startswith("the running --serve (pid ")
    assert "4 of 4 objectives met" in status.stdout


def test_a_lab_check_inside_a_script_sees_the_commands_before_it(rladmin, tmp_path):
    """In a script the sandbox writes its commands in batches; a command that looks at what is
    served (lab check, lab status, verify tls) comes after the batch before it is on disk."""
    assert rladmin("-y", "lab", "start", "harden-tls").returncode == 0
    script = tmp_path / "harden.rla"
    script.write_text("lab check\n"
                      "cluster config min_control_TLS_version 1.3 min_data_TLS_version 1.3\n"
                      "cluster config http_support disabled\n"
                      "lab status\n"
                      "lab check\n")
    r = rladmin("-y", "--keep-going", "-f", str(script))
    first, rest = r.stdout.split("Cluster configured successfully", 1)
    assert "not done: 0 of 4 objectives met" in first  # before the changes
    assert "4 of 4 objectives met" in rest and "done: every objective is met" in rest, r.stdout
    assert r.returncode == 1  # the first check's exit status: not done yet


def test_expiring_proxy_starts_with_3_days_on_the_wire(rladmin):
    assert rladmin("-y", "lab", "start", "expiring-proxy").returncode == 0
    rows = {o["id"]: o for o in _json(rladmin("--json", "lab", "status"))["objectives"]}
    assert "valid 2 more days" in rows["served-300-days"]["observed"]
    assert rows["metrics-300-days"]["observed"].count("2 days on node") == 3
    assert rows["set-get"]["met"] and "verified against ca.pem" in rows["set-get"]["observed"]
    r = rladmin("-y", "cluster", "certificate", "set", "proxy", "certificate_file",
                str(rladmin_dir(rladmin, "expiring-proxy") / "renewal.pem"))
    assert r.returncode == 1 and "chain out of order" in r.stderr


def rladmin_dir(rladmin, name: str):
    from pathlib import Path

    return Path(_json(rladmin("--json", "lab", "status"))["directory"])


def test_list_hint_stop_and_progress(rladmin, sandbox_path):
    labs = _json(rladmin("--json", "lab", "list"))
    assert [lab["name"] for lab in labs["labs"]] == LABS and labs["current"] is None
    assert {lab["state"] for lab in labs["labs"]} == {"not started"}

    r = rladmin("lab", "status")
    assert r.returncode == 1 and "no lab is running" in r.stderr

    assert rladmin("-y", "lab", "start", "harden-tls").returncode == 0
    hints = catalog.get("harden-tls").hints
    for number in range(1, len(hints) + 2):  # past the last one: the last again, not counted again
        h = _json(rladmin("--json", "lab", "hint"))
        assert h["number"] == min(number, len(hints)) and h["of"] == len(hints)
    assert _json(rladmin("--json", "lab", "status"))["hints_used"] == len(hints)

    assert rladmin("-y", "cluster", "config", "min_control_TLS_version", "1.3", "min_data_TLS_version", "1.3",
                   "http_support", "disabled").returncode == 0
    r = rladmin("lab", "check")
    assert r.returncode == 0 and f"with {len(hints)} hints" in r.stdout
    row = next(lab for lab in _json(rladmin("--json", "lab", "list"))["labs"] if lab["name"] == "harden-tls")
    assert row["state"] == "done" and row["best_seconds"] is not None

    r = rladmin("--json", "lab", "stop")
    assert r.returncode == 0 and _json(r)["stopped"] is True
    assert rladmin("lab", "check").returncode == 1
    listed = _json(rladmin("--json", "lab", "list"))
    assert listed["current"] is None
    assert next(lab for lab in listed["labs"] if lab["name"] == "harden-tls")["state"] == "done"

    state = json.loads(sandbox_path.read_text())
    assert state["labs"]["results"]["harden-tls"]["done"] is True
    assert rladmin("-y", "sandbox", "reset").returncode == 0  # a new state: progress starts again
    assert {lab["state"] for lab in _json(rladmin("--json", "lab", "list"))["labs"]} == {"not started"}


def test_start_writes_private_files_and_dry_run_changes_nothing(rladmin, sandbox_path):
    before = sandbox_path.read_bytes()
    r = rladmin("--dry-run", "lab", "start", "partial-update")
    assert r.returncode == 0 and "marks node 2 down" in r.stdout
    assert sandbox_path.read_bytes() == before

    assert rladmin("-y", "lab", "start", "partial-update").returncode == 0
    directory = sandbox_path.parent / "labs" / "partial-update"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "proxy.key").stat().st_mode) == 0o600
    state = json.loads(sandbox_path.read_text())
    assert [n["status"] for n in state["nodes"]] == ["active", "down", "active"]
    assert state["labs"]["current"]["name"] == "partial-update"
    # another lab brings the node back before it changes certificates
    assert rladmin("-y", "lab", "start", "expiring-proxy").returncode == 0
    assert [n["status"] for n in json.loads(sandbox_path.read_text())["nodes"]] == ["active"] * 3


def test_lab_words_complete_and_unknown_labs_are_syntax_errors(rladmin):
    from rladmin_py.language import completion

    offered = [c.text.strip() for c in completion.complete("lab start ")]
    assert offered == LABS
    assert {c.text.strip() for c in completion.complete("lab ")} == {"list", "start", "status", "hint", "check", "stop"}
    r = rladmin("lab", "start", "no-such-lab")
    assert r.returncode == 2


def test_labs_are_sandbox_only(rladmin):
    r = rladmin("--cluster", "https://127.0.0.1:1", "--user", "u", "lab", "list", sandbox=False,
                env={"REDIS_ENTERPRISE_PASSWORD": "x"})
    assert r.returncode != 0


def test_partial_update_shows_the_node_that_missed_the_rotation(rladmin, sandbox_path):
    assert rladmin("-y", "lab", "start", "partial-update").returncode == 0
    directory = sandbox_path.parent / "labs" / "partial-update"
    r = rladmin("-y", "cluster", "certificate", "set", "proxy", "certificate_file", str(directory / "proxy.pem"),
                "key_file", str(directory / "proxy.key"))
    assert r.returncode == 1 and "node:2" in r.stderr
    rows = {o["id"]: o for o in _json(rladmin("--json", "lab", "status"))["objectives"]}
    assert rows["served"]["met"] and not rows["every-node"]["met"]
    assert "node 2 still holds another proxy certificate" in rows["every-node"]["observed"]
