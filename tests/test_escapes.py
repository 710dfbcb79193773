"""Terminal escapes (issue 14, item 4): untrusted text never reaches the terminal raw.

A certificate's CN, SANs and issuer, file names, a live cluster's error bodies and names, and the
request lines of the ``--serve --debug`` log are written by someone else. Each test plants
``ESC ] 0 ; pwned BEL ESC [ 2 J`` (retitle the window, clear the screen) and friends (a C1 CSI,
DEL, a bidi override) there, runs the real entry point (the console script, a hostile live
cluster, a served sandbox), and checks that no raw control, escape or bidi character reaches
stdout or stderr, that the text is shown in its visible escaped form (``\\x1b]0;pwned\\x07``),
and that ``--json`` gives the exact original strings.
"""
from __future__ import annotations

import base64
import json
import socket
import ssl

import pytest

from conftest import ec_key
from rladmin_py.certificates import making as certgen
from rladmin_py.terminal import escape, escape_lines
from test_rest_strict import HostileCluster, run as run_live
from test_server import start_server

EVIL = "\x1b]0;pwned\x07\x1b[2J"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J"
#: More of what a terminal acts on: a C1 CSI, DEL, a right-to-left override.
MORE = "\x9b31m\x7f\u202e"
MORE_SHOWN = "\\x9b31m\\x7f\\u202e"
#: Nothing of this may reach a terminal raw.
RAW = ("\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\x00")


def assert_no_raw(*texts: str) -> None:
    for text in texts:
        found = [c for c in RAW if c in text]
        assert not found, (found, text)


# -- the function itself ---------------------------------------------------------------------------------
def test_escape_makes_controls_visible_and_keeps_printable_text():
    assert escape(EVIL + MORE) == SHOWN + MORE_SHOWN
    assert escape("a\nb\tc\u2028\u200b\U000e0001") == "a\\x0ab\\x09c\\u2028\\u200b\\U000e0001"
    kept = "cluster.example.com é ü 日本 Ωmega 🎉 \\x1b"
    assert escape(kept) == kept
    assert escape(escape(EVIL + MORE)) == escape(EVIL + MORE)  # escaping twice changes nothing
    assert escape_lines(f"Replace {EVIL}?\n  - a{MORE}") == f"Replace {SHOWN}?\n  - a{MORE_SHOWN}"


# -- certificates on the sandbox ---------------------------------------------------------------------------
@pytest.fixture
def evil_files(tmp_path) -> dict:
    """A certificate whose CN, SAN and issuer hold terminal escapes, in files whose names hold them too."""
    ca = certgen.make_ca(f"Evil CA{EVIL}", key=ec_key(40))
    leaf = certgen.make_leaf(f"leaf{EVIL}{MORE}", [f"evil{EVIL}.example"], ca, key=ec_key(41))
    directory = tmp_path / "evil"
    directory.mkdir()
    cert = directory / f"proxy{EVIL}.pem"
    key = directory / f"key{EVIL}.pem"
    cert.write_text(leaf.cert_pem + ca.cert_pem)
    key.write_text(leaf.key_pem)
    from cryptography import x509

    parsed = x509.load_pem_x509_certificate(leaf.cert_pem.encode())
    return {"cert": str(cert), "key": str(key), "pem": leaf.cert_pem, "subject": parsed.subject.rfc4514_string(),
            "issuer": parsed.issuer.rfc4514_string(), "san": f"evil{EVIL}.example"}


def _set(rladmin, files: dict, *flags: str):
    return rladmin(*flags, "-y", "cluster", "certificate", "set", "proxy", "certificate_file", files["cert"],
                   "key_file", files["key"])


def test_set_message_and_warnings_escape_file_names_and_sans(rladmin, evil_files):
    r = _set(rladmin, evil_files)
    assert r.returncode == 0, r.stderr
    assert_no_raw(r.stdout, r.stderr)
    assert f"Set proxy certificate to contents of file {escape(evil_files['cert'])}" in r.stdout
    assert f"Set proxy key to contents of file {escape(evil_files['key'])}" in r.stdout
    warning = next(line for line in r.stderr.splitlines() if "do not cover the cluster name" in line)
    assert warning.startswith(f"warning: {escape(evil_files['cert'])}: the SANs (evil{SHOWN}.example)"), warning


def test_set_json_gives_the_exact_file_names(rladmin, evil_files):
    r = _set(rladmin, evil_files, "--json")
    assert r.returncode == 0, r.stderr
    assert_no_raw(r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert [f["path"] for f in out["files"]] == [evil_files["cert"], evil_files["key"]]
    assert out["certificates"][0]["sans"] == [evil_files["san"]]
    assert out["certificates"][0]["subject"] == evil_files["subject"]


def test_certificate_show_escapes_cn_san_and_issuer(rladmin, evil_files):
    assert _set(rladmin, evil_files).returncode == 0
    r = rladmin("cluster", "certificate", "show", "proxy")
    assert r.returncode == 0, r.stderr
    assert_no_raw(r.stdout, r.stderr)
    assert f"   subject:     {escape(evil_files['subject'])}" in r.stdout
    assert f"   issuer:      {escape(evil_files['issuer'])}" in r.stdout
    assert f"   SANs:        evil{SHOWN}.example" in r.stdout
    assert f"CN=leaf\\x1b]0\\;pwned\\x07\\x1b[2J{MORE_SHOWN}" in r.stdout

    j = rladmin("--json", "cluster", "certificate", "show", "proxy")
    assert_no_raw(j.stdout, j.stderr)
    (shown,) = json.loads(j.stdout)["certificates"]
    assert (shown["subject"], shown["issuer"], shown["sans"]) == (
        evil_files["subject"], evil_files["issuer"], [evil_files["san"]])


def test_dry_run_escapes_the_summary_and_keeps_the_body_json(rladmin, evil_files):
    r = _set(rladmin, evil_files, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert_no_raw(r.stdout, r.stderr)
    assert f"Would replace proxy: {escape(evil_files['subject'])}, SANs evil{SHOWN}.example" in r.stdout


def test_refusals_escape_file_names_and_certificate_fields(rladmin, evil_files, tmp_path):
    strict = _set(rladmin, evil_files, "--strict")  # a warning turned refusal
    assert strict.returncode == 1
    assert_no_raw(strict.stdout, strict.stderr)
    assert f"error: {escape(evil_files['cert'])}: the SANs (evil{SHOWN}.example) do not cover" in strict.stderr
    assert "(refused: --strict)" in strict.stderr

    missing = str(tmp_path / f"missing{EVIL}{MORE}.pem")  # a refusal before anything is read
    r = rladmin("-y", "cluster", "certificate", "set", "proxy", "certificate_file", missing)
    assert r.returncode == 1
    assert_no_raw(r.stdout, r.stderr)
    assert f"error: {tmp_path}/missing{SHOWN}{MORE_SHOWN}.pem: no such file (the certificate file)" in r.stderr


# -- a live cluster's answers ---------------------------------------------------------------------------------
class EvilCluster(HostileCluster):
    """test_rest_strict's hostile cluster, with terminal escapes in its name, a node's address, the
    certificate it holds and the error it answers a certificate update with."""

    def _put(self, sock, path: str, body: bytes) -> bool:
        if self.put_mode == "evil403":
            return self._json(sock, {"error_code": f"forbidden{EVIL}",
                                     "description": f"no{EVIL} way{MORE}\nforged: line"}, 403)
        return super()._put(sock, path, body)


@pytest.fixture
def evil_cluster(tmp_path, certfactory, evil_files):
    old = certfactory.leaf()
    directory = tmp_path / "evil-cluster"
    directory.mkdir()
    server = EvilCluster(directory, f"cluster{EVIL}.example", old.issued.cert_pem, put_mode="evil403")
    server.nodes[0]["addr"] = f"10.0.0.1{EVIL}{MORE}"
    server.certs["syncer_cert"] = evil_files["pem"]
    try:
        yield server
    finally:
        server.stop()


def test_a_live_clusters_error_body_and_name_are_escaped(evil_cluster, certfactory):
    new = certfactory.leaf()
    out = run_live(evil_cluster, "cluster", "certificate", "set", "proxy", "certificate_file", str(new.cert),
                   "key_file", str(new.key))
    assert out.code == 1, (out.stdout, out.stderr)
    assert_no_raw(out.stdout, out.stderr)
    assert f"the cluster name cluster{SHOWN}.example" in out.stderr  # the warning quotes the cluster's name
    assert out.error == f"no{SHOWN} way{MORE_SHOWN} forged: line [forbidden{SHOWN}]"


def test_a_live_clusters_values_are_escaped_and_exact_in_json(evil_cluster, evil_files):
    node = run_live(evil_cluster, "info", "node", "1")
    assert node.code == 0, node.stderr
    assert_no_raw(node.stdout, node.stderr)
    assert f"    address: 10.0.0.1{SHOWN}{MORE_SHOWN}" in node.stdout
    node_json = run_live(evil_cluster, "--json", "info", "node", "1")
    assert json.loads(node_json.stdout)["nodes"][0]["addr"] == f"10.0.0.1{EVIL}{MORE}"

    show = run_live(evil_cluster, "cluster", "certificate", "show", "syncer")
    assert show.code == 0, show.stderr
    assert_no_raw(show.stdout, show.stderr)
    assert f"   SANs:        evil{SHOWN}.example" in show.stdout
    show_json = run_live(evil_cluster, "--json", "cluster", "certificate", "show", "syncer")
    assert json.loads(show_json.stdout)["certificates"][0]["subject"] == evil_files["subject"]


# -- the --serve --debug log ----------------------------------------------------------------------------------
def _answer(reader) -> int:
    """Read one HTTP answer off ``reader``; its status."""
    status = int(reader.readline().split()[1])
    length = 0
    while True:
        line = reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    reader.read(length)
    return status


def test_serve_debug_log_escapes_request_lines(sandbox_path):
    """Three requests on one keep-alive connection: each answer comes after the log line of the one
    before it (one thread serves the connection), so the log is complete without waiting."""
    served = start_server(sandbox_path)
    try:
        auth = base64.b64encode(f"{served.user}:{served.password}".encode())
        evil = (b"PO\x1b]0;pwned\x07ST /v1/cluster%1b[2J/\x1b]0;pwned\x07\x1b[2J\xc2\x9b31m\x7f\xe2\x80\xae "
                b"HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        encoded = b"GET /v1/cluster%1b%5b2J HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic " + auth + b"\r\n\r\n"
        last = b"GET /v1/cluster HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        ctx = ssl.create_default_context(cafile=served.ca_cert)
        with socket.create_connection(("127.0.0.1", served.port), timeout=20) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                reader = sock.makefile("rb")
                statuses = []
                for request in (evil, encoded, last):
                    sock.sendall(request)
                    statuses.append(_answer(reader))
                reader.close()
        assert statuses == [401, 404, 401], statuses
    finally:
        code = served.stop()
    log = served.log()
    assert code == 0, log
    assert_no_raw(log)
    line = next(ln for ln in log.splitlines() if "PO\\x1b]0;pwned\\x07ST" in ln)
    assert f"/v1/cluster%1b[2J/{SHOWN}\u00c2\\x9b31m\\x7f\u00e2\\x80\u00ae 401" in line, line
    assert " GET /v1/cluster%1b%5b2J 404" in log  # percent-encoded: shown as it was sent
