"""The completer, ``?`` and live validation: a golden table of (line, cursor) -> candidates.

Candidates are asked for the way the shell asks: a prompt_toolkit ``Document`` handed to the
completer shell/repl.py installs. The engine itself (rladmin_py.language) is pure Python.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from rladmin_py.language import completion, grammar, helptext, tokens, walker
from rladmin_py.shell import history
from rladmin_py.shell.repl import GrammarCompleter

G = grammar.load()
CERT_NAMES = list(G.type("certificate_name").choices)
PARAMS = [p.name for p in G.type("cluster_config").params.values() if p.settable]
COMMANDS = ["cluster", "status", "info", "verify", "sandbox", "lab", "help", "exit", "quit"]


def sp(words):
    return [w + " " for w in words]


def complete(line: str, cursor: int | None = None):
    doc = Document(line, len(line) if cursor is None else cursor)
    return list(GrammarCompleter().get_completions(doc, CompleteEvent(completion_requested=True)))


def texts(line: str, cursor: int | None = None) -> list[str]:
    return [c.text for c in complete(line, cursor)]


# (line, cursor or None for the end) -> the completion texts, in order
GOLDEN = [
    ("", None, sp(COMMANDS)),
    ("cl", None, ["cluster "]),
    ("  cl", None, ["cluster "]),
    ("cluster ", None, ["certificate ", "config ", "ocsp "]),
    ("cluster c", None, ["certificate ", "config "]),
    ("cluster con", None, ["config "]),
    ("cluster certificate ", None, ["set ", "show ", "rotate ", "delete "]),
    ("cluster certificate set ", None, ["internal "] + sp(CERT_NAMES)),
    ("cluster certificate set p", None, ["proxy "]),
    ("cluster certificate set s", None, ["syncer ", "sso_issuer ", "sso_service "]),
    ("cluster certificate set proxy ", None, ["certificate_file "]),
    ("cluster certificate set proxy certificate_file x.pem ", None, ["key_file ", "--json "]),
    ("cluster certificate set proxy certificate_file x.pem key_file k.pem ", None, ["--json "]),
    ("cluster certificate set proxy certificate_file x.pem key_file k.pem --json ", None, []),
    ("cluster certificate set internal ", None, ["dpine_certificate_file "]),
    ("cluster certificate set internal dpine_certificate_file a ", None, ["dpine_key_file "]),
    ("cluster certificate set internal dpine_certificate_file a dpine_key_file b ", None, ["cpine_certificate_file "]),
    ("cluster certificate show ", None, sp(CERT_NAMES) + ["--json "]),
    ("cluster certificate show api ", None, ["--json "]),
    ("cluster certificate show api --json ", None, []),
    ("cluster config ", None, sp(PARAMS)),
    ("cluster config min_", None, ["min_control_TLS_version ", "min_data_TLS_version ", "min_sentinel_TLS_version "]),
    ("cluster config min_d", None, ["min_data_TLS_version "]),
    ("cluster config min_data_TLS_version ", None, ["1.2 ", "1.3 "]),
    ("cluster config min_data_TLS_version 1", None, ["1.2 ", "1.3 "]),
    ("cluster config min_data_TLS_version 1.3", None, ["1.3 "]),
    ("cluster config min_data_TLS_version 1.3 ", None, sp(p for p in PARAMS if p != "min_data_TLS_version") + ["--json "]),
    ("cluster config services ", None, sp(G.type("service").choices)),
    ("cluster config services cm_server ", None, ["enabled ", "disabled "]),
    ("cluster config auditing ", None, ["db_conns "]),
    ("cluster config auditing db_conns audit_protocol ", None, ["TCP ", "local "]),
    ("cluster config reserved_ports 11000 ", None, sp(p for p in PARAMS if p != "reserved_ports") + ["--json "]),
    ("cluster config bigstore_driver ", None, ["speedb ", "rocksdb "]),
    ("cluster ocsp ", None, ["certificate_compatible ", "config ", "status ", "test_certificate "]),
    ("cluster ocsp config query_frequency ", None, ["--json ", "set "]),
    ("cluster ocsp config query_frequency set 60 ", None, ["--json "]),
    ("status ", None, sp(G.type("status_section").choices) + ["extra ", "issues_only ", "--json "]),
    ("status nodes extra ", None, ["all "]),
    ("cluster config min_data_TLS_version 1.3 min_d", None, []),  # given already
    ("cluster config sentinel_tls_mode ", None, ["allowed ", "required ", "disabled "]),
    ("cluster config encrypt_pkeys ", None, ["enabled ", "disabled "]),
    ("cluster config http_support e", None, ["enabled "]),
    ("cluster config data_cipher_list ", None, []),  # free text: nothing to offer
    ("cluster config control_cipher_suites_tls", None, []),  # read-only: never offered
    ("cluster config encrypt_pkeys enabled http_support disabled sentinel_tls_mode required ", None,
     sp(p for p in PARAMS if p not in ("encrypt_pkeys", "http_support", "sentinel_tls_mode")) + ["--json "]),
    ('cluster certificate set "pr', None, ['"proxy" ']),
    ("info ", None, ["cluster ", "node ", "db "]),
    ("info cluster ", None, ["--json "]),
    ("info cluster --j", None, ["--json "]),
    ("sandbox ", None, ["reset ", "node ", "make-certs "]),
    ("sandbox node ", None, []),  # <node:int>: nothing to offer
    ("sandbox node 2 ", None, ["down ", "up "]),
    ("sandbox make-certs /nonexistent/dir ", None, ["fqdn ", "--json "]),
    ("help ", None, sp(COMMANDS)),
    ("help cluster ", None, ["certificate ", "config ", "ocsp "]),
    ("help cluster certificate ", None, ["set ", "show ", "rotate ", "delete "]),
    ("help cluster certificate set ", None, ["internal "]),
    ("rladmin cluster co", None, ["config "]),
    ("exit ", None, []),
    ("quit ", None, []),
    # nothing after a mistake
    ("nonsense ", None, []),
    ("cluster nonsense ", None, []),
    ("cluster config min_data_TLS_version 1.5 ", None, []),
    ("info cluster --json extra ", None, []),
    # mid-line cursors: only the text before the cursor counts; no space added before a space
    ("cluster config  min_data_TLS_version 1.3", 15, [p for p in PARAMS if p != "min_data_TLS_version"]),
    ("cluster cer set", 11, ["certificate"]),
    ("cluster  set", 8, ["certificate", "config", "ocsp"]),
    ("info cluster --json", 7, ["cluster"]),  # inside a word: do not split it
    ("cluster config min_data_TLS_version  encrypt_pkeys enabled", 36, ["1.2", "1.3"]),
    ("cluster certificate set  certificate_file a.pem", 24, ["internal"] + CERT_NAMES),
    ("x cluster", 0, sp(COMMANDS)),  # a word inserted before another one gets its separator
]


@pytest.mark.parametrize("line,cursor,expected", GOLDEN, ids=[f"{l!r}@{c}" for l, c, _ in GOLDEN])
def test_golden(line, cursor, expected):
    assert texts(line, cursor) == expected


def test_start_positions_replace_the_word_before_the_cursor():
    (c,) = complete("cluster config min_d")
    assert (c.text, c.start_position, c.display_text) == ("min_data_TLS_version ", -5, "min_data_TLS_version")
    (c,) = complete("info cluster --json", 7)
    assert (c.text, c.start_position) == ("cluster", -2)
    assert all(c.start_position == 0 for c in complete("cluster config "))
    (c,) = complete('cluster certificate set "pr')
    assert c.start_position == -3


def test_descriptions_come_from_the_grammar():
    meta = {c.text.strip(): c.display_meta_text for c in complete("cluster certificate set ")}
    assert meta["api"] == "REST API (HTTPS, port 9443)"
    assert meta["proxy"] == "database endpoints (TLS to the proxy)"
    assert meta["internal"].startswith("Replace both internode-encryption certificates")
    meta = {c.text.strip(): c.display_meta_text for c in complete("cluster config ")}
    for p in G.type("cluster_config").params.values():
        if p.settable:
            assert meta[p.name] == p.description
    meta = {c.text.strip(): c.display_meta_text for c in complete("cluster config sentinel_tls_mode ")}
    assert meta == {k: v for k, v in G.type("tls_mode").choices.items()}
    meta = {c.text.strip(): c.display_meta_text for c in complete("")}
    assert meta["info"] == "cluster | node | db"
    assert meta["cluster"] == "certificate | config | ocsp"
    meta = {c.text.strip(): c.display_meta_text for c in complete("cluster certificate set proxy certificate_file a ")}
    assert meta["key_file"] == "<path> (optional)" and set(meta) == {"key_file", "--json"}
    assert complete("info cluster ")[0].display_meta_text == "output as JSON (optional)"


def test_params_given_later_on_the_line_are_not_offered():
    line = "cluster config  encrypt_pkeys enabled"
    got = texts(line, 15)
    assert "encrypt_pkeys" not in got and "min_data_TLS_version" in got
    # the word being replaced itself is not "given"
    assert texts("cluster config encrypt_p", None) == ["encrypt_pkeys "]


# -- file paths ----------------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    d = tmp_path / "certs"
    d.mkdir()
    for name in ("zeta.pem", "alpha.crt", "notes.txt", "server.key", "old.cer", ".hidden.pem"):
        (d / name).write_text("x")
    (d / "sub").mkdir()
    (d / "my certs").mkdir()
    (d / "my certs" / "leaf.pem").write_text("x")
    return d


@pytest.mark.parametrize("keyword", ["cluster certificate set api certificate_file",
                                     "cluster certificate set api certificate_file c.pem key_file",
                                     "cluster certificate set internal dpine_certificate_file",
                                     "cluster certificate set internal dpine_certificate_file a dpine_key_file",
                                     "cluster certificate set internal dpine_certificate_file a dpine_key_file b "
                                     "cpine_certificate_file",
                                     "cluster certificate set internal dpine_certificate_file a dpine_key_file b "
                                     "cpine_certificate_file c cpine_key_file"])
def test_paths_after_file_keywords_pem_first(files, keyword):
    got = complete(f"{keyword} {files}/")
    assert [c.display_text for c in got] == ["alpha.crt", "old.cer", "server.key", "zeta.pem", "my certs/", "sub/",
                                             "notes.txt"]
    by_name = {c.display_text: c for c in got}
    assert by_name["zeta.pem"].text == f"{files}/zeta.pem "
    assert by_name["zeta.pem"].display_meta_text == "PEM file"
    assert by_name["sub/"].text == f"{files}/sub/"  # a directory: keep going, no space
    assert by_name["my certs/"].text == f'"{files}/my certs/'  # quoted, left open
    assert by_name["notes.txt"].display_meta_text == "file"
    assert all(c.start_position == -(len(str(files)) + 1) for c in got)


def test_paths_prefix_hidden_and_quotes(files):
    line = f"cluster certificate set api certificate_file {files}/"
    assert texts(line + "z") == [f"{files}/zeta.pem "]
    assert texts(line + ".h") == [f"{files}/.hidden.pem "]
    assert texts(line + "my") == [f'"{files}/my certs/']
    assert texts(f'cluster certificate set api certificate_file "{files}/my certs/') == [f'"{files}/my certs/leaf.pem" ']
    assert texts(f"cluster certificate set api certificate_file '{files}/my certs/l") == [f"'{files}/my certs/leaf.pem' "]
    assert texts(line + "nothing-here") == []
    assert texts(f"cluster certificate set api certificate_file /nonexistent-dir/") == []


def test_paths_tilde_expansion(isolated_env):
    (isolated_env / "cluster.pem").write_text("x")
    (isolated_env / "keys").mkdir()
    line = "cluster certificate set api certificate_file ~"
    assert texts(line) == ["~/"]
    assert texts(line + "/") == ["~/cluster.pem ", "~/keys/"]
    assert texts(line + "/cl") == ["~/cluster.pem "]


def test_make_certs_offers_directories_only(files, monkeypatch):
    monkeypatch.chdir(files)
    assert texts("sandbox make-certs ") == ['"my certs/', "sub/"]


def test_relative_paths(files, monkeypatch):
    monkeypatch.chdir(files)
    assert texts("cluster certificate set api certificate_file ze") == ["zeta.pem "]


# -- "?": what may come next ---------------------------------------------------------------------
NEXT = [
    ("cluster ", ["certificate", "config", "ocsp"]),
    ("cluster certificate set ", ["internal"] + CERT_NAMES),
    ("cluster certificate set api ", ["certificate_file"]),
    ("cluster certificate set api certificate_file ", ["<path>"]),
    ("cluster certificate set api certificate_file a.pem ", ["key_file", "--json", "<Enter>"]),
    ("cluster config ", PARAMS),
    ("cluster config min_data_TLS_version ", ["1.2", "1.3"]),
    ("cluster config min_data_TLS_version 1.3 ", [p for p in PARAMS if p != "min_data_TLS_version"] + ["--json", "<Enter>"]),
    ("cluster config auditing db_conns ", ["audit_protocol"]),
    ("cluster config cm_port ", ["<service_port>"]),
    ("cluster config data_cipher_list ", ["<cipher_string>"]),
    ("cluster config co", ["control_cipher_suites"]),
    ("info cluster ", ["--json", "<Enter>"]),
    ("sandbox node ", ["<node>"]),
    ("sandbox make-certs ", ["<directory>"]),
    ("help ", COMMANDS + ["<Enter>"]),
    ("help cluster ", ["certificate", "config", "ocsp"]),
    ("exit ", ["<Enter>"]),
]


@pytest.mark.parametrize("line,expected", NEXT, ids=[l for l, _ in NEXT])
def test_next_help(line, expected):
    h = completion.next_help(line)
    assert h.error is None
    assert [a for a, _ in h.rows] == expected


def test_next_help_descriptions_usage_and_errors():
    h = completion.next_help("cluster config ")
    rows = dict(h.rows)
    assert rows["sentinel_tls_mode"] == "TLS mode of the discovery service"
    assert h.usages == ("cluster config <parameter> <value> [ <parameter> <value> ... ] [ --json ]",)
    text = helptext.format_next_help(h)
    assert "  encrypt_pkeys " in text and "Usage: cluster config" in text
    rows = dict(completion.next_help("cluster certificate set api certificate_file ").rows)
    assert rows["<path>"] == G.type("path").description
    h = completion.next_help("cluster bogus ")
    assert h.error == (9, "expected certificate, config or ocsp, found 'bogus'")
    assert helptext.format_next_help(h) == "error: column 9: expected certificate, config or ocsp, found 'bogus'"
    # mid-line: what may come at the cursor
    assert [a for a, _ in completion.next_help("cluster  min_data_TLS_version 1.3", 8).rows] == ["certificate", "config", "ocsp"]


# -- live validation and highlighting roles -----------------------------------------------------
ANALYSIS = [
    ("", "empty", None),
    ("   ", "empty", None),
    ("# a comment", "comment", None),
    ("cluster", "incomplete", None),
    ("cluster con", "incomplete", None),  # still typing
    ("cluster config", "incomplete", None),
    ("cluster config min_data", "incomplete", None),
    ("cluster config min_data_TLS_version 1.", "incomplete", None),
    ("cluster certificate set api certificate_file 'a b", "incomplete", None),
    ("rladm", "incomplete", None),
    ("cluster config min_data_TLS_version 1.3", "complete", None),
    ("rladmin info cluster", "complete", None),
    ("help cluster whatever", "complete", None),
    ("cluster con ", "invalid", (9, "expected certificate, config or ocsp, found 'con'")),
    ("cluster config foo", "invalid", (16, "unknown cluster config parameter 'foo'")),
    ("cluster config min_data_TLS_version 1.5", "invalid",
     (37, "invalid value '1.5' for min_data_TLS_version: expected 1.2 or 1.3")),
    ("cluster config min_data_TLS_version 1.3 min_data_TLS_version 1.2", "invalid",
     (41, "min_data_TLS_version is given more than once")),
    ("cluster config control_cipher_suites_tls_1_3 x", "invalid",
     (16, "control_cipher_suites_tls_1_3 is read-only: it cannot be set with cluster config")),
    ("info cluster --json x", "invalid", (21, "unexpected 'x'")),
    ("sandbox node x up", "invalid", (14, "expected a whole number, found 'x'")),
    ("bogus", "invalid", (1, "expected cluster, status, info, verify, sandbox, lab, help, ?, exit or quit, found 'bogus'")),
]


@pytest.mark.parametrize("line,status,error", ANALYSIS, ids=[l or "<empty>" for l, _, _ in ANALYSIS])
def test_analyze_without_parser(line, status, error):
    a = walker.analyze(line)
    assert (a.status, a.error) == (status, error)


@pytest.mark.parametrize("line,status,error", ANALYSIS, ids=[l or "<empty>" for l, _, _ in ANALYSIS])
def test_analyze_with_parser_matches_enter(line, status, error):
    """Once the parser is built, an invalid line shows exactly what Enter prints."""
    from rladmin_py.language.parser import CommandSyntaxError, parse

    a = walker.analyze(line, parse)
    assert a.status == status
    if status == "invalid":
        with pytest.raises(CommandSyntaxError) as exc:
            parse(line)
        assert a.error == (exc.value.col, exc.value.message)
        assert a.checked
    elif status == "complete":
        parse(line)


def test_roles_for_highlighting():
    a = walker.analyze("cluster config min_data_TLS_version 1.3 data_cipher_list 'A:B'")
    assert a.roles == ("keyword", "keyword", "parameter", "value", "parameter", "string")
    a = walker.analyze("cluster certificate set api certificate_file ~/a.pem --json")
    assert a.roles == ("keyword", "keyword", "keyword", "value", "keyword", "path", "flag")
    a = walker.analyze("cluster certificate set api certificate_file ~/a.pem --bogus")
    assert a.roles == ("keyword", "keyword", "keyword", "value", "keyword", "path", "invalid")
    a = walker.analyze("cluster bogus config x")
    assert a.roles == ("keyword", "invalid", None, None)
    a = walker.analyze("info cluster --js")
    assert a.roles == ("keyword", "keyword", "partial")
    a = walker.analyze("rladmin help cluster")
    assert a.roles == ("keyword", "keyword", "help")


def test_toolbar_hint():
    assert helptext.toolbar_hint(walker.analyze("")) == ("", "")
    kind, text = helptext.toolbar_hint(walker.analyze("cluster config min"))
    assert kind == "usage" and text.startswith("cluster config <parameter> <value>")
    kind, text = helptext.toolbar_hint(walker.analyze("cluster config foo"))
    assert (kind, text) == ("error", "column 16: unknown cluster config parameter 'foo'")
    kind, text = helptext.toolbar_hint(walker.analyze("cluster certificate set "))
    assert kind == "usage" and "internal" in text and "<certificate_name>" in text


# -- tokenizer -----------------------------------------------------------------------------------
def test_tokenize_quotes_and_positions():
    toks = tokens.tokenize('a  "b c"\t\'d\'x "e\\"f" "open')
    assert [(t.text, t.value, t.start, t.end, t.quote, t.closed) for t in toks] == [
        ("a", "a", 0, 1, "", True),
        ('"b c"', "b c", 3, 8, '"', True),
        ("'d'", "d", 9, 12, "'", True),
        ("x", "x", 12, 13, "", True),
        ('"e\\"f"', 'e"f', 14, 20, '"', True),
        ('"open', "open", 21, 26, '"', False),
    ]


# -- secrets -------------------------------------------------------------------------------------
@pytest.mark.parametrize("line,secret", [
    ("cluster config min_data_TLS_version 1.3", False),
    ("cluster certificate set api certificate_file a.pem key_file a.key", False),
    ("-----BEGIN PRIVATE KEY-----", True),
    ("cluster certificate set api certificate_file '-----BEGIN CERTIFICATE-----", True),
    ("--password hunter2", True),
    ("PASSWD=x", True),
    ("secret", True),
])
def test_may_hold_secret(line, secret):
    assert history.may_hold_secret(line) is secret


# -- robustness and purity -----------------------------------------------------------------------
ALPHABET = st.sampled_from(list("abc ~/\"'\\\t?-_.") + ["cluster ", "config ", "certificate ", "set ", "api ",
                                                        "min_data_TLS_version ", "1.3 ", "help ", "rladmin ",
                                                        "certificate_file ", "sandbox ", "make-certs ", "\x00"])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=12).map("".join), st.integers(min_value=-2, max_value=200))
def test_never_raises(line, cursor):
    # the private functions, so that a bug is not hidden by the public wrappers' safety net
    cursor = max(0, min(cursor, len(line)))
    for c in completion._complete(line, cursor):
        assert c.start_position <= 0 and -c.start_position <= cursor
    completion._next_help(line, cursor)
    walker._analyze.__wrapped__(line, None)


def test_engine_imports_neither_prompt_toolkit_nor_pyparsing():
    code = ("import sys, rladmin_py.language.completion as c, rladmin_py.language.walker as w; c.complete('cluster config '); w.analyze('cluster x');"
            "c.next_help('cluster '); c.complete('cluster certificate set api certificate_file /');"
            "bad = [m for m in ('prompt_toolkit', 'pyparsing', 'rladmin_py.language.parser', 'httpx', 'cryptography')"
            " if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ)).stdout
    assert out.strip() == "[]"
