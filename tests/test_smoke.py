def test_one_shot_config(rladmin, sandbox):
    r = rladmin("cluster", "config", "min_data_TLS_version", "1.3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Cluster configured successfully\n"
    assert sandbox.get_cluster()["min_data_TLS_version"] == "1.3"


def test_certificate_set(rladmin, sandbox, certfactory):
    c = certfactory.leaf()
    r = rladmin("cluster", "certificate", "set", "proxy", "certificate_file", str(c.cert), "key_file", str(c.key))
    assert r.returncode == 0, r.stderr
    assert f"Set proxy certificate to contents of file {c.cert}\n" in r.stdout
    assert sandbox.get_certificates()["proxy_cert"].startswith(c.issued.cert_pem)
