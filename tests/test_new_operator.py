"""What a new operator tripped over (issue 15), through the console script."""
from __future__ import annotations

import json

import pytest

from test_server import served  # noqa: F401  (a fixture)

from rladmin_py.language import parser


@pytest.mark.parametrize("line", ["cluster certificate show --json proxy", "cluster config --json min_data_TLS_version 1.3",
                                  "status --json nodes issues_only", "info cluster --json"])
def test_flags_may_stand_anywhere_after_the_command_words(line):
    cmd = parser.parse(line)
    assert cmd.args["json"] is True and cmd.line == line


def test_a_suggestion_is_never_the_word_typed_and_columns_stay_those_typed():
    with pytest.raises(parser.CommandSyntaxError) as info:
        parser.parse("cluster certificate show --json prox")
    assert info.value.col == len("cluster certificate show --json ") + 1
    assert "(did you mean proxy?)" in info.value.message
    with pytest.raises(parser.CommandSyntaxError) as info:
        parser.parse("cluster certificate show --json proxy extra")
    assert "did you mean" not in info.value.message and info.value.col == len("cluster certificate show --json proxy ") + 1


def test_json_in_the_middle_from_the_console(rladmin):
    r = rladmin("cluster", "certificate", "show", "--json", "proxy")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["certificates"][0]["name"] == "proxy"
    r = rladmin("status", "--json", "nodes")
    assert r.returncode == 0 and [row["NODE:ID"] for row in json.loads(r.stdout)["nodes"]][0] == "node:1"


def test_history_never_suggests_a_line_that_failed_to_parse():
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import InMemoryHistory

    from rladmin_py.shell.repl import ValidSuggestions

    history = InMemoryHistory()
    for line in ("cluster config min_data_TLS_version 1.2", "cluster config min_data_TLS_version 1.1",
                 "cluster config min_data_TLS_version 1.3 bogus"):
        history.append_string(line)
    buffer = Buffer(history=history)
    suggestion = ValidSuggestions().get_suggestion(buffer, Document("cluster config min"))
    assert suggestion is not None and suggestion.text == "_data_TLS_version 1.2"
    assert ValidSuggestions().get_suggestion(buffer, Document("cluster config min_data_TLS_version 1.1")) is None


def test_json_gives_one_document_per_command_failures_included(rladmin, tmp_path):
    script = tmp_path / "mixed.rla"
    script.write_text("cluster config min_data_TLS_version 1.3\n"
                      "cluster certificate set proxy certificate_file /nonexistent.pem\n"
                      "cluster config min_data_TLS_version 1.2   # back\n")
    r = rladmin("--json", "--keep-going", "-f", str(script))
    assert r.returncode == 1
    docs = [json.loads(line) for line in r.stdout.splitlines()]  # every stdout line is JSON
    assert len(docs) == 3
    (failed,) = [d for d in docs if d.get("ok") is False]
    assert failed["line"] == 2
    assert failed["error"]["code"] == "file_not_found" and "/nonexistent.pem" in failed["error"]["message"]
    assert "error: /nonexistent.pem" in r.stderr  # and the line for people, as without --json
    bad = tmp_path / "bad.rla"
    bad.write_text("\ncluster config min_data_TLS_version 1.4\n")
    r = rladmin("--json", "-f", str(bad))
    (doc,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 2 and (doc["line"], doc["column"]) == (2, 37) and "1.2 or 1.3" in doc["message"]


def test_a_one_shot_failure_in_json(rladmin):
    r = rladmin("--json", "cluster", "certificate", "show", "ldap_client")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc == {"ok": False, "error": {"code": "not_found", "message": "the cluster holds no ldap_client certificate"}}


def test_the_hint_for_a_name_mismatch_works_as_printed(served):
    """The fix a TLS name mismatch suggests is a command that works when run as printed."""
    import shlex

    url = served.url.replace("127.0.0.1", "127.1")  # 127.0.0.1 again, by a name the api certificate does not hold
    r = served.shell("--cluster", url, "info", "cluster")
    assert r.returncode == 3 and "does not name 127.1" in r.stderr, r.stderr
    suggested = r.stderr.split("('", 1)[1].split("' lists them", 1)[0]
    words = shlex.split(suggested)
    assert words[0] == "rladmin-py"
    r = served.shell(*words[1:], ca=None)
    assert r.returncode == 0 and "api:" in r.stdout, r.stderr


def test_the_check_a_message_suggests_runs_as_printed(served):
    """Messages about an unconfirmed change say 'check with <command>': that command works as printed."""
    import os
    import shlex
    import subprocess

    from conftest import console_script
    from rladmin_py.backends.rest import RestBackend

    backend = RestBackend(served.url, served.user, "unused", ca_cert=served.ca_cert)
    try:
        for words in ("info cluster", "cluster certificate show proxy", "cluster ocsp config query_frequency"):
            argv = shlex.split(backend.command(words))
            assert argv[0] == "rladmin-py"
            r = subprocess.run([console_script(), *argv[1:]], capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, REDIS_ENTERPRISE_PASSWORD=served.password))
            assert r.returncode == 0 and r.stdout, (words, r.stderr)
    finally:
        backend.close()


@pytest.mark.parametrize("flag_first", [True, False])
def test_warnings_join_every_json_document_lists_included(served, flag_first):
    """A list-shaped result is an object holding the list, so the command's warnings join it (and
    still go to stderr), with the global --json and with the command's own."""
    words = (("--json", "cluster", "certificate", "show") if flag_first
             else ("cluster", "certificate", "show", "--json"))
    r = served.shell("--insecure", *words, ca=None)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {c["name"] for c in doc["certificates"]} >= {"api", "cm", "proxy"}
    (warning,) = doc["warnings"]
    assert warning.startswith("TLS verification is off") and f"warning: {warning}" in r.stderr
    r = served.shell("--insecure", "--json", "info", "node", ca=None)
    doc = json.loads(r.stdout)
    assert [n["uid"] for n in doc["nodes"]] == [1, 2, 3] and doc["warnings"][0].startswith("TLS verification is off")


def test_check_json_gives_one_document_per_command_with_its_warnings(rladmin, certfactory, tmp_path):
    soon = certfactory.leaf(days=10)
    script = tmp_path / "rotate.rla"
    script.write_text(f"cluster certificate set proxy certificate_file {soon.cert} key_file {soon.key}\n"
                      "cluster config min_data_TLS_version 1.3\n"
                      "cluster certificate set api certificate_file /nonexistent.pem\n"
                      "cluster certificate set internal dpine_certificate_file /none1.pem dpine_key_file /none2.pem "
                      "cpine_certificate_file /none3.pem cpine_key_file /none4.pem\n")
    r = rladmin("--json", "--check", "-f", str(script))
    assert r.returncode == 1
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(d["ok"], d["line"]) for d in docs] == [(True, 1), (True, 2), (False, 3), (False, 4)]
    assert [w for w in docs[0]["warnings"] if "the certificate expires in" in w]
    assert "warnings" not in docs[1] and "warnings" not in docs[2]  # each line's own, none carried over
    # a command with two errors: both on stderr, one document holding both
    assert [e.split(":")[0] for e in docs[3]["errors"]] == ["/none1.pem", "/none3.pem"], docs[3]
    assert docs[3]["error"]["message"] == docs[3]["errors"][0]
    assert r.stderr.count(f"{script}:4: error: ") == 2


def test_every_command_with_output_takes_its_own_json(rladmin, certfactory, tmp_path):
    """Per-command --json on each command that prints something, at the end or after the command
    words; the document is the same as with the global --json."""
    c = certfactory.leaf()
    runs = [
        ("cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert), "key_file", str(c.key), "--json"),
        ("cluster", "certificate", "rotate", "--json", "data_internode_encryption"),
        ("sandbox", "node", "2", "down", "--json"),
        ("sandbox", "node", "2", "up", "--json"),
        ("sandbox", "make-certs", str(tmp_path / "practice"), "--json"),
        ("-y", "sandbox", "reset", "--json"),
        ("-y", "cluster", "certificate", "delete", "ldap_client", "--json"),
    ]
    docs = []
    for words in runs:
        r = rladmin(*words)
        assert r.returncode in (0, 1), r.stderr
        docs.append(json.loads(r.stdout))
    assert docs[0]["status"] == "ok" and docs[0]["certificates"][0]["name"] == "proxy"
    assert docs[1]["name"] == "data_internode_encryption" and len(docs[1]["nodes"]) == 3
    assert (docs[2]["uid"], docs[2]["status"], docs[3]["status"]) == (2, "down", "active")
    assert {f["file"] for f in docs[4]["files"]} >= {"good-chain.pem", "good-key.pem"}
    assert docs[5]["cluster"] == "cluster.sandbox.local"
    # a failure with the command's own --json is a document too
    assert docs[6] == {"ok": False, "error": {"code": "certificate_not_found", "message":
                                              "the cluster holds no ldap_client certificate [certificate_not_found]"}}
    again = rladmin("--json", "sandbox", "node", "2", "down")
    assert json.loads(again.stdout) == docs[2]


@pytest.mark.parametrize("line,col,message", [
    ("info clusterx", 6, "unexpected 'clusterx' (did you mean cluster?)"),
    ("clusterx config min_data_TLS_version 1.3", 1, "unexpected 'clusterx' (did you mean cluster?)"),
    ("cluster certificatex show", 9, "unexpected 'certificatex' (did you mean certificate?)"),
    ("lab\tstartx", 5, "unexpected 'startx' (did you mean start?)"),
])
def test_a_keyword_with_letters_after_it_is_named_whole(rladmin, line, col, message):
    """Not pyparsing's "keyword was immediately followed by keyword character": the word, where it starts."""
    with pytest.raises(Exception) as info:
        parser.parse(line)
    assert (info.value.message, info.value.col) == (message, col)
    if "\t" not in line:
        r = rladmin(*line.split())
        assert r.returncode == 2 and r.stderr.startswith(f"error: column {col}: {message}\n"), r.stderr


def test_each_json_document_holds_its_own_commands_warnings(rladmin, certfactory, tmp_path):
    """A script's results are printed after their batch is on disk: the warning a command said is
    in that command's document, not in the one printed before it, nor carried to the next."""
    soon = certfactory.leaf(days=10)
    script = tmp_path / "rotate.rla"
    script.write_text("cluster config min_data_TLS_version 1.2\n"
                      f"cluster certificate set proxy certificate_file {soon.cert} key_file {soon.key}\n"
                      "cluster certificate show api\n")
    r = rladmin("--json", "-y", "-f", str(script))
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert ["warnings" in d for d in docs] == [False, True, False], docs
    assert "the certificate expires in" in docs[1]["warnings"][0]


def test_a_failed_commands_warnings_never_join_the_next_commands_document(rladmin, certfactory, tmp_path):
    """Without the global --json, a command that warns and then fails has said its warnings on
    stderr; the next command's own --json document does not carry them."""
    soon = certfactory.leaf(days=10)
    script = tmp_path / "mixed.rla"
    script.write_text("sandbox node 2 down\n"  # the rotation below warns, is sent, and fails with a 409
                      f"cluster certificate set proxy certificate_file {soon.cert} key_file {soon.key}\n"
                      "cluster certificate show api --json\n")
    r = rladmin("-y", "--keep-going", "-f", str(script))
    assert "warning: " in r.stderr and f"{script}:2: error: not all nodes have been updated" in r.stderr, r.stderr
    doc = json.loads(r.stdout.splitlines()[-1])
    assert doc["certificates"][0]["name"] == "api" and "warnings" not in doc, doc
