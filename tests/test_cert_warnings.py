"""Every warning of issue 3 through the console script: printed, the command proceeds; --strict refuses."""
from __future__ import annotations

import json

import pytest

from conftest import ec_key
from rladmin_py.certificates import making as certgen


def generation(sandbox_path) -> int:
    with open(sandbox_path, encoding="utf-8") as fh:
        return json.load(fh)["generation"]


# name -> (certificate name, make_leaf options, the warning after "warning: <file>: ")
WARNINGS = {
    "expires_soon": ("proxy", {"days": 12},
                     lambda cert: f"the certificate expires in 11 days ({cert.not_valid_after_utc:%Y-%m-%d})"),
    "eku_without_client_auth": ("api", {"eku": ("server",)}, "extended key usage lacks clientAuth (RS expects both)"),
    "eku_without_server_auth": ("cm", {"eku": ("client",)}, "extended key usage lacks serverAuth (RS expects both)"),
    "sans_miss_the_fqdn": ("api", {"sans": ["db.example.com", "*.db.example.com"]},
                           "the SANs (db.example.com, *.db.example.com) do not cover the cluster name "
                           "cluster.sandbox.local"),
    "proxy_without_wildcard": ("proxy", {"sans": ["cluster.sandbox.local"]},
                               "the SANs lack *.cluster.sandbox.local, which database endpoints need"),
    "self_signed": ("syncer", {"issuer": None, "chain": False},
                    "the certificate is self-signed; every client must be given it to trust it"),
}


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_warning_printed_and_command_proceeds(case, rladmin, certfactory, sandbox, sandbox_path):
    name, options, warning = WARNINGS[case]
    c = certfactory.leaf(key=ec_key(), **options)
    warning = warning(c.issued.cert) if callable(warning) else warning
    words = ("cluster", "certificate", "set", name, "certificate_file", str(c.cert), "key_file", str(c.key))
    before, gen = sandbox.get_certificates(), generation(sandbox_path)

    strict = rladmin("--strict", *words)
    assert strict.returncode == 1 and strict.stdout == "" and "Traceback" not in strict.stderr
    assert strict.stderr == f"error: {c.cert}: {warning} (refused: --strict)\n"
    assert sandbox.get_certificates() == before and generation(sandbox_path) == gen

    r = rladmin(*words)
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"warning: {c.cert}: {warning}\n"
    assert r.stdout.startswith(f"Set {name} certificate to contents of file {c.cert}\n")
    assert sandbox.get_certificates()[f"{name}_cert"].startswith(c.issued.cert_pem)


def test_several_warnings_all_printed(rladmin, certfactory):
    c = certfactory.leaf(key=ec_key(), days=5, eku=("server",), sans=["cluster.sandbox.local"])
    r = rladmin("cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert), "key_file", str(c.key))
    assert r.returncode == 0
    assert [line.split(": ", 2)[2] for line in r.stderr.splitlines()] == [
        f"the certificate expires in 4 days ({c.issued.cert.not_valid_after_utc:%Y-%m-%d})",
        "extended key usage lacks clientAuth (RS expects both)",
        "the SANs lack *.cluster.sandbox.local, which database endpoints need",
    ]
    assert all(line.startswith(f"warning: {c.cert}: ") for line in r.stderr.splitlines())
