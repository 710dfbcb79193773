"""The grammar as data and the parser built from it: a golden table of accepted and rejected lines."""
from __future__ import annotations

import pytest

from rladmin_py import commands
from rladmin_py.language import grammar as gm, helptext, parser

ACCEPTED = [
    ("cluster config min_data_TLS_version 1.3", "cluster_config", {"params": {"min_data_TLS_version": "1.3"}}),
    ("rladmin cluster config min_control_TLS_version 1.2", "cluster_config",
     {"params": {"min_control_TLS_version": "1.2"}}),
    ("cluster config sentinel_tls_mode required min_data_TLS_version 1.2", "cluster_config",
     {"params": {"sentinel_tls_mode": "required", "min_data_TLS_version": "1.2"}}),
    ("cluster config data_cipher_list 'HIGH:!aNULL'", "cluster_config", {"params": {"data_cipher_list": "HIGH:!aNULL"}}),
    ('cluster config control_cipher_suites "DEFAULT:!3DES"', "cluster_config",
     {"params": {"control_cipher_suites": "DEFAULT:!3DES"}}),
    ("cluster config data_cipher_suites_tls_1_3 TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256", "cluster_config",
     {"params": {"data_cipher_suites_tls_1_3": "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"}}),
    ("cluster config encrypt_pkeys enabled http_support disabled", "cluster_config",
     {"params": {"encrypt_pkeys": "enabled", "http_support": "disabled"}}),
    ("  cluster   config\tmin_sentinel_TLS_version 1.3  ", "cluster_config", {"params": {"min_sentinel_TLS_version": "1.3"}}),
    ("cluster certificate set proxy certificate_file /tmp/c.pem key_file /tmp/k.pem", "certificate_set",
     {"certificate_name": "proxy", "certificate_file": "/tmp/c.pem", "key_file": "/tmp/k.pem"}),
    ("cluster certificate set api certificate_file '/tmp/my certs/c.pem'", "certificate_set",
     {"certificate_name": "api", "certificate_file": "/tmp/my certs/c.pem"}),
    ('cluster certificate set mtls_trusted_ca certificate_file "a b.pem"', "certificate_set",
     {"certificate_name": "mtls_trusted_ca", "certificate_file": "a b.pem"}),
    ("cluster certificate set internal dpine_certificate_file d.pem dpine_key_file d.key "
     "cpine_certificate_file c.pem cpine_key_file c.key", "certificate_set_internal",
     {"dpine_certificate_file": "d.pem", "dpine_key_file": "d.key", "cpine_certificate_file": "c.pem",
      "cpine_key_file": "c.key"}),
    ("cluster certificate show", "certificate_show", {}),
    ("cluster certificate show syncer --json", "certificate_show", {"certificate_name": "syncer", "json": True}),
    ("info cluster", "info_cluster", {}),
    ("info cluster --json", "info_cluster", {"json": True}),
    ("sandbox reset", "sandbox_reset", {}),
    ("sandbox node 2 down", "sandbox_node", {"node": 2, "node_state": "down"}),
    ("sandbox make-certs /tmp/practice fqdn db.example.com", "sandbox_make_certs",
     {"directory": "/tmp/practice", "fqdn": "db.example.com"}),
    ("help", "help", {"words": ""}),
    ("help cluster config", "help", {"words": "cluster config"}),
    ("?", "help", {}),
    ("exit", "exit", {}),
    ("quit", "exit", {}),
]

# (line, the token the error points at (None: the end of the line), a fragment of the message)
REJECTED = [
    ("", None, "expected cluster, info, verify, sandbox"),
    ("clustr config", "clustr", "expected cluster"),
    ("cluster confg min_data_TLS_version 1.2", "confg", "expected certificate or config after 'cluster'"),
    ("cluster config", None, "expected a cluster config parameter"),
    ("cluster config min_data_TLS_version", None, "expected a value for min_data_TLS_version (1.2 | 1.3)"),
    ("cluster config min_data_TLS_version 1.1", "1.1", "invalid value '1.1' for min_data_TLS_version: expected 1.2 or 1.3"),
    ("cluster config min_data_TLS_version 1.2 min_data_TLS_version 1.3", "min_data_TLS_version 1.3",
     "min_data_TLS_version is given more than once"),
    ("cluster config foo 1", "foo", "unknown cluster config parameter 'foo'"),
    ("cluster config min_data_tls_version 1.2", "min_data_tls", "did you mean min_data_TLS_version?"),
    ("cluster config min_data_TLS_version 1.2 bogus", "bogus", "unknown cluster config parameter 'bogus'"),
    ("cluster config control_cipher_suites_tls_1_3 X", "control", "control_cipher_suites_tls_1_3 is read-only"),
    ("cluster config sentinel_cipher_suites_tls_1_3 X", "sentinel", "sentinel_cipher_suites_tls_1_3 is read-only"),
    ("cluster config sentinel_tls_mode maybe", "maybe", "invalid value 'maybe' for sentinel_tls_mode"),
    ("cluster config encrypt_pkeys yes", "yes", "expected enabled or disabled"),
    ("cluster config data_cipher_list 'HIGH", "'HIGH", "unterminated quote"),
    ("cluster config data_cipher_list ''", "''", "empty"),
    ("cluster certificate set", None, "expected internal or a certificate name"),
    ("cluster certificate set prox certificate_file c.pem", "prox ", "unknown certificate name 'prox'"),
    ("cluster certificate set proxy", None, "expected certificate_file"),
    ("cluster certificate set proxy certificate_file", None, "expected <path>"),
    ("cluster certificate set proxy certificate_file c.pem key_fil k.pem", "key_fil", "unexpected 'key_fil' (did you mean key_file?)"),
    ("cluster certificate set proxy certificate_file c.pem key_file", None, "expected <path>"),
    ("cluster certificate set proxy key_file k.pem certificate_file c.pem", "key_file", "expected certificate_file"),
    ("cluster certificate set internal dpine_certificate_file d.pem", None, "expected dpine_key_file"),
    ("info cluster extra", "extra", "unexpected 'extra'"),
    ("sandbox node two down", "two", "expected a whole number"),
    ("sandbox node 2 sideways", "sideways", "unknown node state 'sideways'"),
    ("exit now", "now", "unexpected 'now'"),
    ("cluster config min_data_TLS_version 1.2\x00", "\x00", "NUL byte"),
]


@pytest.mark.parametrize("line,handler,args", ACCEPTED, ids=[a[0][:60] for a in ACCEPTED])
def test_accepted(line, handler, args):
    cmd = parser.parse(line)
    assert cmd.handler == handler
    assert cmd.args == args


@pytest.mark.parametrize("line,token,fragment", REJECTED, ids=[r[0][:60] or "empty" for r in REJECTED])
def test_rejected(line, token, fragment):
    col = len(line) + 1 if token is None else line.rindex(token) + 1
    with pytest.raises(parser.CommandSyntaxError) as info:
        parser.parse(line)
    assert info.value.col == col, info.value.message
    assert fragment in info.value.message
    assert info.value.caret().splitlines()[1].index("^") == col + 1  # two-space indent


def test_every_handler_in_the_grammar_exists():
    handlers = {f.handler for f in gm.load().forms}
    assert handlers <= set(commands.HANDLERS), handlers - set(commands.HANDLERS)


def test_every_certificate_name_and_parameter_has_a_description():
    g = gm.load()
    names = g.type("certificate_name").choices
    assert set(names) == {"cm", "api", "proxy", "syncer", "metrics_exporter", "ldap_client", "mtls_trusted_ca",
                          "sso_issuer", "sso_service", "ccs_internode_encryption", "data_internode_encryption"}
    assert all(desc for desc in names.values())
    params = g.type("cluster_config").params
    assert all(p.description for p in params.values())
    assert {p.name for p in params.values() if p.readonly} == {"control_cipher_suites_tls_1_3",
                                                               "sentinel_cipher_suites_tls_1_3"}


def test_adding_a_cluster_config_parameter_is_one_line():
    text = open(gm.grammar_file(), encoding="utf-8").read()
    marker = "params cluster_config\n"
    extended = text.replace(marker, marker + "    cm_session_timeout_minutes  <int>  minutes before an idle UI session ends\n")
    assert extended != text
    g = gm.parse_grammar_text(extended)
    p = parser.build_parser(g)
    cmd = parser.parse("cluster config cm_session_timeout_minutes 30 min_data_TLS_version 1.3", p)
    assert cmd.args["params"] == {"cm_session_timeout_minutes": 30, "min_data_TLS_version": "1.3"}
    assert "cm_session_timeout_minutes" in helptext.help_for(["cluster", "config"], g)


def test_malformed_grammar_data_fails_loudly():
    with pytest.raises(gm.GrammarDataError, match="unknown type <nosuchtype>"):
        gm.parse_grammar_text("commands\n    frob <nosuchtype>  ::  frob  ::  Frob\n")
    with pytest.raises(gm.GrammarDataError, match="unbalanced"):
        gm.parse_grammar_text("commands\n    frob [ x  ::  frob  ::  Frob\n")


def test_help_is_generated_from_the_grammar():
    g = gm.load()
    listing = helptext.help_for([])
    for form in g.forms:
        if form.notation != "?":
            assert form.description in listing
    assert "local sandbox only; not an rladmin command" in helptext.help_for(["sandbox", "node"])
    assert "not a cluster command" in helptext.help_for(["sandbox", "make-certs"])
    assert "rladmin-py addition" in helptext.help_for(["cluster", "certificate", "show"])
    assert "this tool's addition" in helptext.help_for(["info", "cluster"])
    config_help = helptext.help_for(["cluster", "config"])
    for name in g.type("cluster_config").params:
        assert name in config_help
    with pytest.raises(LookupError):
        helptext.help_for(["frobnicate"])
