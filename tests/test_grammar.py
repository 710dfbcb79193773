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
    # the documentation's own examples
    ("rladmin cluster config cm_session_timeout_minutes 20", "cluster_config",
     {"params": {"cm_session_timeout_minutes": 20}}),
    ("cluster config reserved_ports 11000 13000-13010 20048", "cluster_config",
     {"params": {"reserved_ports": ["11000", "13000-13010", "20048"]}}),
    ("cluster config reserved_ports 11000 13000-13010 min_data_TLS_version 1.3", "cluster_config",
     {"params": {"reserved_ports": ["11000", "13000-13010"], "min_data_TLS_version": "1.3"}}),
    ("cluster config services sentinel_service disabled", "cluster_config",
     {"params": {"services": {"service": "sentinel_service", "operating_mode": "disabled"}}}),
    ("cluster config auditing db_conns audit_protocol TCP audit_address 127.0.0.1 audit_port 12345", "cluster_config",
     {"params": {"auditing": {"audit_protocol": "TCP", "audit_address": "127.0.0.1", "audit_port": 12345}}}),
    ("cluster config handle_redirects enabled cnm_https_port 9443 --json", "cluster_config",
     {"params": {"handle_redirects": "enabled", "cnm_https_port": 9443}, "json": True}),
    ("cluster ocsp certificate_compatible", "ocsp_certificate_compatible", {}),
    ("cluster ocsp config recovery_frequency", "ocsp_config_show", {"parameter": "recovery_frequency"}),
    ("cluster ocsp config responder_url", "ocsp_config_show", {"parameter": "responder_url"}),
    ("cluster ocsp config recovery_frequency set 60", "ocsp_config_set", {"params": {"recovery_frequency": 60}}),
    ("cluster ocsp config query_frequency set 86400", "ocsp_config_set", {"params": {"query_frequency": 86400}}),
    ("cluster ocsp config ocsp_functionality set enabled", "ocsp_config_set",
     {"params": {"ocsp_functionality": "enabled"}}),
    ("cluster ocsp status", "ocsp_status", {}),
    ("cluster ocsp test_certificate", "ocsp_test", {}),
    ("status", "status", {}),
    ("status extra all issues_only", "status", {"status_extra": "all", "issues_only": True}),
    ("status endpoints --json", "status", {"section": "endpoints", "json": True}),
    ("info node 1", "info_node", {"node": 1}),
    ("info node", "info_node", {}),
    ("info db db:1", "info_db", {"db": "db:1"}),
    ("cluster certificate rotate", "certificate_rotate", {}),
    ("cluster certificate delete ldap_client", "certificate_delete", {"certificate_name": "ldap_client"}),
]

#: Every settable cluster config and cluster ocsp config parameter, with a value it takes (and
#: for a range both ends): the table grows with the grammar (a test checks none is missing).
PARAMETER_VALUES = {
    "auditing": ["db_conns audit_protocol local audit_address /tmp/audit.sock audit_port 1"],
    "availability_lag_tolerance_ms": ["0", "100"],
    "bigstore_driver": ["speedb", "rocksdb"],
    "control_cipher_suites": ["ECDHE-RSA-AES256-GCM-SHA384"],
    "cm_port": ["1024", "65535"],
    "cm_session_timeout_minutes": ["1", "20"],
    "cnm_http_port": ["8080"],
    "cnm_https_port": ["9443"],
    "crdb_coordinator_port": ["1024", "9081", "65535"],
    "data_cipher_list": ["HIGH:!aNULL"],
    "data_cipher_suites_tls_1_3": ["TLS_AES_256_GCM_SHA384"],
    "debuginfo_path": ["/var/opt/redislabs/debuginfo"],
    "encrypt_pkeys": ["enabled", "disabled"],
    "envoy_admin_port": ["8002"],
    "envoy_mgmt_server_port": ["8004"],
    "external_ipv6": ["enabled", "disabled"],
    "handle_redirects": ["enabled", "disabled"],
    "handle_metrics_redirects": ["enabled"],
    "http_support": ["enabled", "disabled"],
    "ipv6": ["disabled"],
    "min_control_TLS_version": ["1.2", "1.3"],
    "min_data_TLS_version": ["1.2", "1.3"],
    "min_sentinel_TLS_version": ["1.2", "1.3"],
    "options_method_forbidden": ["enabled"],
    "reserved_ports": ["1", "65535", "1-65535 20048"],
    "s3_url": ["https://s3.amazonaws.com"],
    "s3_ca_cert": ["/etc/ssl/s3-ca.pem"],
    "sentinel_tls_mode": ["allowed", "required", "disabled"],
    "sentinel_cipher_suites": ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
    "services": ["alert_mgr enabled", "stats_archiver disabled"],
    "upgrade_mode": ["enabled"],
}
OCSP_VALUES = {"ocsp_functionality": ["enabled", "disabled"], "query_frequency": ["60", "86400"],
               "recovery_frequency": ["60", "86400"], "recovery_max_tries": ["1", "100"],
               "response_timeout": ["1", "60"]}
PARAMETER_REFUSALS = [  # (line, token pointed at, fragment)
    ("cluster config crdb_coordinator_port 1023", "1023", "crdb_coordinator_port 1023 is out of range: expected a whole number from 1024 to 65535"),
    ("cluster config cm_port 65536", "65536", "cm_port 65536 is out of range"),
    ("cluster config cm_port 8443x", "8443x", "invalid value '8443x' for cm_port: expected a whole number from 1024 to 65535"),
    ("cluster config cm_session_timeout_minutes 0", "0", "cm_session_timeout_minutes 0 is out of range: expected a whole number, at least 1"),
    ("cluster config reserved_ports 0", "0", "invalid value '0' for reserved_ports"),
    ("cluster config reserved_ports 65536", "65536", "expected a port (1 to 65535) or a range of ports"),
    ("cluster config reserved_ports 11000 13010-13000", "13010-13000", "invalid value '13010-13000' for reserved_ports"),
    ("cluster config reserved_ports", None, "expected a value for reserved_ports"),
    ("cluster config services sentinel disabled", "sentinel", "invalid value 'sentinel' for service"),
    ("cluster config services sentinel_service off", "off", "invalid value 'off' for operating_mode: expected enabled or disabled"),
    ("cluster config auditing db_conns audit_protocol UDP audit_address a audit_port 1", "UDP",
     "invalid value 'UDP' for audit_protocol: expected TCP or local"),
    ("cluster config auditing audit_protocol TCP", "audit_protocol", "expected db_conns"),
    ("cluster config auditing db_conns audit_protocol TCP audit_address a audit_port 0", "0", "audit_port 0 is out of range"),
    ("cluster config s3_url s3.amazonaws.com", "s3.amazonaws.com", "expected a URL"),
    ("cluster config bigstore_driver leveldb", "leveldb", "expected speedb or rocksdb"),
    ("cluster config cipher_suites HIGH", "cipher_suites", "cipher_suites is the old name of control_cipher_suites"),
    ("cluster config sentinel_ssl_policy required", "sentinel_ssl_policy", "the old name of sentinel_tls_mode"),
    ("cluster ocsp config recovery_frequency set 30", "30", "recovery_frequency 30 is out of range: expected a whole number from 60 to 86400"),
    ("cluster ocsp config query_frequency set 86401", "86401", "query_frequency 86401 is out of range"),
    ("cluster ocsp config recovery_max_tries set 0", "0", "recovery_max_tries 0 is out of range: expected a whole number from 1 to 100"),
    ("cluster ocsp config response_timeout set 61", "61", "response_timeout 61 is out of range"),
    ("cluster ocsp config ocsp_functionality set on", "on", "expected enabled or disabled"),
    ("cluster ocsp config bogus", "bogus", "unknown cluster ocsp config parameter 'bogus'"),
    ("cluster ocsp config query_frequency set 60 response_timeout set 1", "response_timeout", "one parameter at a time"),
    ("status nodes extra some", "some", "expected all"),
    ("info node one", "one", "unexpected 'one'"),
]

# (line, the token the error points at (None: the end of the line), a fragment of the message)
REJECTED = [
    ("", None, "expected cluster, status, info, verify, sandbox"),
    ("clustr config", "clustr", "expected cluster"),
    ("cluster confg min_data_TLS_version 1.2", "confg", "expected certificate, config or ocsp after 'cluster'"),
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


def _parameter_lines():
    for table, command, values in (("cluster_config", "cluster config", PARAMETER_VALUES),
                                   ("ocsp_config", "cluster ocsp config", OCSP_VALUES)):
        for name, choices in values.items():
            for value in choices:
                yield table, name, f"{command} {name} {'set ' if table == 'ocsp_config' else ''}{value}"


def test_the_table_names_every_parameter():
    g = gm.load()
    assert set(PARAMETER_VALUES) == {n for n, p in g.type("cluster_config").params.items() if p.settable}
    assert set(OCSP_VALUES) == {n for n, p in g.type("ocsp_config").params.items() if p.settable}


@pytest.mark.parametrize("table,name,line", list(_parameter_lines()), ids=[x[2][:70] for x in _parameter_lines()])
def test_every_parameter_takes_its_values(table, name, line):
    from rladmin_py.language import walker

    cmd = parser.parse(line)
    assert list(cmd.args["params"]) == [name]
    assert walker.match(line) is not None and walker.match(line)[1] == cmd.args  # the fast path agrees


@pytest.mark.parametrize("line,token,fragment", PARAMETER_REFUSALS, ids=[r[0][:70] for r in PARAMETER_REFUSALS])
def test_parameter_values_are_refused_where_they_go_wrong(line, token, fragment):
    test_rejected(line, token, fragment)


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
    words = g.type("command_words").choices
    for form in g.forms:
        if form.notation != "?":
            assert form.words[0] in listing
            if form.tags & {"addition", "sandbox", "local"}:
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
