"""Hardening (issue 14), item 9: cost that grows with the state.

Reproduced against a real ``rladmin-py --serve`` on loopback: four 900 KB cipher lists used to be
accepted, and every request (a wrong password included) then re-parsed the whole state file, so
wrong-password requests fell from ~2,300/s to 44/s. Now every string a client can store is
bounded, and the server parses the state only when the file changed. The cost is measured as a
count (``state_parses`` in ``GET /_rladmin_py/stats``), never as a time; every server is stopped.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
from pathlib import Path

import pytest

from rladmin_py.backends.sandbox import SandboxBackend
from rladmin_py.cluster_settings import MAX_TEXT
from rladmin_py.sandbox import store as store_module
from server_fixtures import client_context
from test_server import Served, start_server

REQUESTS = 300  # of each kind, per server
FEW_PARSES = 3  # what REQUESTS requests may cost at most, whatever the state's size
BIG = 900 * 1024  # the 900 KB cipher list
PADDED = 4 << 20  # a state file of several MB


# -- helpers ----------------------------------------------------------------------------------------
def _auth(served: Served, password: str | None = None) -> str:
    token = f"{served.user}:{served.password if password is None else password}".encode()
    return "Basic " + base64.b64encode(token).decode()


class Client:
    """One keep-alive HTTPS connection to the server (many requests, one handshake)."""

    def __init__(self, served: Served):
        self.served = served
        self.conn = http.client.HTTPSConnection("127.0.0.1", served.port, context=client_context(served.ca_cert),
                                                timeout=30)

    def request(self, method: str, path: str, body=None, password: str | None = None):
        headers = {"Authorization": _auth(self.served, password)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return resp.status, (json.loads(raw) if raw else None)

    def stats(self) -> dict:
        status, body = self.request("GET", "/_rladmin_py/stats")
        assert status == 200, body
        return body

    def close(self):
        self.conn.close()


@pytest.fixture
def server(sandbox_path):
    served = start_server(sandbox_path)
    client = Client(served)
    try:
        yield served, client
    finally:
        client.close()
        assert served.stop() == 0, served.log()


def _message(body) -> str:
    return (body or {}).get("message") or (body or {}).get("description") or ""


def _write_state(path: Path, state: dict) -> None:
    """Another process's write: a new file renamed over the state, 0600 (as the store writes)."""
    tmp = path.with_name(".test-state.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, separators=(",", ":"))
    os.replace(tmp, path)


def _pad(path: Path, size: int) -> None:
    """Grow the state file to about ``size`` bytes with a large but valid field: the database's
    authorized_subjects (mTLS client subjects, RS's own shape), thousands of them."""
    state = json.loads(path.read_text())
    subject = {"CN": "client.example.com", "O": "Example Ltd", "OU": ["ops"], "L": "Springfield", "ST": "Oregon",
               "C": "US"}
    per = len(json.dumps(dict(subject, CN="client-000000.example.com"), separators=(",", ":"))) + 1
    state["bdbs"][0]["authorized_subjects"] = [dict(subject, CN=f"client-{i:06}.example.com")
                                               for i in range(max(0, size - path.stat().st_size) // per)]
    _write_state(path, state)


# -- (a) bounded strings ------------------------------------------------------------------------------
CIPHER_FIELDS = {
    "control_cipher_suites": "ECDHE-RSA-AES128-GCM-SHA256:" * (BIG // 28),
    "data_cipher_list": "ECDHE-RSA-AES256-GCM-SHA384:" * (BIG // 28),
    "sentinel_cipher_suites": ["ECDHE-RSA-AES128-GCM-SHA256"] * (BIG // 30),
    "data_cipher_suites_tls_1_3": ["TLS_AES_256_GCM_SHA384"] * (BIG // 25),
}


def test_huge_cipher_lists_are_refused(server, sandbox_path):
    served, client = server
    before = sandbox_path.stat().st_size
    for field, value in CIPHER_FIELDS.items():
        status, body = client.request("PUT", "/v1/cluster", {field: value})
        assert status == 400, (field, status, body)
        assert field in _message(body) and (str(MAX_TEXT) in _message(body) or "list" in _message(body)), body
    quarter = {f: v[:len(v) // 4] for f, v in CIPHER_FIELDS.items()}  # all four at once, under the body cap
    status, body = client.request("PUT", "/v1/cluster", quarter)
    assert status == 400, body
    assert sandbox_path.stat().st_size < before + 4096  # nothing of them was stored
    status, cluster = client.request("GET", "/v1/cluster")
    assert status == 200 and all(len(json.dumps(cluster.get(f))) < MAX_TEXT for f in CIPHER_FIELDS)
    # a list of plausible size is still taken
    status, body = client.request("PUT", "/v1/cluster", {"data_cipher_list": "ECDHE-RSA-AES256-GCM-SHA384"})
    assert status == 200, body


HUGE = "x" * BIG
#: Every other request that stores client-supplied strings: (method, path, body).
OTHER_STORES = {
    # cluster fields the grammar does not describe: only their type used to be checked
    "cluster-list-huge-string": ("PUT", "/v1/cluster", {"mtls_authorized_subjects": [{"CN": HUGE}]}),
    "cluster-list-many-items": ("PUT", "/v1/cluster", {"mtls_authorized_subjects": [{"CN": f"c{i}"}
                                                                                     for i in range(40000)]}),
    "cluster-object": ("PUT", "/v1/cluster", {"alert_settings": {"cluster_certs_about_to_expire":
                                                                 {"enabled": True, "threshold": HUGE}}}),
    "cluster-string": ("PUT", "/v1/cluster", {"smtp_tls_mode": HUGE}),
    "policy-string": ("PUT", "/v1/cluster/policy", {"default_sharded_proxy_policy": HUGE}),
    "bdb-tls_mode": ("PUT", "/v1/bdbs/1", {"tls_mode": HUGE}),
    "services": ("PUT", "/v1/cluster/services_configuration", {"cm_server": {"operating_mode": HUGE}}),
    "auditing": ("PUT", "/v1/cluster/auditing/db_conns", {"audit_protocol": "TCP", "audit_address": HUGE,
                                                          "audit_port": 1}),
    "ocsp": ("PUT", "/v1/ocsp", {"query_frequency": HUGE}),
}


@pytest.mark.parametrize("method,path,body", list(OTHER_STORES.values()), ids=list(OTHER_STORES))
def test_every_stored_string_is_bounded(server, sandbox_path, method, path, body):
    served, client = server
    before = sandbox_path.stat().st_size
    status, answer = client.request(method, path, body)
    assert 400 <= status < 500, (status, str(answer)[:300])
    assert _message(answer), answer
    assert sandbox_path.stat().st_size < before + 4096, "the value was stored"


def test_certificate_bodies_store_no_junk(server, sandbox_path, certfactory):
    """A certificate text padded with 900 KB of other text: what is stored is the certificate."""
    served, client = server
    before = sandbox_path.stat().st_size
    leaf = certfactory.leaf()
    cert = "x" * 1000 + "\n" + Path(leaf.cert).read_text() + ("junk line\n" * (BIG // 10))
    status, body = client.request("PUT", "/v1/cluster/certificates",
                                  {"certificates": [{"name": "api", "certificate": cert,
                                                     "key": Path(leaf.key).read_text()}]})
    assert status in (200, 400), body
    assert sandbox_path.stat().st_size < before + 16384


def test_request_bodies_are_capped(server, sandbox_path):
    """A body over MAX_BODY is refused from its Content-Length, before it is read or stored."""
    from rladmin_py.sandbox.rest_api import MAX_BODY

    served, client = server
    assert MAX_BODY <= 1 << 20
    before = sandbox_path.read_bytes()
    conn = client.conn
    conn.putrequest("PUT", "/v1/cluster")
    conn.putheader("Authorization", _auth(served))
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()  # the body never comes: the answer must not wait for it
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 413 and body["error_code"] == "request_too_large", body
    conn.close()
    assert sandbox_path.read_bytes() == before


# -- (b) per-request work independent of the state's size ---------------------------------------------
@pytest.mark.parametrize("size", [0, PADDED], ids=["small-state", "padded-state"])
def test_requests_do_not_reparse_the_state(sandbox_path, size):
    if size:
        _pad(sandbox_path, size)
        assert sandbox_path.stat().st_size >= size * 0.9
    served = start_server(sandbox_path)
    client = Client(served)
    try:
        client.request("GET", "/v1/cluster")  # the first request reads the state the server wrote at start
        first = client.stats()
        assert "state_parses" in first, first
        for _ in range(REQUESTS):
            status, body = client.request("GET", "/v1/cluster", password="wrong-password")
            assert status == 401, body
        middle = client.stats()
        for _ in range(REQUESTS):
            status, body = client.request("GET", "/v1/cluster")
            assert status == 200 and body["name"], body
        last = client.stats()
        assert middle["state_parses"] - first["state_parses"] <= FEW_PARSES, (first, middle)
        assert last["state_parses"] - middle["state_parses"] <= FEW_PARSES, (middle, last)
        assert last["requests_served"] - first["requests_served"] >= 2 * REQUESTS
    finally:
        client.close()
        assert served.stop() == 0, served.log()


def test_a_change_by_another_process_is_seen_by_the_next_request(server, sandbox_path, rladmin):
    served, client = server
    status, cluster = client.request("GET", "/v1/cluster")
    assert status == 200 and cluster["min_data_TLS_version"] != "1.3"
    # the tool in another process (an atomic replace)
    result = rladmin("cluster", "config", "min_data_TLS_version", "1.3")
    assert result.returncode == 0, result.stderr
    status, cluster = client.request("GET", "/v1/cluster")
    assert status == 200 and cluster["min_data_TLS_version"] == "1.3", cluster

    # a new password, written by another process: the old one stops working at once
    state = json.loads(sandbox_path.read_text())
    old_password, state["admin"]["password"] = state["admin"]["password"], "N3w-passw0rd-for-the-test"
    _write_state(sandbox_path, state)
    status, _ = client.request("GET", "/v1/cluster", password=old_password)
    assert status == 401
    status, cluster = client.request("GET", "/v1/cluster", password="N3w-passw0rd-for-the-test")
    assert status == 200 and cluster["min_data_TLS_version"] == "1.3"

    # an edit in place, same size, same inode, the old mtime put back: still seen
    raw = sandbox_path.read_bytes()
    assert raw.count(b'"min_data_TLS_version":"1.3"') == 1
    st = sandbox_path.stat()
    with open(sandbox_path, "r+b") as fh:
        fh.write(raw.replace(b'"min_data_TLS_version":"1.3"', b'"min_data_TLS_version":"1.2"'))
    os.utime(sandbox_path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = sandbox_path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    status, cluster = client.request("GET", "/v1/cluster", password="N3w-passw0rd-for-the-test")
    assert status == 200 and cluster["min_data_TLS_version"] == "1.2", cluster


# -- the cache in-process: shared, read-only, and never stale -----------------------------------------
def test_views_are_cached_and_callers_do_not_corrupt_them(sandbox_path, rladmin):
    """Every read the shell and the server make, in-process; the cached state must still equal the
    file afterwards (no caller mutated what it was given), and a write is seen by the next view."""
    from rladmin_py import commands  # noqa: F401  (the shell's handlers read through these getters)

    backend = SandboxBackend(str(sandbox_path))
    try:
        backend.get_cluster()
        parses = store_module.parse_count()
        for _ in range(50):
            for getter in (backend.get_cluster, backend.get_nodes, backend.get_bdbs, backend.get_certificates,
                           backend.get_policy, backend.get_services, backend.get_auditing, backend.get_shards,
                           backend.get_ocsp, backend.get_ocsp_status, backend.served, backend.credentials):
                getter()
            backend.get_bdb(1)
        assert store_module.parse_count() - parses <= 1
        assert backend.store.view() is backend.store.view()  # one shared copy, not a parse per read
        assert backend.store.view() == json.loads(sandbox_path.read_text())

        result = rladmin("cluster", "config", "min_control_TLS_version", "1.3")
        assert result.returncode == 0, result.stderr
        assert backend.get_cluster()["min_control_TLS_version"] == "1.3"
        with backend.store.update() as state:  # a write hands out a private copy, never the cached one
            assert state is not backend.store.view()
            state["cluster"]["min_control_TLS_version"] = "1.2"
        assert backend.get_cluster()["min_control_TLS_version"] == "1.2"
    finally:
        backend.close()


def test_shell_reads_leave_the_cache_intact(sandbox_path):
    """The shell's read commands, run in-process on one sandbox backend (text and JSON), leave the
    shared state as the file holds it: no handler or renderer mutates what a view gave it."""
    import io

    from rladmin_py.context import Context
    from rladmin_py.runner import Printer, run_line

    backend = SandboxBackend(str(sandbox_path))
    try:
        shared = backend.store.view()
        ctx = Context(open_backend=lambda: backend)
        for json_output in (False, True):
            printer = Printer(out=io.StringIO(), err=io.StringIO(), json=json_output)
            for line in ("status", "status extra all", "status shards", "info cluster", "info node", "info db",
                         "info db db:1", "cluster certificate show", "cluster certificate show api",
                         "cluster ocsp config query_frequency", "cluster ocsp status", "verify tls"):
                code, _ = run_line(ctx, line, printer)
                assert "internal error" not in printer.err.getvalue(), (line, printer.err.getvalue())
        assert backend.store.view() is shared  # still the one parsed copy
        assert shared == json.loads(sandbox_path.read_text())  # and nobody changed it
    finally:
        backend.close()
