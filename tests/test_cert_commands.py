"""cluster certificate set / show through the console script: output, --dry-run, --json, what is
stored, confirmations, and no private key material in any output."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from conftest import ec_key, rsa_key
from rladmin_py import commands, context
from rladmin_py.certificates import making as certgen
from rladmin_py.backends.sandbox import SandboxBackend

REQUIRED = {"name", "subject", "issuer", "sans", "not_after", "days_left", "key_type", "sha256"}


def cset(*words):
    return ("cluster", "certificate", "set", *words)


def generation(sandbox_path) -> int:
    with open(sandbox_path, encoding="utf-8") as fh:
        return json.load(fh)["generation"]


def test_set_output_and_what_is_stored(rladmin, certfactory, sandbox):
    c = certfactory.leaf(key=rsa_key())
    r = rladmin(*cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key)))
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == (f"Set proxy certificate to contents of file {c.cert}\n"
                        f"Set proxy key to contents of file {c.key}\n"
                        "Updated on every node (node:1, node:2, node:3)\n")
    held = sandbox.get_certificates()
    assert held["proxy_cert"] == c.issued.cert_pem + certfactory.intermediate.cert_pem + certfactory.root.cert_pem
    assert held["proxy_key"] == c.issued.key_pem
    assert sandbox.get_cluster()["proxy_certificate"] == held["proxy_cert"]


def test_set_json(rladmin, certfactory):
    c = certfactory.leaf(key=ec_key())
    r = rladmin("--json", *cset("api", "certificate_file", str(c.cert), "key_file", str(c.key)))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "ok" and [n["uid"] for n in doc["nodes"]] == [1, 2, 3]
    assert doc["certificates"][0]["sha256"] == c.issued.cert.fingerprint(hashes.SHA256()).hex()


def test_normalised_before_sending(rladmin, certfactory, sandbox):
    """PFX leftovers and CRLF are dropped; only the PEM blocks, with LF, reach the cluster."""
    c = certfactory.leaf(key=rsa_key())
    messy = ("Bag Attributes\n    friendlyName: site\nsubject=CN = x\nissuer=CN = y\n" + c.cert.read_text()
             ).replace("\n", "\r\n")
    cert = certfactory.write("messy.pem", messy)
    key = certfactory.write("messy.key", ("Key Attributes: <No Attributes>\n" + c.key.read_text()).replace("\n", "\r\n"))
    r = rladmin(*cset("proxy", "certificate_file", str(cert), "key_file", str(key)))
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        f"note: {cert}: dropped the text outside the BEGIN/END blocks (Bag Attributes lines from a PFX conversion)",
        f"note: {key}: dropped the text outside the BEGIN/END blocks (Bag Attributes lines from a PFX conversion)",
    ]
    held = sandbox.get_certificates()
    assert "\r" not in held["proxy_cert"] + held["proxy_key"]
    assert held["proxy_cert"].startswith("-----BEGIN CERTIFICATE-----\n") and "Bag" not in held["proxy_cert"]
    assert held["proxy_key"] == c.issued.key_pem


def test_key_inside_the_certificate_file(rladmin, certfactory, sandbox):
    c = certfactory.leaf(key=rsa_key())
    both = certfactory.write("both.pem", c.key.read_text() + c.cert.read_text())
    r = rladmin(*cset("proxy", "certificate_file", str(both)))
    assert r.returncode == 0, r.stderr
    assert f"note: {both}: no key_file given: using the private key found in the certificate file" in r.stderr
    assert f"Set proxy key to contents of file {both}\n" in r.stdout
    held = sandbox.get_certificates()
    assert held["proxy_key"] == c.issued.key_pem and "PRIVATE" not in held["proxy_cert"]


def test_certificate_only_update_keeps_the_current_key(rladmin, certfactory, sandbox):
    current_pem = sandbox.get_certificates()["cm_key"]
    current = serialization.load_pem_private_key(current_pem.encode(), None)
    c = certfactory.leaf(key=current)
    r = rladmin(*cset("cm", "certificate_file", str(c.cert)))
    assert r.returncode == 0, r.stderr
    assert r.stderr == (f"note: {c.cert}: no key_file given: the certificate matches the cluster's current cm key, "
                        "which is kept\n")
    assert r.stdout.splitlines()[0] == f"Set cm certificate to contents of file {c.cert}"
    assert "key to contents" not in r.stdout
    held = sandbox.get_certificates()
    assert held["cm_key"] == current_pem and held["cm_cert"].startswith(c.issued.cert_pem)


def test_keyless_certificate(rladmin, certfactory, sandbox):
    ca = certfactory.write("ca.pem", certfactory.root.cert_pem)
    r = rladmin(*cset("mtls_trusted_ca", "certificate_file", str(ca)))
    assert r.returncode == 0, r.stderr
    held = sandbox.get_certificates()
    assert held["mtls_trusted_ca_cert"] == certfactory.root.cert_pem and "mtls_trusted_ca_key" not in held


# -- --dry-run ----------------------------------------------------------------------------------
def test_dry_run_changes_nothing(rladmin, certfactory, sandbox, sandbox_path):
    c = certfactory.leaf(key=rsa_key())
    before, gen = sandbox.get_certificates(), generation(sandbox_path)
    r = rladmin("--dry-run", *cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key)))
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    fingerprint = c.issued.cert.fingerprint(hashes.SHA256()).hex()
    assert lines[0].startswith("Would replace proxy: O=RedisLabs Enterprise Cluster,CN=cluster.sandbox.local, SANs "
                               "cluster.sandbox.local, *.cluster.sandbox.local")
    assert lines[0].endswith(f"RSA 2048, SHA-256 {fingerprint}")
    assert lines[1] == "Dry run, nothing changed. Would send: PUT /v1/cluster/certificates"
    body = json.loads("\n".join(lines[2:]))
    sent = body["certificates"][0]
    assert sent == {"name": "proxy", "certificate": c.cert.read_text(), "key": "<redacted>"}
    assert sandbox.get_certificates() == before and generation(sandbox_path) == gen


def test_dry_run_json(rladmin, certfactory, sandbox_path):
    c = certfactory.leaf(key=ec_key())
    gen = generation(sandbox_path)
    r = rladmin("--dry-run", "--json", *cset("syncer", "certificate_file", str(c.cert), "key_file", str(c.key)))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["method"], doc["path"]) == ("PUT", "/v1/cluster/certificates")
    assert doc["body"]["certificates"][0]["key"] == "<redacted>"
    assert doc["certificates"][0]["name"] == "syncer" and doc["certificates"][0]["key_type"] == "ECDSA"
    assert generation(sandbox_path) == gen


def test_dry_run_still_prints_warnings(rladmin, certfactory, sandbox_path):
    c = certfactory.leaf(key=ec_key(), sans=["cluster.sandbox.local"])
    gen = generation(sandbox_path)
    r = rladmin("--dry-run", *cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key)))
    assert r.returncode == 0 and "warning:" in r.stderr and "*.cluster.sandbox.local" in r.stderr
    assert generation(sandbox_path) == gen


# -- show ---------------------------------------------------------------------------------------
def test_show_text(rladmin, sandbox):
    r = rladmin("cluster", "certificate", "show", "proxy")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0] == "proxy:"
    assert lines[1] == "   subject:     O=RedisLabs Enterprise Cluster,OU=proxy,CN=cluster.sandbox.local"
    assert lines[2] == "   issuer:      O=RedisLabs Enterprise Cluster,OU=proxy,CN=cluster.sandbox.local"  # self-signed
    assert lines[3] == "   SANs:        cluster.sandbox.local, *.cluster.sandbox.local, localhost, 127.0.0.1"
    assert re.fullmatch(r"   not after:   \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(36[45] days left\)", lines[4])
    assert lines[5] == "   key:         RSA 2048 bits"
    assert re.fullmatch(r"   SHA-256:     [0-9a-f]{64}", lines[6])
    assert lines[7] == ("   note:        localhost and 127.0.0.1: added by the sandbox so that clients on this machine "
                        "can verify it (RS names only the cluster)")
    syncer = rladmin("cluster", "certificate", "show", "syncer").stdout  # not served: no loopback names, no note
    assert "localhost" not in syncer and "note:" not in syncer
    everything = rladmin("cluster", "certificate", "show")
    names = [ln[:-1] for ln in everything.stdout.splitlines() if not ln.startswith(" ")]
    assert names == sorted(names) and {"api", "cm", "proxy", "syncer", "data_internode_encryption"} <= set(names)


@pytest.mark.parametrize("flag_first", [True, False])
def test_show_json(flag_first, rladmin, sandbox):
    words = ("--json", "cluster", "certificate", "show") if flag_first else ("cluster", "certificate", "show", "--json")
    r = rladmin(*words)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert list(doc) == ["certificates"]  # an object, so that warnings can join it
    items = doc["certificates"]
    assert isinstance(items, list) and len(items) == 7
    pem = sandbox.get_certificates()
    for item in items:
        assert REQUIRED <= set(item)
        assert re.fullmatch(r"[0-9a-f]{64}", item["sha256"])
        assert dt.datetime.fromisoformat(item["not_after"]).tzinfo is not None
        assert item["not_after"].endswith("Z") and isinstance(item["days_left"], int)
        assert item["key_type"] == "RSA" and isinstance(item["sans"], list)
        from cryptography import x509

        leaf = x509.load_pem_x509_certificate(pem[item["name"] + "_cert"].encode())
        assert item["sha256"] == leaf.fingerprint(hashes.SHA256()).hex()


def test_show_after_set_and_one_name(rladmin, certfactory):
    c = certfactory.leaf(key=ec_key())
    assert rladmin(*cset("syncer", "certificate_file", str(c.cert), "key_file", str(c.key))).returncode == 0
    r = rladmin("cluster", "certificate", "show", "syncer", "--json")
    [item] = json.loads(r.stdout)["certificates"]
    assert item["name"] == "syncer" and item["key_type"] == "ECDSA" and item["key_size"] == 256
    assert item["issuer"] == "O=rladmin-py tests,CN=Test Intermediate CA"
    assert item["sha256"] == c.issued.cert.fingerprint(hashes.SHA256()).hex()


def test_show_a_certificate_the_cluster_does_not_hold(rladmin):
    r = rladmin("cluster", "certificate", "show", "ldap_client")
    assert r.returncode == 1 and r.stderr == "error: the cluster holds no ldap_client certificate\n"


def test_show_help_says_it_is_an_addition(rladmin):
    r = rladmin("help", "cluster", "certificate", "show")
    assert "rladmin-py addition" in r.stdout


# -- confirmation -------------------------------------------------------------------------------
@pytest.fixture
def ctx_factory(sandbox_path):
    made = []

    def make(confirm=None, yes=False):
        asked = []

        def answer(question):
            asked.append(question)
            return confirm

        ctx = context.Context(open_backend=lambda: SandboxBackend(str(sandbox_path)),
                               options=context.Options(yes=yes), confirm=None if confirm is None else answer)
        made.append(ctx)
        return ctx, asked

    yield make
    for ctx in made:
        ctx.close()


def test_interactive_confirmation(ctx_factory, certfactory, sandbox, sandbox_path):
    c = certfactory.leaf(key=ec_key())
    args = {"certificate_name": "proxy", "certificate_file": str(c.cert), "key_file": str(c.key)}
    gen = generation(sandbox_path)
    ctx, asked = ctx_factory(confirm=False)
    with pytest.raises(commands.CommandFailed, match="cancelled: nothing was changed"):
        commands.certificate_set(ctx, args)
    # the cluster by its name and where it is (not the state file's path)
    assert asked == ["Replace the proxy certificate on every node of the cluster cluster.sandbox.local (the local sandbox)?"]
    assert generation(sandbox_path) == gen
    ctx, asked = ctx_factory(confirm=False, yes=True)  # -y: no question
    commands.certificate_set(ctx, args)
    assert asked == [] and sandbox.get_certificates()["proxy_cert"].startswith(c.issued.cert_pem)
    ctx, asked = ctx_factory(confirm=True)
    assert commands.certificate_set(ctx, args).kind == "certificate_set" and len(asked) == 1


def test_scripts_never_prompt(rladmin, certfactory, sandbox):
    c = certfactory.leaf(key=ec_key())
    r = rladmin(input=f"cluster certificate set proxy certificate_file {c.cert} key_file {c.key}\n")
    assert r.returncode == 0, r.stderr
    assert "?" not in r.stdout + r.stderr
    assert sandbox.get_certificates()["proxy_cert"].startswith(c.issued.cert_pem)


# -- no private key material in any output -------------------------------------------------------
def _key_fragments(pem_texts):
    """Chunks of every key's base64 body (wrapped or not), and the PEM markers of private keys."""
    fragments = set()
    for text in pem_texts:
        for body in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.*?)-----END", text, re.S):
            flat = "".join(line for line in body.split() if ":" not in line)
            fragments |= {flat[i : i + 24] for i in range(0, len(flat) - 24, 12)}
            der = base64.b64decode(flat)
            fragments.add(der[-40:].hex())  # hex of the key bytes, just in case
    return fragments


def test_no_private_key_material_in_any_output(rladmin, certfactory, sandbox, tmp_path):
    c = certfactory.leaf(key=rsa_key())
    ec = certfactory.leaf(key=ec_key())
    both = certfactory.write("both.pem", c.cert.read_text() + c.key.read_text())
    locked = certfactory.write("locked.key", certgen.key_pem(rsa_key(), b"pw"))
    half = certfactory.write("half.key", c.key.read_text()[:900])
    spliced = certfactory.write("spliced.key", c.key.read_text()[:900] + c.key.read_text())
    wrong = certfactory.write("wrong.key", ec.key.read_text())
    keys_before = [v for k, v in sandbox.get_certificates().items() if k.endswith("_key")]
    runs = [
        cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key)),
        ("--json",) + cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key)),
        ("--dry-run",) + cset("proxy", "certificate_file", str(both)),
        ("--dry-run", "--json") + cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key)),
        cset("proxy", "certificate_file", str(c.cert), "key_file", str(wrong)),
        cset("proxy", "certificate_file", str(c.cert), "key_file", str(locked)),
        cset("proxy", "certificate_file", str(c.cert), "key_file", str(half)),
        cset("proxy", "certificate_file", str(c.cert), "key_file", str(spliced)),
        cset("proxy", "certificate_file", str(c.key), "key_file", str(c.cert)),
        cset("proxy", "certificate_file", str(both), "key_file", str(wrong)),
        cset("mtls_trusted_ca", "certificate_file", str(both)),
        cset("internal", "dpine_certificate_file", str(c.cert), "dpine_key_file", str(c.key),
             "cpine_certificate_file", str(ec.cert), "cpine_key_file", str(ec.key)),
        ("--debug",) + cset("proxy", "certificate_file", str(c.cert), "key_file", str(wrong)),
        ("cluster", "certificate", "show"),
        ("--json", "cluster", "certificate", "show"),
        ("sandbox", "make-certs", str(tmp_path / "practice")),
    ]
    outputs = []
    for words in runs:
        r = rladmin(*words)
        assert "Traceback" not in r.stderr, words
        outputs.append(r.stdout + r.stderr)
    practice_keys = [p.read_text() for p in (tmp_path / "practice").glob("*key*.pem")]
    secrets = [c.key.read_text(), ec.key.read_text(), locked.read_text(), *keys_before, *practice_keys,
               *[v for k, v in sandbox.get_certificates().items() if k.endswith("_key")]]
    # A private key also holds its public key, which certificates (printed by --dry-run) carry too:
    # drop the windows that occur in public material, keep the ones of the private numbers.
    public = "".join(sandbox.get_certificates()[k] for k in sandbox.get_certificates() if k.endswith("_cert"))
    public += "".join(p.read_text() for p in [*certfactory.dir.glob("*.pem"), *(tmp_path / "practice").glob("*.pem")]
                      if "PRIVATE" not in p.read_text())
    public = "".join(public.split())
    fragments = {f for f in _key_fragments(secrets) if f not in public}
    assert len(fragments) > 500
    assert sum(f in c.key.read_text() for f in fragments) > 50  # the scan would see a key printed as PEM
    for words, out in zip(runs, outputs):
        assert not re.search(r"-----(BEGIN|END) [A-Z ]*PRIVATE KEY-----", out), words
        leaked = [f for f in fragments if f in out]
        assert not leaked, (words, leaked[:3])
