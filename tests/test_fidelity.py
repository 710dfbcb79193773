"""What an operator who knows the real rladmin meets: the documented command surface, outputs and
REST routes, through the console script, on the sandbox and over REST against the sandbox server.

Documentation pages: https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/
(cluster/config, cluster/ocsp, status, info, help) and the REST requests pages.
"""
from __future__ import annotations

import json

from server_fixtures import request
from test_server import served  # noqa: F401  (a fixture)


# -- cluster config: the documentation's example and every route ----------------------------------
def test_the_documented_example_and_where_it_shows(rladmin, sandbox):
    r = rladmin("cluster", "config", "cm_session_timeout_minutes", "20")
    assert (r.returncode, r.stdout, r.stderr) == (0, "Cluster configured successfully\n", "")
    assert sandbox.get_cluster()["cm_session_timeout_minutes"] == 20
    assert "\n    cm_session_timeout_minutes: 20\n" in rladmin("info", "cluster").stdout


def test_compound_and_list_parameters_on_the_sandbox(rladmin, sandbox):
    r = rladmin("cluster", "config", "reserved_ports", "11000", "13000-13010", "20048", "handle_redirects", "enabled",
                "external_ipv6", "disabled", "services", "sentinel_service", "disabled",
                "auditing", "db_conns", "audit_protocol", "TCP", "audit_address", "127.0.0.1", "audit_port", "12345")
    assert (r.returncode, r.stdout) == (0, "Cluster configured successfully\n"), r.stderr
    cluster = sandbox.get_cluster()
    assert cluster["reserved_ports"] == ["11000", "13000-13010", "20048"]
    assert cluster["handle_redirects"] is True and cluster["use_external_ipv6"] is False
    assert sandbox.get_services()["sentinel_service"] == {"operating_mode": "disabled"}
    assert sandbox.get_auditing()["audit_port"] == 12345


def test_each_parameter_goes_to_its_documented_route(served, sandbox):
    r = served.shell("cluster", "config", "ipv6", "disabled", "crdb_coordinator_port", "9081",
                     "services", "cm_server", "disabled",
                     "auditing", "db_conns", "audit_protocol", "local", "audit_address", "/tmp/a.sock", "audit_port", "1")
    assert (r.returncode, r.stdout) == (0, "Cluster configured successfully\n"), r.stderr
    log = served.log()
    for path in ("PUT /v1/cluster ", "PUT /v1/cluster/services_configuration", "PUT /v1/cluster/auditing/db_conns"):
        assert path in log, log[-2000:]
    cluster = sandbox.get_cluster()
    assert cluster["use_ipv6"] is False and cluster["crdb_coordinator_port"] == 9081
    assert sandbox.get_services()["cm_server"]["operating_mode"] == "disabled"
    assert sandbox.get_auditing()["audit_protocol"] == "local"


def test_dry_run_shows_every_request(rladmin):
    r = rladmin("--dry-run", "cluster", "config", "cm_port", "8443", "services", "mdns_server", "enabled")
    assert r.returncode == 0, r.stderr
    assert "Would send: PUT /v1/cluster\n" in r.stdout and "Would send: PUT /v1/cluster/services_configuration" in r.stdout
    assert '"mdns_server": {\n    "operating_mode": "enabled"' in r.stdout


def test_old_names_and_out_of_range_values_say_what_to_use(rladmin, sandbox):
    r = rladmin("cluster", "config", "cipher_suites", "HIGH")
    assert r.returncode == 2 and "cipher_suites is the old name of control_cipher_suites" in r.stderr
    r = rladmin("cluster", "config", "sentinel_ssl_policy", "required")
    assert r.returncode == 2 and "use cluster config sentinel_tls_mode" in r.stderr
    r = rladmin("cluster", "config", "crdb_coordinator_port", "80")
    assert r.returncode == 2 and "from 1024 to 65535" in r.stderr and "Traceback" not in r.stderr
    assert sandbox.get_cluster().get("crdb_coordinator_port") != 80


def test_the_sandbox_server_refuses_bad_values_with_the_documented_body(served):
    status, body = request(served, "PUT", "/v1/cluster", json.dumps({"cm_port": 80}).encode())
    assert status == 400 and set(body) == {"error_code", "message"} and "cm_port" in body["message"]
    status, body = request(served, "PUT", "/v1/cluster/services_configuration",
                           json.dumps({"nosuch": {"operating_mode": "enabled"}}).encode())
    assert status == 400 and body["error_code"] == "invalid_schema" and "message" in body


# -- cluster ocsp ----------------------------------------------------------------------------------
def test_ocsp_config_lines_as_documented(rladmin):
    r = rladmin("cluster", "ocsp", "config", "recovery_frequency")
    assert (r.returncode, r.stdout) == (0, "Recovery frequency of the OCSP server is 60 seconds\n"), r.stderr
    r = rladmin("cluster", "ocsp", "config", "recovery_frequency", "set", "120")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    assert rladmin("cluster", "ocsp", "config", "recovery_frequency").stdout == \
        "Recovery frequency of the OCSP server is 120 seconds\n"
    # the documentation's own example sets 30, below its documented range (60-86400): refused here
    r = rladmin("cluster", "ocsp", "config", "recovery_frequency", "set", "30")
    assert r.returncode == 2 and "from 60 to 86400" in r.stderr
    r = rladmin("cluster", "ocsp", "config", "responder_url", "set", "http://x")
    assert r.returncode == 2


def test_ocsp_over_rest_uses_the_documented_routes(served):
    r = served.shell("cluster", "ocsp", "config", "query_frequency", "set", "7200")
    assert r.returncode == 0, r.stderr
    r = served.shell("cluster", "ocsp", "config", "query_frequency")
    assert r.stdout == "Query frequency of the OCSP server is 7200 seconds\n", r.stderr
    assert "PUT /v1/ocsp" in served.log() and "GET /v1/ocsp" in served.log()
    status, body = request(served, "GET", "/v1/ocsp")
    assert status == 200 and set(body) == {"ocsp_functionality", "query_frequency", "recovery_frequency",
                                           "recovery_max_tries", "responder_url", "response_timeout"}


def test_a_certificate_without_an_ocsp_uri_is_not_compatible(rladmin):
    r = rladmin("cluster", "ocsp", "certificate_compatible")
    assert r.returncode == 1 and r.stderr.startswith("error: the proxy certificate has no OCSP URI"), r.stderr
    r = rladmin("cluster", "ocsp", "config", "ocsp_functionality", "set", "enabled")
    assert r.returncode == 1 and "no OCSP responder URL" in r.stderr


# -- status, info, help ------------------------------------------------------------------------------
def test_status_sections_in_the_documented_layout(rladmin):
    r = rladmin("status")
    assert r.returncode == 0, r.stderr
    titles = [line for line in r.stdout.splitlines() if line.endswith(":") and line.isupper()]
    assert titles == ["CLUSTER NODES:", "DATABASES:", "ENDPOINTS:", "SHARDS:"]
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["NODE:ID", "ROLE", "ADDRESS", "EXTERNAL_ADDRESS", "HOSTNAME", "SHARDS", "CORES",
                                "FREE_RAM", "PROVISIONAL_RAM", "VERSION", "STATUS"]
    at = lines[1].index("SHARDS")  # empty cells (EXTERNAL_ADDRESS, HOSTNAME): read by the header's column
    shards = [line[at:].split()[0] for line in lines[2:5]]
    assert shards == ["1/100", "0/100", "0/100"]  # the one shard of db:1, where SHARDS: places it
    endpoints = lines[lines.index("ENDPOINTS:") + 1].split()
    assert endpoints == ["DB:ID", "NAME", "ID", "NODE", "ROLE", "SSL"]
    assert lines[lines.index("ENDPOINTS:") + 2].split()[-1] == "Yes"  # the database has tls_mode enabled
    assert "redis-12000.cluster.sandbox.local:12000" in r.stdout


def test_a_down_node_stays_in_issues_only(rladmin):
    assert rladmin("sandbox", "node", "2", "down").returncode == 0
    r = rladmin("status", "nodes", "issues_only")
    assert r.returncode == 0, r.stderr
    rows = [line.split()[0] for line in r.stdout.splitlines()[2:] if line.strip()]
    assert rows == ["node:2"], r.stdout
    data = json.loads(rladmin("status", "nodes", "--json").stdout)
    assert [row["NODE:ID"] for row in data["nodes"]] == ["node:1", "node:2", "node:3"]


def test_info_cluster_in_the_documented_order(rladmin):
    out = rladmin("info", "cluster").stdout.splitlines()
    assert out[0] == "Cluster configuration:"
    keys = [line.strip().split(":")[0] for line in out[1:] if line.startswith("    ")]
    documented = ["repl_diskless", "shards_overbooking", "default_non_sharded_proxy_policy",
                  "default_sharded_proxy_policy", "default_shards_placement", "default_fork_evict_ram",
                  "default_provisioned_redis_version", "redis_migrate_node_threshold"]
    assert keys[:len(documented)] == documented
    assert keys.index("http support") < keys.index("cm_session_timeout_minutes") < keys.index("bigstore_driver")
    assert "rladmin-py additions (not shown by rladmin):" in out
    assert "    redis_migrate_node_threshold: 0KB (0 bytes)" in out


def test_info_node_and_db(rladmin):
    r = rladmin("info", "node", "1")
    assert r.returncode == 0 and "node:1" in r.stdout, r.stderr
    r = rladmin("info", "db", "db:1")
    assert r.returncode == 0 and "db:1" in r.stdout, r.stderr
    r = rladmin("info", "db", "db:9")
    assert r.returncode == 1 and r.stderr == "error: no database db:9 (give db:<id> or the database's name)\n"


def test_help_in_rladmins_layout(rladmin):
    out = rladmin("help").stdout.splitlines()
    assert out[:5] == ["usage: rladmin [options] [command] [command args]", "",
                       "Options:", "  -y  Assume Yes for all required user confirmations.", ""]
    assert out[5] == "Commands:"
    assert "  cluster   Cluster management commands" in out
    assert "  status    Show status information" in out
    assert 'Use "rladmin help [command]" to get more information on a specific command.' in out
    additions = out.index("rladmin-py additions (not rladmin commands):")
    assert additions > out.index('Use "rladmin help [command]" to get more information on a specific command.')
    assert any(line.startswith("  verify tls ") for line in out[additions:])
    r = rladmin("help", "cluster", "config", "crdb_coordinator_port")
    assert r.returncode == 0 and "Default:     9081" in r.stdout and "from 1024 to 65535" in r.stdout
    assert "REST:        field crdb_coordinator_port of the cluster object (PUT /v1/cluster)" in r.stdout
    r = rladmin("help", "cluster", "config", "services")
    assert "/v1/cluster/services_configuration" in r.stdout


# -- certificate upkeep requests --------------------------------------------------------------------
def test_rotate_and_delete_routes(served, sandbox):
    before = sandbox.get_certificates()["data_internode_encryption_cert"]
    status, body = request(served, "POST", "/v1/cluster/certificates/rotate", b"{}")
    assert status == 200, body
    assert sandbox.get_certificates()["data_internode_encryption_cert"] != before
    status, body = request(served, "POST", "/v1/cluster/certificates/rotate", json.dumps({"name": "proxy"}).encode())
    assert status == 403 and set(body) == {"error_code", "description"}
    status, body = request(served, "DELETE", "/v1/cluster/certificates/proxy")
    assert status == 403 and body["error_code"] == "certificate_required"
    status, body = request(served, "DELETE", "/v1/cluster/certificates/ldap_client")
    assert status == 404


def test_rotate_from_the_shell(rladmin, sandbox):
    before = sandbox.get_certificates()["ccs_internode_encryption_cert"]
    r = rladmin("-y", "cluster", "certificate", "rotate", "ccs_internode_encryption")
    assert r.returncode == 0 and r.stdout.startswith("Rotated the ccs_internode_encryption certificates"), r.stderr
    assert sandbox.get_certificates()["ccs_internode_encryption_cert"] != before
    r = rladmin("-y", "cluster", "certificate", "delete", "api")
    assert r.returncode == 1 and "required certificate" in r.stderr


# -- OCSP end to end: practice certificates, the real responder, the documented lines -------------
def test_ocsp_revoked_then_good_through_the_real_responder(rladmin, sandbox_path, tmp_path):
    from test_ocsp import serve

    practice = tmp_path / "practice"
    assert rladmin("sandbox", "make-certs", str(practice)).returncode == 0
    served = serve(sandbox_path)  # --serve runs the responder the practice certificates name
    try:
        r = rladmin("-y", "cluster", "certificate", "set", "proxy", "certificate_file", str(practice / "revoked-chain.pem"),
                    "key_file", str(practice / "good-key.pem"))
        assert r.returncode == 0, r.stderr
        r = rladmin("cluster", "ocsp", "certificate_compatible")
        assert r.returncode == 0 and r.stdout.startswith("Success. OCSP URI is http://127.0.0.1:"), r.stderr
        assert rladmin("cluster", "ocsp", "config", "ocsp_functionality", "set", "enabled").returncode == 0
        r = rladmin("cluster", "ocsp", "test_certificate")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[:2] == ["Initiating a query to OCSP server", "...OCSP certificate status is: REVOKED"]
        assert [line.split(":")[0] for line in lines[2:]] == ["produced_at", "responder_url", "revocation_time",
                                                               "this_update"]
        assert lines[4].endswith(" GMT") and lines[3].startswith("responder_url: http://127.0.0.1:")
        r = rladmin("cluster", "ocsp", "status")  # the cached answer
        assert r.stdout.splitlines()[0] == "OCSP certificate status is: REVOKED", r.stderr
        r = rladmin("-y", "cluster", "certificate", "set", "proxy", "certificate_file", str(practice / "good-chain.pem"),
                    "key_file", str(practice / "good-key.pem"))
        assert r.returncode == 0, r.stderr
        r = rladmin("cluster", "ocsp", "test_certificate")
        assert r.stdout.splitlines()[1] == "...OCSP certificate status is: GOOD", r.stdout + r.stderr
        r = rladmin("--json", "cluster", "ocsp", "status")
        assert json.loads(r.stdout)["cert_status"] == "GOOD"
    finally:
        served.stop()


def test_every_parameter_reaches_its_field_over_rest(served, sandbox):
    """One command with every settable parameter: each lands on the field and route the grammar
    data names (the ports keep the values the sandbox serves on)."""
    from rladmin_py import cluster_settings
    from rladmin_py.language import grammar as gm
    from test_grammar import PARAMETER_VALUES

    cluster = sandbox.get_cluster()
    keep = {"cm_port", "cnm_http_port", "cnm_https_port", "http_support", "min_control_TLS_version",
            "control_cipher_suites"}  # what the served endpoints follow: unchanged, still sent
    words = []
    for name, values in PARAMETER_VALUES.items():
        value = str(cluster_settings.from_rest(cluster[name])) if name in keep else values[0]
        words += [name, *value.split()]
    r = served.shell("cluster", "config", *words)
    assert (r.returncode, r.stdout) == (0, "Cluster configured successfully\n"), r.stderr
    table = gm.load().type("cluster_config").params
    after, services, auditing = sandbox.get_cluster(), sandbox.get_services(), sandbox.get_auditing()
    for name, values in PARAMETER_VALUES.items():
        p = table[name]
        route = p.attr("route", "cluster")
        if route == "services_configuration":
            service, mode = values[0].split()
            assert services[service] == {"operating_mode": mode}
        elif route == "auditing":
            assert auditing["audit_protocol"] == "local" and auditing["audit_port"] == 1
        else:
            field = p.attr("field", name)
            shown = cluster_settings.from_rest(after[field])
            expected = shown if name in keep else values[0]
            assert shown.replace(":", " ") == expected.replace(":", " ") or shown == expected, (name, after[field])
    log = served.log()
    assert log.count("PUT /v1/cluster ") == 1 and "PUT /v1/cluster/services_configuration" in log
