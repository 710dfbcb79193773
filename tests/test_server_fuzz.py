"""Hypothesis against the sandbox server: arbitrary JSON bodies, headers, methods and raw requests.

One ``--serve`` subprocess for the whole module, spoken to over TLS with the sandbox CA (the
standard library's http.client, and raw TLS sockets for what http.client refuses to send). Every
answer must be a 2xx, or a 4xx with the RS error body ``{"error_code", "description"}``: never a
5xx, never a connection dropped without an answer. Afterwards the server is still up, its log
holds no traceback, no internal error and no key, the state file is strict JSON (no NaN), 0600,
and the cluster object's TLS fields still hold values RS accepts.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import string

import pytest
from hypothesis import HealthCheck, assume, given, note, settings, strategies as st

import rladmin_py
from rladmin_py.language import grammar as gm
from rladmin_py.backends.sandbox import SandboxBackend
from rladmin_py.sandbox.cluster import KNOWN_CERTIFICATES
from rladmin_py.sandbox.rest_api import MAX_BODY
from server_fixtures import auth_header, client_context, request, rs_error_body, serve_copy, strict_json

_FUZZ = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def fuzz(kind: str):
    return settings(max_examples=EXAMPLES[kind], **_FUZZ)
EXAMPLES = {"changes": 80, "bodies": 80, "headers": 90, "certificates": 60, "raw": 70}  # 380 in all

_cluster = json.load(open(os.path.join(os.path.dirname(rladmin_py.__file__), "data", "cluster_defaults.json")))
CLUSTER_KEYS = sorted(_cluster)
TLS_PARAMS = {n: p for n, p in gm.load().type("cluster_config").params.items()  # the TLS surface
              if ("TLS" in n or "cipher" in n or n in ("sentinel_tls_mode", "encrypt_pkeys", "http_support"))
              and not p.renamed}
TLS_KEYS = sorted(TLS_PARAMS)
PLAUSIBLE = ["1.2", "1.3", "1.1", "1", "1.0", "TLSv1.2", "", "required", "allowed", "disabled", "enabled", True, False,
             "HIGH:!MD5", "DEFAULT:!3DES", ["TLS_AES_256_GCM_SHA384"], [], [""], ["a", 1], {"a": 1}, 0, -1, None,
             "A\u0000B", "\u00e9t\u00e9", "\ud800", 1e308, 10 ** 30]

ENDPOINTS = ["/v1/cluster", "/v1/cluster/certificates", "/v1/cluster/update_cert", "/v1/nodes", "/v1/nodes/1",
             "/v1/nodes/3", "/v1/nodes/0", "/v1/nodes/" + "9" * 40, "/v1/nodes/-1", "/v1/nodes/x", "/v1/nodes/1/2",
             "/v1/bdbs", "/", "/v1", "/v1/cluster/certificates/rotate", "/v1/cluster/certificates/api",
             "/_rladmin_py/stats", "*", "//v1/cluster", "/v1/cluster/../nodes", "/v1/%00", "/V1/CLUSTER",
             "http://127.0.0.1/v1/cluster", "/" + "a" * 3000]
SUFFIXES = ["", "", "", "/", "?dry_run=true", "?dry_run=0", "?dry_run", "?dry_run=%ff&dry_run=1", "?%00=%zz", "#x"]
METHODS = ["GET", "PUT", "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT", "get",
           "PROPFIND", "BREW"]
TOKEN = string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~"
LATIN1_LINE = st.characters(min_codepoint=0, max_codepoint=255, blacklist_characters="\r\n")

CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", " application/json ",
                 "application/json;", "application/json; charset=latin-1", "text/plain", "",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx",
                 "application/json\x00", "application/\xe9"]
BOGUS_LENGTHS = ["abc", "-1", "+5", "1e3", "0x10", " ", "\xb2", "1 2", "5, 5", "9" * 30, str(MAX_BODY + 1),
                 str(10 ** 12)]


# -- the server -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory, sandbox_template):
    served = serve_copy(sandbox_template, tmp_path_factory.mktemp("fuzz"), "--debug")
    yield served
    assert served.stop() == 0
    log = served.log()
    assert "Traceback" not in log and "internal error" not in log, log[-2000:]
    assert "PRIVATE KEY" not in log


@pytest.fixture(scope="module")
def material(server):
    """The sandbox's own PEMs (certificates and keys, all from its CA): deeper paths than random text."""
    backend = SandboxBackend(str(server.sandbox))
    try:
        certs = backend.get_certificates()
    finally:
        backend.close()
    return sorted(v for k, v in certs.items() if k.endswith("_cert")), sorted(v for k, v in certs.items()
                                                                              if k.endswith("_key"))


def check_answer(status: int, data: bytes, method: str, path: str = "") -> None:
    """2xx with JSON (or nothing), or 4xx with an RS error body; never a 5xx. A cluster object
    answered to PUT /v1/cluster still holds valid TLS values."""
    note(f"answer: {status} {data[:300]!r}")
    assert 200 <= status < 300 or 400 <= status < 500, status
    if method == "HEAD":
        assert data == b""
        return
    if status >= 400:
        assert rs_error_body(json.loads(data)), data[:300]
    elif data:
        answer = json.loads(data)
        if method == "PUT" and path.split("?")[0].split("#")[0].rstrip("/") in ("/v1/cluster",
                                                                                "http://127.0.0.1/v1/cluster"):
            assert_tls_fields(answer)


def assert_tls_fields(cluster: dict) -> None:
    """The cluster object's TLS fields hold values RS would accept (and OpenSSL could be given)."""
    grammar = gm.load()
    for name, param in TLS_PARAMS.items():
        value = cluster[name]
        if param.readonly:
            continue
        if param.type in ("tls_version", "tls_mode"):
            assert value in grammar.type(param.type).choices, (name, value)
        elif param.type == "switch":
            assert isinstance(value, bool), (name, value)
        elif param.type == "cipher_list":
            assert isinstance(value, list) and all(isinstance(v, str) and v and v.isprintable() and v.isascii()
                                                   for v in value), (name, value)
        else:
            assert isinstance(value, str) and value and value.isprintable() and value.isascii(), (name, value)


def healthy(server) -> None:
    """The server still answers, the state file is strict JSON and 0600, TLS fields hold valid values."""
    assert server.proc.poll() is None, "the server died"
    status, cluster = request(server, "GET", "/v1/cluster", context=client_context(server.ca_cert))
    assert status == 200
    with open(server.sandbox, encoding="utf-8") as fh:
        state = strict_json(fh.read())
    assert os.stat(server.sandbox).st_mode & 0o777 == 0o600
    assert state["cluster"] == cluster
    assert_tls_fields(cluster)
    assert cluster["proxy_certificate"] == state["certificates"]["proxy"]["cert"]
    assert cluster["syncer_certificate"] == state["certificates"]["syncer"]["cert"]
    api = state["certificates"]["api"]
    assert "PRIVATE KEY-----" in api["key"] and "BEGIN CERTIFICATE" in api["cert"]


def exchange(server, method: str, path: str, body: bytes | None, headers: list[tuple[str, str]]):
    """One request with exactly these headers (http.client adds only Host): (status, raw body)."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=20,
                                       context=client_context(server.ca_cert))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value.encode("latin-1"))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# -- strategies ----------------------------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats()
           | st.text(max_size=30) | st.sampled_from(PLAUSIBLE))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8) | st.sampled_from(CLUSTER_KEYS), inner, max_size=4),
                           max_leaves=12)
tls_values = st.sampled_from(PLAUSIBLE) | json_values | st.lists(st.sampled_from(PLAUSIBLE), max_size=3)
cluster_changes = (st.dictionaries(st.sampled_from(TLS_KEYS), tls_values, min_size=1, max_size=3)  # the TLS fields
                   | st.dictionaries(st.sampled_from(CLUSTER_KEYS) | st.text(max_size=12), tls_values, max_size=4))
REAL = ["/v1/cluster"] * 4 + ["/v1/cluster/certificates", "/v1/cluster/update_cert", "/v1/nodes", "/v1/nodes/2"]
paths = st.builds(lambda p, s: p + s, st.sampled_from(REAL) | st.sampled_from(ENDPOINTS), st.sampled_from(SUFFIXES))
methods = st.sampled_from(METHODS) | st.text(alphabet=TOKEN, min_size=1, max_size=10)


def dumps(value) -> bytes:
    return json.dumps(value).encode("ascii")  # non-ASCII (and lone surrogates) as \u escapes


@st.composite
def bodies(draw):
    kind = draw(st.sampled_from(["changes", "changes", "json", "bytes", "deep", "none"]))
    if kind == "changes":
        return dumps(draw(cluster_changes))
    if kind == "json":
        return dumps(draw(json_values))
    if kind == "deep":  # nested past any recursion limit
        depth = draw(st.integers(1, 200_000))
        return b"[" * depth + b"]" * draw(st.integers(0, depth))
    if kind == "none":
        return None
    return draw(st.binary(max_size=300))


# -- the tests ---------------------------------------------------------------------------------------------
@fuzz("bodies")
@given(method=st.sampled_from(["PUT", "PUT", "GET", "POST", "DELETE"]), path=paths, body=bodies())
def test_arbitrary_json_bodies(server, method, path, body):
    headers = [("Authorization", auth_header(server)), ("Content-Type", "application/json")]
    if body is not None:
        headers.append(("Content-Length", str(len(body))))
    status, data = exchange(server, method, path, body, headers)
    check_answer(status, data, method, path)


@fuzz("changes")
@given(query=st.sampled_from(["", "", "?dry_run=true", "?dry_run=false", "?dry_run"]), changes=cluster_changes)
def test_arbitrary_cluster_changes(server, query, changes):
    body = dumps(changes)
    status, data = exchange(server, "PUT", "/v1/cluster" + query, body, [
        ("Authorization", auth_header(server)), ("Content-Type", "application/json"),
        ("Content-Length", str(len(body)))])
    check_answer(status, data, "PUT", "/v1/cluster" + query)


@st.composite
def header_sets(draw, server):
    """Content-Type variants, bogus or conflicting Content-Length, odd headers; the body is small."""
    body = draw(st.none() | st.just(b'{"min_data_TLS_version": "1.2"}') | st.binary(max_size=64)
                | cluster_changes.map(dumps))
    headers = []
    if draw(st.integers(0, 9)):
        headers.append(("Authorization", auth_header(server)))
    else:
        headers.append(("Authorization", draw(st.sampled_from(["", "Basic", "Basic !!!", "Bearer x", "Basic " +
                                                              base64.b64encode(b"admin@sandbox.local").decode()]))))
    if draw(st.booleans()):
        headers.append(("Content-Type", draw(st.sampled_from(CONTENT_TYPES) | st.text(LATIN1_LINE, max_size=30))))
    size = len(body) if body is not None else 0
    length = draw(st.sampled_from(["exact", "exact", "exact", "bogus", "smaller", "conflict", "absent", "huge"]))
    if length == "exact" and body is not None:
        headers.append(("Content-Length", str(size)))
    elif length == "bogus":
        headers.append(("Content-Length", draw(st.sampled_from(BOGUS_LENGTHS))))
    elif length == "smaller":  # the rest of the body reads as a next request: one answer is enough
        headers.append(("Content-Length", str(draw(st.integers(0, size)))))
    elif length == "conflict":
        headers += [("Content-Length", str(size)), ("Content-Length", str(size + 1))]
    elif length == "huge":
        headers.append(("Content-Length", str(draw(st.integers(MAX_BODY + 1, 10 ** 15)))))
    for name, value in draw(st.lists(st.tuples(
            st.sampled_from(["Expect", "Connection", "Transfer-Encoding", "Accept", "Host", "X-Forwarded-For",
                             "Content-Encoding", "Range"]) | st.text(alphabet=TOKEN, min_size=1, max_size=12),
            st.sampled_from(["100-continue", "close", "keep-alive", "chunked", "gzip", "*/*", "bytes=0-1"])
            | st.text(LATIN1_LINE, max_size=40)), max_size=4)):
        if name.lower() == "content-length":
            continue
        headers.append((name, value))
    return body, headers


@fuzz("headers")
@given(method=methods, path=paths, data=st.data())
def test_arbitrary_headers_and_methods(server, method, path, data):
    body, headers = data.draw(header_sets(server))
    note(f"{method} {path} {headers!r} {body!r}")
    status, answer = exchange(server, method, path, body, headers)
    check_answer(status, answer, method, path)


@st.composite
def certificate_bodies(draw, certs, keys):
    pem = (st.sampled_from(certs) | st.sampled_from(certs).map(lambda c: c + certs[0])
           | st.tuples(st.sampled_from(certs), st.integers(0, 2000), st.characters()).map(
               lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + 1:])
           | st.text(max_size=80) | json_values)
    key = st.none() | st.sampled_from(keys) | st.sampled_from(keys).map(lambda k: k[:len(k) // 2]) | st.text(
        max_size=40) | json_values
    # never "api": a successful change there would only swap certificates the client still trusts
    names = st.sampled_from([n for n in KNOWN_CERTIFICATES if n != "api"] + ["", "API", "nope", "internal"]) | json_values
    item = st.fixed_dictionaries({"name": names, "certificate": pem}, optional={"key": key, "extra": json_values})
    if draw(st.booleans()):
        return "/v1/cluster/update_cert", dumps(draw(item | json_values))
    return "/v1/cluster/certificates", dumps(draw(
        st.fixed_dictionaries({"certificates": st.lists(item, max_size=3) | json_values}) | json_values))


@fuzz("certificates")
@given(data=st.data())
def test_arbitrary_certificate_bodies(server, material, data):
    certs, keys = material
    path, body = data.draw(certificate_bodies(certs, keys))
    status, answer = exchange(server, "PUT", path, body, [("Authorization", auth_header(server)),
                                                          ("Content-Type", "application/json"),
                                                          ("Content-Length", str(len(body)))])
    check_answer(status, answer, "PUT")


@st.composite
def raw_requests(draw, server):
    """Bytes http.client will not send: odd request lines, headers without colons, NULs, folding."""
    if draw(st.integers(0, 4)):
        line = (f"{draw(methods)} {draw(paths)} "
                f"{draw(st.sampled_from(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.x', 'http/1.1', 'HTTP/01.1', 'HTTP/1.1.1', 'HTTP/1', 'FOO', 'HTTP/1.' + chr(0xb2)]))}")
    else:
        line = draw(st.text(LATIN1_LINE, max_size=60))
        words = line.split()
        assume(words)  # blank: the next line would be read as the request line
        assume(not (len(words) == 2 and words[0] == "GET"))  # HTTP/0.9: an answer without a status line
    lead = "\r\n" * draw(st.integers(0, 3))
    headers = [f"Authorization: {auth_header(server)}"] if draw(st.integers(0, 5)) else []
    headers += draw(st.lists(st.text(LATIN1_LINE, max_size=50) | st.sampled_from(
        ["Content-Type: application/json", "Content-Length: x", "Expect: 100-continue", " folded", "NoColon",
         ":", "X: \x00", "Transfer-Encoding: chunked", "Content-Length: " + str(MAX_BODY * 3),
         "Connection: close"]), max_size=5))
    body = draw(st.binary(max_size=80) | cluster_changes.map(dumps))
    if draw(st.booleans()):
        headers.append(f"Content-Length: {len(body)}")
    # a header block that says nothing about the body: the body reads as the next request (one answer is enough)
    method = line.split()[0] if line.split() else ""
    return (lead + line + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode("latin-1") + body, method


@fuzz("raw")
@given(data=st.data())
def test_raw_requests_over_tls(server, data):
    raw, method = data.draw(raw_requests(server))
    note(repr(raw[:400]))
    ctx = client_context(server.ca_cert)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as plain:
        with ctx.wrap_socket(plain, server_hostname="localhost") as sock:
            sock.sendall(raw)
            resp = http.client.HTTPResponse(sock, method=method)
            resp.begin()  # raises if the connection was dropped without an answer
            check_answer(resp.status, resp.read(), method)


# -- after the fuzzing ---------------------------------------------------------------------------------------
def test_known_crashers_are_clean_refusals(server):
    """Inputs that once gave a 500 or a dropped connection, kept as fixed examples."""
    json_ct = {"Content-Type": "application/json"}
    cases = [
        ("PUT", "/v1/cluster", b"[" * 100_000, json_ct, "invalid_json"),  # RecursionError
        ("PUT", "/v1/cluster", b'{"min_data_TLS_version": ["1.3"]}', json_ct, "invalid_field"),  # unhashable
        ("PUT", "/v1/cluster", b'{"reserved_ports": [NaN]}', json_ct, "invalid_json"),  # NaN into the state file
        ("PUT", "/v1/cluster", b'{"reserved_ports": [' + b"1" * 5000 + b"]}", json_ct, "invalid_json"),
        ("PUT", "/v1/cluster", b'{"control_cipher_suites": "HIGH\\u0000"}', json_ct, "invalid_field"),
        ("PUT", "/v1/cluster", b'{"data_cipher_suites_tls_1_3": ["\\n"]}', json_ct, "invalid_field"),
        ("GET", "/v1/nodes/" + "9" * 5000, None, {}, "not_found"),  # int() digit limit
        ("BREW", "/v1/cluster", None, {}, "method_not_allowed"),  # was a 501
        ("BREW", "/v1/nope", None, {}, "not_found"),
    ]
    for method, path, body, headers, code in cases:
        status, answer = request(server, method, path, body, headers,
                                 context=client_context(server.ca_cert))
        assert 400 <= status < 500 and rs_error_body(answer) and answer["error_code"] == code, (path, status, answer)
    # a Content-Length of Unicode digits ('²'.isdigit() is True): was a 500
    status, answer = exchange(server, "PUT", "/v1/cluster", b"{}", [("Authorization", auth_header(server)),
                                                                    ("Content-Type", "application/json"),
                                                                    ("Content-Length", "\xb2")])
    assert status == 400 and rs_error_body(json.loads(answer))
    # blank lines before a request line (RFC 9112 2.2) were answered by closing the connection
    ctx = client_context(server.ca_cert)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=20),
                         server_hostname="localhost") as sock:
        sock.sendall(b"\r\n \r\nGET /v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: "
                     + auth_header(server).encode() + b"\r\n\r\n")
        resp = http.client.HTTPResponse(sock, method="GET")
        resp.begin()
        assert resp.status == 200 and len(json.loads(resp.read())) == 3


def test_server_survived_and_state_is_valid(server):
    healthy(server)
