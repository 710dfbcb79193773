"""OCSP for real, on loopback: the sandbox's responder, the client, and ``openssl ocsp``.

Practice certificates are registered with a test sandbox's responder; the responder runs in
this process (:class:`OCSPResponder`) or under ``rladmin-py --sandbox PATH --serve 127.0.0.1:0``,
and is asked by :func:`rladmin_py.certificates.ocsp.query` and by the ``openssl ocsp`` client.
Every server a test starts is stopped in a ``finally``; waits are bounded polls, never sleeps.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp as x509_ocsp

from conftest import _test_cas
from rladmin_py.certificates import making as certgen, ocsp, practice
from rladmin_py.sandbox import ocsp_responder
from rladmin_py.sandbox.cluster import SandboxCluster
from test_server import OPENSSL, Served, start_server

needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command-line tool is not installed")
FQDN = "cluster.sandbox.local"
HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                       r"\d{4} \d\d:\d\d:\d\d GMT$")
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", re.S)


# -- helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def made(tmp_path, sandbox_path) -> Path:
    """Practice certificates registered with this test's sandbox (as make-certs does once wired)."""
    directory = tmp_path / "practice"
    written = practice.write_practice_certs(str(directory), FQDN, sandbox=str(sandbox_path),
                                            register_ocsp=ocsp_responder.registrar(str(sandbox_path)))
    assert written["ocsp_registered"] and written["ocsp_url"] == responder_url(sandbox_path)
    return directory


def state_of(sandbox_path) -> dict:
    return json.loads(Path(sandbox_path).read_text(encoding="utf-8"))


def responder_url(sandbox_path) -> str:
    return f"http://127.0.0.1:{state_of(sandbox_path)['ocsp_responder']['port']}/"


def responder_for(sandbox_path, port: int | None = None) -> ocsp_responder.OCSPResponder:
    """A started responder answering from the sandbox's state file (re-read per request)."""
    cluster = SandboxCluster(str(sandbox_path))
    responder = ocsp_responder.OCSPResponder(lambda: ocsp_responder.issuers_of(cluster.store.view()),
                                             port=state_of(sandbox_path)["ocsp_responder"]["port"] if port is None
                                             else port)
    responder.start()
    return responder


def read(directory: Path, name: str) -> str:
    return (directory / name).read_text(encoding="utf-8")


def poll(predicate, timeout: float = 10.0, interval: float = 0.05):
    """``predicate()`` once it is truthy, within ``timeout`` seconds (bounded in time and count)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
    return predicate()


def reachable(url: str) -> bool:
    host, port = url.split("//", 1)[1].strip("/").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def intermediate_of(sandbox_path) -> certgen.Issued:
    """The practice intermediate as registered (its key comes from the state, as the responder's)."""
    entry = state_of(sandbox_path)["ocsp_responder"]["issuers"][-1]
    cert = x509.load_pem_x509_certificate(entry["certificate"].encode())
    key = serialization.load_pem_private_key(entry["key"].encode(), None)
    return certgen.Issued(entry["certificate"], entry["key"], cert, key)


def leaf_with_aia(issuer: certgen.Issued, url: str, *, chain: bool = True) -> str:
    issued = certgen.make_leaf(FQDN, [FQDN], issuer, ocsp_url=url)
    return issued.cert_pem + (issuer.cert_pem if chain else "")


class Canned:
    """A test-only HTTP server answering every POST with ``body`` and ``status`` (a bad responder)."""

    def __init__(self, body: bytes, status: int = 200):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(sandbox_path: Path) -> Served:
    """``rladmin-py --sandbox PATH --serve 127.0.0.1:0 --json`` (a registered sandbox adds ocsp_responder)."""
    return start_server(sandbox_path)


# -- the client against the responder, in this process ----------------------------------------------
def test_good_revoked_and_the_documented_lines(made, sandbox_path):
    responder = responder_for(sandbox_path)
    try:
        assert ocsp.responder_url(read(made, "good-chain.pem")) == responder.url == responder_url(sandbox_path)
        good = ocsp.query(read(made, "good-chain.pem"))
        revoked = ocsp.query(read(made, "revoked-chain.pem"))
    finally:
        responder.close()
    assert good["status"] == "GOOD" and good["revocation_time"] is None and good["responder_url"] == responder.url
    assert revoked["status"] == "REVOKED" and HTTP_DATE.match(revoked["revocation_time"])
    for result in (good, revoked):
        assert set(result) == {"status", "responder_url", "produced_at", "this_update", "next_update",
                               "revocation_time", "revocation_reason"}
        assert all(HTTP_DATE.match(result[k]) for k in ("produced_at", "this_update", "next_update"))
    lines = ocsp.format_status(revoked)
    assert lines == ["OCSP certificate status is: REVOKED", f"produced_at: {revoked['produced_at']}",
                     f"responder_url: {responder.url}", f"revocation_time: {revoked['revocation_time']}",
                     f"this_update: {revoked['this_update']}"]
    assert ocsp.format_status(good) == ["OCSP certificate status is: GOOD", f"produced_at: {good['produced_at']}",
                                        f"responder_url: {responder.url}", f"this_update: {good['this_update']}"]
    rs_object = {"cert_status": "UNKNOWN", "responder_url": "u"}  # GET /v1/ocsp/status's shape
    assert ocsp.format_status(rs_object) == ["OCSP certificate status is: UNKNOWN", "responder_url: u"]


def test_every_practice_leaf_of_the_intermediate_is_known(made, sandbox_path):
    responder = responder_for(sandbox_path)
    try:
        statuses = {name: ocsp.query(read(made, name))["status"] for name in (
            "expired-chain.pem", "not-yet-valid-chain.pem", "expiring-soon-chain.pem", "no-wildcard-chain.pem",
            "weak-rsa1024-chain.pem", "ecdsa-chain.pem")}
        unknown = ocsp.query(leaf_with_aia(intermediate_of(sandbox_path), responder.url))  # issued, not registered
    finally:
        responder.close()
    assert set(statuses.values()) == {"GOOD"}, statuses
    assert unknown["status"] == "UNKNOWN" and ocsp.format_status(unknown)[0] == "OCSP certificate status is: UNKNOWN"


def test_a_registration_is_in_force_for_the_next_query(made, sandbox_path):
    responder = responder_for(sandbox_path)
    try:
        chain = read(made, "good-chain.pem")
        serial = str(x509.load_pem_x509_certificate(chain.encode()).serial_number)
        entry = state_of(sandbox_path)["ocsp_responder"]["issuers"][-1]
        with SandboxCluster(str(sandbox_path)).store.update() as state:
            ocsp_responder.register_issuer(state, entry["certificate"], entry["key"],
                                           {**entry["revoked"], serial: "2026-01-02T03:04:05+00:00"}, entry["issued"])
        result = ocsp.query(chain)
    finally:
        responder.close()
    assert result["status"] == "REVOKED" and result["revocation_time"] == "Fri, 02 Jan 2026 03:04:05 GMT"
    assert len(state_of(sandbox_path)["ocsp_responder"]["issuers"]) == 1  # the same CA: replaced, not added


def test_get_requests_and_malformed_ones(made, sandbox_path):
    chain = x509.load_pem_x509_certificates(read(made, "good-chain.pem").encode())
    der = x509_ocsp.OCSPRequestBuilder().add_certificate(chain[0], chain[1], hashes.SHA256()).build().public_bytes(
        serialization.Encoding.DER)
    responder = responder_for(sandbox_path)
    try:
        path = urllib.request.quote(base64.b64encode(der).decode(), safe="")
        with urllib.request.urlopen(responder.url + path, timeout=5) as resp:
            assert resp.headers["Content-Type"] == "application/ocsp-response"
            answer = x509_ocsp.load_der_ocsp_response(resp.read())
        req = urllib.request.Request(responder.url, data=b"not DER",
                                     headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            malformed = x509_ocsp.load_der_ocsp_response(resp.read())
    finally:
        responder.close()
    assert answer.certificate_status == x509_ocsp.OCSPCertStatus.GOOD and answer.serial_number == chain[0].serial_number
    assert malformed.response_status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_without_add_response_by_hash(made, sandbox_path, monkeypatch):
    """cryptography before add_response_by_hash (the package allows >= 42): the stand-in path."""
    if hasattr(x509_ocsp.OCSPResponseBuilder, "add_response_by_hash"):
        monkeypatch.delattr(x509_ocsp.OCSPResponseBuilder, "add_response_by_hash")
    responder = responder_for(sandbox_path)
    try:
        assert ocsp.query(read(made, "revoked-chain.pem"))["status"] == "REVOKED"
        assert ocsp.query(read(made, "good-chain.pem"))["status"] == "GOOD"
    finally:
        responder.close()


# -- what goes wrong, said clearly --------------------------------------------------------------------
def test_no_uri_and_no_issuer(made):
    self_signed = read(made, "self-signed-chain.pem")
    assert ocsp.responder_url(self_signed) is None
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query(self_signed)
    assert info.value.error_code == "no_responder_url" and "no OCSP responder URI" in info.value.message
    leaf_only = PEM_CERT.findall(read(made, "good-chain.pem"))[0]
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query(leaf_only)
    assert info.value.error_code == "no_issuer_certificate" and "issuer" in info.value.message
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query(read(made, "wrong-order-chain.pem"))  # the root first: no AIA on it
    assert info.value.error_code == "no_responder_url"
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query("not a certificate")
    assert info.value.error_code == "invalid_certificate"


def test_an_issuer_the_responder_does_not_know(made, sandbox_path):
    _, stranger = _test_cas()  # the tests' own intermediate: never registered
    responder = responder_for(sandbox_path)
    try:
        with pytest.raises(ocsp.OCSPProblem) as info:
            ocsp.query(leaf_with_aia(stranger, responder.url))
    finally:
        responder.close()
    assert info.value.error_code == "invalid_ocsp_response"
    assert "answered 'unauthorized'" in info.value.message and "issuer" in info.value.message


def _signed_by(signer: certgen.Issued, chain_pem: str, *, certs=()) -> bytes:
    """A GOOD answer to the leaf's request, signed by ``signer`` (named as the responder)."""
    leaf, issuer = x509.load_pem_x509_certificates(chain_pem.encode())[:2]
    now = dt.datetime.now(dt.timezone.utc)
    builder = x509_ocsp.OCSPResponseBuilder().add_response(
        cert=leaf, issuer=issuer, algorithm=hashes.SHA1(), cert_status=x509_ocsp.OCSPCertStatus.GOOD,
        this_update=now, next_update=None, revocation_time=None, revocation_reason=None)
    builder = builder.responder_id(x509_ocsp.OCSPResponderEncoding.NAME, signer.cert)
    if certs:
        builder = builder.certificates(list(certs))
    return builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_who_may_sign_an_answer(made, sandbox_path):
    """RFC 6960 4.2.2.2: the issuer, or a responder certificate it issued with id-kp-OCSPSigning."""
    inter = intermediate_of(sandbox_path)
    _, stranger = _test_cas()
    not_for_ocsp = _with_eku(certgen.make_leaf("Practice OCSP responder", [], inter, eku=()), inter,
                             x509.oid.ExtendedKeyUsageOID.SERVER_AUTH)

    def ask(body: bytes):
        with Canned(body) as canned:
            chain = leaf_with_aia(inter, canned.url)
            return ocsp.query(chain)

    probe = leaf_with_aia(inter, "http://127.0.0.1:1/")  # answers about another leaf of the same issuer
    with pytest.raises(ocsp.OCSPProblem) as info:
        ask(_signed_by(stranger, probe))
    assert "not signed by the certificate's issuer nor by a responder it delegated" in info.value.message
    with pytest.raises(ocsp.OCSPProblem) as info:
        ask(_signed_by(not_for_ocsp, probe, certs=[not_for_ocsp.cert]))
    assert "not signed by the certificate's issuer" in info.value.message
    tampered = bytearray(_signed_by(inter, probe))
    tampered[-1] ^= 0x01  # the last byte of the signature
    with pytest.raises(ocsp.OCSPProblem) as info:
        ask(bytes(tampered))
    assert "signature of the OCSP response" in info.value.message and "does not verify" in info.value.message


def _with_eku(issued: certgen.Issued, issuer: certgen.Issued, usage) -> certgen.Issued:
    cert = issued.cert
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(cert.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    signed = builder.sign(issuer.key, hashes.SHA256())
    return certgen.Issued(certgen.cert_pem(signed), issued.key_pem, signed, issued.key)


def test_a_delegated_responder_is_trusted(made, sandbox_path):
    inter = intermediate_of(sandbox_path)
    signing = _with_eku(certgen.make_leaf("Practice OCSP responder", [], inter, eku=()), inter,
                        x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING)
    holder: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = _signed_by(signing, holder["chain"], certs=[signing.cert])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        holder["chain"] = leaf_with_aia(inter, f"http://127.0.0.1:{server.server_address[1]}/")
        assert ocsp.query(holder["chain"])["status"] == "GOOD"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_responder_down_and_silent(made, sandbox_path):
    responder = responder_for(sandbox_path)
    responder.close()
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query(read(made, "good-chain.pem"))
    assert info.value.error_code == "responder_unreachable"
    assert info.value.message == f"cannot reach the OCSP responder {responder.url}: connection refused"
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the handshake; nobody ever answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        start = time.monotonic()
        with pytest.raises(ocsp.OCSPProblem) as info:
            ocsp.query(leaf_with_aia(intermediate_of(sandbox_path), url), timeout=0.5)
        assert time.monotonic() - start < 3
    finally:
        silent.close()
    assert info.value.error_code == "responder_timeout" and "did not answer within 0.5 s" in info.value.message


@pytest.mark.parametrize("body, status, code, says", [
    (b"<html>hello</html>", 200, "invalid_ocsp_response", "not an OCSP response"),
    (b"oops", 500, "responder_http_error", "answered HTTP 500"),
    (b"\x30" * (ocsp.MAX_RESPONSE + 1), 200, "invalid_ocsp_response", "more than 64 KB"),
    (x509_ocsp.OCSPResponseBuilder.build_unsuccessful(x509_ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
        serialization.Encoding.DER), 200, "invalid_ocsp_response", "answered 'try_later'"),
])
def test_bad_responders(made, sandbox_path, body, status, code, says):
    with Canned(body, status) as canned:
        with pytest.raises(ocsp.OCSPProblem) as info:
            ocsp.query(leaf_with_aia(intermediate_of(sandbox_path), canned.url))
    assert info.value.error_code == code and says in info.value.message, info.value.message


def test_an_answer_about_another_certificate_is_refused(made, sandbox_path):
    inter = intermediate_of(sandbox_path)
    other = x509.load_pem_x509_certificate(read(made, "good-chain.pem").encode())
    der = x509_ocsp.OCSPRequestBuilder().add_certificate(other, inter.cert, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER)
    body, said = ocsp_responder.OCSPResponder(lambda: ocsp_responder.issuers_of(state_of(sandbox_path))).answer(der)
    assert said == "GOOD"
    with Canned(body) as canned:  # a properly signed GOOD, for good-chain.pem's serial
        with pytest.raises(ocsp.OCSPProblem) as info:
            ocsp.query(leaf_with_aia(inter, canned.url))
    assert "about another certificate" in info.value.message


def test_only_http_urls(made, sandbox_path):
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query(leaf_with_aia(intermediate_of(sandbox_path), "https://127.0.0.1:1/"))
    assert info.value.error_code == "unsupported_responder_url"


# -- registration -------------------------------------------------------------------------------------
def test_register_issuer_keeps_its_port(sandbox_path):
    root, inter = _test_cas()
    state: dict = {}
    url = ocsp_responder.register_issuer(state, inter.cert_pem, inter.key_pem, {"5": "2026-01-01T00:00:00Z"})
    port = state["ocsp_responder"]["port"]
    assert url == f"http://127.0.0.1:{port}/" and 1024 <= port < 65536
    assert ocsp_responder.register_issuer(state, root.cert_pem, root.key_pem, {}) == url
    assert ocsp_responder.register_issuer(state, inter.cert_pem, inter.key_pem, {}, ["7"]) == url
    issuers = state["ocsp_responder"]["issuers"]
    assert [e["certificate"] for e in issuers] == [root.cert_pem, inter.cert_pem]
    assert issuers[1] == {"certificate": inter.cert_pem, "key": inter.key_pem, "revoked": {}, "issued": ["7"]}


def test_without_a_sandbox_the_uri_is_the_default(tmp_path):
    written = practice.write_practice_certs(str(tmp_path / "p"), FQDN)
    assert written["ocsp_url"] == practice.DEFAULT_OCSP_URL and not written["ocsp_registered"]
    assert ocsp.responder_url(read(tmp_path / "p", "revoked-chain.pem")) == practice.DEFAULT_OCSP_URL
    assert "nothing answers there" in read(tmp_path / "p", "README.txt")


def test_make_certs_command_registers(rladmin, tmp_path, sandbox_path):
    """``sandbox make-certs`` on a sandbox registers the practice CA with its responder."""
    r = rladmin("sandbox", "make-certs", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    assert "ocsp_responder" in state_of(sandbox_path)
    responder = responder_for(sandbox_path)
    try:
        assert ocsp.query(read(tmp_path / "p", "revoked-chain.pem"))["status"] == "REVOKED"
    finally:
        responder.close()


# -- openssl ocsp ---------------------------------------------------------------------------------------
@needs_openssl
@pytest.mark.parametrize("name, status, digest", [("good-chain.pem", "good", []),
                                                  ("revoked-chain.pem", "revoked", ["-sha256"])])
def test_openssl_ocsp_client(made, sandbox_path, tmp_path, name, status, digest):
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(PEM_CERT.findall(read(made, name))[0])
    trust = tmp_path / "trust.pem"
    trust.write_text(read(made, "intermediate.pem") + read(made, "ca.pem"))
    responder = responder_for(sandbox_path)
    try:
        proc = subprocess.run([OPENSSL, "ocsp", "-issuer", str(made / "intermediate.pem"), *digest, "-cert", str(leaf),
                               "-url", responder.url, "-CAfile", str(trust)],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    finally:
        responder.close()
    assert proc.returncode == 0, proc.stderr
    assert f"{leaf}: {status}" in proc.stdout and "Response verify OK" in proc.stderr + proc.stdout
    if status == "revoked":
        assert "Revocation Time:" in proc.stdout


# -- through --serve --------------------------------------------------------------------------------------
def test_serve_runs_the_responder(made, sandbox_path):
    url = responder_url(sandbox_path)
    served = serve(sandbox_path)
    try:
        assert served.endpoints["ocsp_responder"] == url
        assert state_of(sandbox_path)["serving"]["ports"]["ocsp_responder"] == int(url.rsplit(":", 1)[1].strip("/"))
        assert ocsp.query(read(made, "good-chain.pem"))["status"] == "GOOD"
        assert ocsp.query(read(made, "revoked-chain.pem"))["status"] == "REVOKED"
    finally:
        code = served.stop()
    assert code == 0, served.log()
    assert "PRIVATE KEY" not in served.log()
    assert re.search(r"^ocsp_responder 127\.0\.0\.1:\d+ POST REVOKED$", served.log(), re.M), served.log()
    with pytest.raises(ocsp.OCSPProblem) as info:
        ocsp.query(read(made, "good-chain.pem"))
    assert info.value.error_code == "responder_unreachable"


def test_registered_while_serving(tmp_path, sandbox_path):
    served = serve(sandbox_path)
    try:
        assert "ocsp_responder" not in served.endpoints
        directory = tmp_path / "late"
        written = practice.write_practice_certs(str(directory), FQDN,
                                                register_ocsp=ocsp_responder.registrar(str(sandbox_path)))
        assert poll(lambda: reachable(written["ocsp_url"])), served.log()
        assert ocsp.query(read(directory, "revoked-chain.pem"))["status"] == "REVOKED"
    finally:
        code = served.stop()
    assert code == 0, served.log()
    assert f"the OCSP responder answers on {written['ocsp_url']}" in served.log()


def test_a_busy_responder_port_is_one_warning(made, sandbox_path):
    port = state_of(sandbox_path)["ocsp_responder"]["port"]
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    try:
        served = serve(sandbox_path)
        try:
            assert "ocsp_responder" not in served.endpoints and set(served.endpoints) >= {"api", "database"}
            assert served.request("GET", "/v1/cluster")[0] == 200
        finally:
            code = served.stop()
    finally:
        squatter.close()
    assert code == 0, served.log()
    warnings = [ln for ln in served.log().splitlines() if "OCSP responder" in ln]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: cannot listen on 127.0.0.1:{port} "), warnings
