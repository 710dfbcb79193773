"""Every refusal of issue 3 through the console script: exit 1, one line on stderr naming the file
and the problem, no traceback, and the sandbox still holds its previous certificate."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from conftest import ec_key, rsa_key
from rladmin_py.certificates import making as certgen


def generation(sandbox_path) -> int:
    with open(sandbox_path, encoding="utf-8") as fh:
        return json.load(fh)["generation"]


@pytest.fixture
def snapshot(sandbox, sandbox_path):
    """What the sandbox holds now; ``unchanged()`` asserts nothing was written since."""
    before = (sandbox.get_certificates(), generation(sandbox_path))

    class Snapshot:
        certificates = before[0]

        @staticmethod
        def unchanged():
            assert sandbox.get_certificates() == before[0]
            assert generation(sandbox_path) == before[1]

    return Snapshot


def assert_refused(r, *fragments, json_doc: bool = False):
    assert r.returncode == 1, (r.stdout, r.stderr)
    if json_doc:  # --json: the failure's one document on stdout, the same words on stderr
        import json

        doc = json.loads(r.stdout)
        assert doc["ok"] is False and all(f in doc["error"]["message"] for f in fragments), doc
    else:
        assert r.stdout == ""
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def cset(*words):
    return ("cluster", "certificate", "set", *words)


# Each case: f(factory) -> (words after "cluster certificate set", fragments the one line must hold)
def _good(f, **kw):
    kw.setdefault("key", rsa_key())
    return f.leaf(**kw)


def missing_cert(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(f.dir / "nope.pem"), "key_file", str(c.key)], [
        f"{f.dir}/nope.pem: no such file (the certificate file)"]


def missing_key(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(f.dir / "nope.key")], [
        f"{f.dir}/nope.key: no such file (the key file)"]


def cert_is_directory(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(f.dir), "key_file", str(c.key)], [f"{f.dir}: is a directory"]


def empty_cert(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(f.write("empty.pem", "")), "key_file", str(c.key)], [
        "empty.pem: the file is empty (expected a PEM certificate)"]


def empty_key(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(f.write("empty.key", "\n\n"))], [
        "empty.key: the file is empty (expected a PEM private key)"]


def unreadable_key(f):
    c = _good(f)
    # /proc/self/mem opens but cannot be read from offset 0 (EIO), even as root.
    return ["proxy", "certificate_file", str(c.cert), "key_file", "/proc/self/mem"], [
        "/proc/self/mem: cannot read the key file"]


def der_cert(f):
    c = _good(f)
    der = f.write("leaf.der", c.issued.cert.public_bytes(serialization.Encoding.DER))
    return ["proxy", "certificate_file", str(der), "key_file", str(c.key)], [
        f"{der}: the certificate is DER, not PEM; convert it with: openssl x509 -inform der -in {der} "
        f"-out {f.dir}/leaf.pem"]


def der_key(f):
    c = _good(f)
    der = f.write("leaf-key.der", rsa_key().private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(der)], [
        f"{der}: the key is DER, not PEM; convert it with: openssl pkey -inform der -in {der} "
        f"-out {f.dir}/leaf-key.pem"]


def pfx(f):
    c = _good(f)
    p = f.write("bundle.pfx", pkcs12.serialize_key_and_certificates(
        b"x", rsa_key(), c.issued.cert, [f.intermediate.cert], serialization.BestAvailableEncryption(b"pw")))
    return ["proxy", "certificate_file", str(p)], [f"{p}: a PKCS#12 (PFX) bundle, not PEM",
                                                   f"openssl pkcs12 -in {p} -nodes -out {f.dir}/bundle.pem"]


def csr_as_cert(f):
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f.fqdn)]))
           .sign(ec_key(), hashes.SHA256()))
    p = f.write("request.pem", csr.public_bytes(serialization.Encoding.PEM))
    return ["proxy", "certificate_file", str(p), "key_file", str(_good(f).key)], [
        f"{p}: holds a certificate signing request (CSR), not a certificate"]


def text_without_certificate(f):
    p = f.write("notes.pem", "-----BEGIN SOMETHING-----\nAAAA\n-----END SOMETHING-----\n")
    return ["proxy", "certificate_file", str(p), "key_file", str(_good(f).key)], [
        f"{p}: no certificate in the file (no BEGIN CERTIFICATE block)"]


def swapped(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(c.key), "key_file", str(c.cert)], [
        f"{c.key}: holds a private key but no certificate (are certificate_file and key_file swapped?)"]


def truncated(f):
    c = _good(f)
    p = f.write("cut.pem", c.cert.read_text()[:700])
    return ["proxy", "certificate_file", str(p), "key_file", str(c.key)], [
        f"{p}: truncated PEM: the CERTIFICATE block that begins on line 1 has no END line"]


def corrupt_pem(f):
    c = _good(f)
    lines = c.cert.read_text().splitlines(keepends=True)
    lines[5] = lines[5][:10] + "*" + lines[5][11:]
    p = f.write("corrupt.pem", "".join(lines))
    return ["proxy", "certificate_file", str(p), "key_file", str(c.key)], [
        f"{p}: certificate 1 of 3 (line 1) is corrupt: its body is not valid base64"]


def corrupt_der(f):
    c = _good(f)
    lines = c.cert.read_text().splitlines(keepends=True)
    lines[1] = "A" * 64 + "\n"
    p = f.write("damaged.pem", "".join(lines))
    return ["proxy", "certificate_file", str(p), "key_file", str(c.key)], [
        f"{p}: certificate 1 of 3 (line 1) is corrupt or truncated"]


def encrypted_key(f):
    c = _good(f)
    k = f.write("locked.key", certgen.key_pem(rsa_key(), b"secret"))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(k)], [
        f"{k}: the private key is password-protected",
        f"write an unencrypted copy with: openssl pkey -in {k} -out {f.dir}/locked.key-unencrypted.pem"]


def mismatched_key(f):
    c = _good(f)
    other = f.write("other.key", certgen.key_pem(rsa_key(1)))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(other)], [
        f"{other}: key_values_mismatch: the private key does not match the certificate in {c.cert}"]


def expired(f):
    c = _good(f, not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400), days=30)
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(c.key)], [
        f"{c.cert}: the certificate expired on"]


def not_yet_valid(f):
    c = _good(f, not_before=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(c.key)], [
        f"{c.cert}: the certificate is not valid until"]


def wrong_order(f):
    c = _good(f)
    p = f.write("reversed.pem", f.root.cert_pem + f.intermediate.cert_pem + c.issued.cert_pem)
    return ["proxy", "certificate_file", str(p), "key_file", str(c.key)], [
        f"{p}: chain out of order: expected the leaf first, then each certificate's issuer: "
        f"'{f.fqdn}' -> 'Test Intermediate CA' -> 'Test Root CA'"]


def incomplete_chain(f):
    c = _good(f)
    p = f.write("gap.pem", c.issued.cert_pem + f.root.cert_pem)
    return ["proxy", "certificate_file", str(p), "key_file", str(c.key)], [
        f"{p}: certificate 1 ('{f.fqdn}') is issued by 'Test Intermediate CA', but certificate 2 is 'Test Root CA'"]


def weak_rsa(f):
    c = _good(f, key=rsa.generate_private_key(65537, 1024))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(c.key)], [
        f"{c.cert}: the RSA key is 1024 bits; RS requires at least 2048"]


def ed25519_key(f):
    c = _good(f, key=ed25519.Ed25519PrivateKey.generate())
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(c.key)], [
        f"{c.cert}: Ed25519 keys are not supported by RS"]


def internode_ecdsa(f):
    c = _good(f, key=ec_key())
    return ["data_internode_encryption", "certificate_file", str(c.cert), "key_file", str(c.key)], [
        f"{c.cert}: internode-encryption certificates must have RSA keys, not ECDSA"]


def internode_without_client_auth(f):
    c = _good(f, eku=("server",))
    return ["ccs_internode_encryption", "certificate_file", str(c.cert), "key_file", str(c.key)], [
        f"{c.cert}: internode-encryption certificates need extended key usage clientAuth"]


def keyless_with_key(f):
    ca = f.write("ca.pem", f.root.cert_pem)
    return ["mtls_trusted_ca", "certificate_file", str(ca), "key_file", str(_good(f).key)], [
        "mtls_trusted_ca takes no key; leave out key_file"]


def keyless_with_key_inside(f):
    ca = f.write("ca-and-key.pem", f.root.cert_pem + f.root.key_pem)
    return ["sso_issuer", "certificate_file", str(ca)], [f"{ca}: holds a private key, but sso_issuer takes no key"]


def no_key_file_and_new_key(f):
    c = _good(f)
    return ["proxy", "certificate_file", str(c.cert)], [
        f"{c.cert}: no key_file given, and the certificate does not match the cluster's current proxy key "
        "(key_values_mismatch)"]


def no_key_file_and_no_current_key(f):
    c = _good(f)
    return ["ldap_client", "certificate_file", str(c.cert)], [
        f"{c.cert}: no key_file given, and the cluster's current ldap_client key cannot be read"]


def key_inside_and_key_file(f):
    c = _good(f)
    p = f.write("with-key.pem", c.cert.read_text() + c.key.read_text())
    other = f.write("other.key", certgen.key_pem(ec_key()))
    return ["proxy", "certificate_file", str(p), "key_file", str(other)], [
        f"{p}: the certificate file also holds a private key, and key_file {other} holds another"]


def two_keys(f):
    c = _good(f)
    k = f.write("two.key", c.key.read_text() + certgen.key_pem(ec_key()))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(k)], [
        f"{k}: 2 private keys in the file; a key file holds exactly one"]


def openssh_key(f):
    c = _good(f)
    k = f.write("id_ed25519", ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(k)], [f"{k}: an OpenSSH private key"]


def public_key_as_key(f):
    c = _good(f)
    k = f.write("pub.pem", rsa_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    return ["proxy", "certificate_file", str(c.cert), "key_file", str(k)], [
        f"{k}: holds a public key, not the private key"]


CASES = [missing_cert, missing_key, cert_is_directory, empty_cert, empty_key, unreadable_key, der_cert, der_key, pfx,
         csr_as_cert, text_without_certificate, swapped, truncated, corrupt_pem, corrupt_der, encrypted_key,
         mismatched_key, expired, not_yet_valid, wrong_order, incomplete_chain, weak_rsa, ed25519_key,
         internode_ecdsa, internode_without_client_auth, keyless_with_key, keyless_with_key_inside,
         no_key_file_and_new_key, no_key_file_and_no_current_key, key_inside_and_key_file, two_keys, openssh_key,
         public_key_as_key]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_refused(case, rladmin, certfactory, snapshot):
    words, fragments = case(certfactory)
    assert_refused(rladmin(*cset(*words)), *fragments)
    snapshot.unchanged()


@pytest.mark.parametrize("case", [mismatched_key, wrong_order, encrypted_key], ids=lambda c: c.__name__)
def test_refused_in_dry_run_and_json_too(case, rladmin, certfactory, snapshot):
    words, fragments = case(certfactory)
    assert_refused(rladmin("--dry-run", *cset(*words)), *fragments)
    assert_refused(rladmin("--json", *cset(*words)), *fragments, json_doc=True)
    snapshot.unchanged()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_by_permissions(rladmin, certfactory, snapshot):
    c = _good(certfactory)
    os.chmod(c.key, 0)
    assert_refused(rladmin(*cset("proxy", "certificate_file", str(c.cert), "key_file", str(c.key))),
                   f"{c.key}: permission denied: cannot read the key file")
    snapshot.unchanged()


# -- the internal form: both pairs are checked before anything is sent ----------------------------
def _internal(dpine, cpine):
    return cset("internal", "dpine_certificate_file", str(dpine.cert), "dpine_key_file", str(dpine.key),
                "cpine_certificate_file", str(cpine.cert), "cpine_key_file", str(cpine.key))


@pytest.mark.parametrize("bad", ["dpine", "cpine"])
def test_internal_one_pair_refused_changes_nothing(bad, rladmin, certfactory, snapshot):
    good = _good(certfactory)
    broken = _good(certfactory, key=ec_key())  # ECDSA: refused for internode encryption
    pairs = (broken, good) if bad == "dpine" else (good, broken)
    r = rladmin(*_internal(*pairs))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == (f"error: {broken.cert}: internode-encryption certificates must have RSA "
                                         "keys, not ECDSA")
    snapshot.unchanged()


def test_internal_both_pairs(rladmin, certfactory, sandbox):
    d, c = _good(certfactory), _good(certfactory, key=rsa_key(1))
    r = rladmin(*_internal(d, c))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"Set data_internode_encryption certificate to contents of file {d.cert}",
        f"Set data_internode_encryption key to contents of file {d.key}",
        f"Set ccs_internode_encryption certificate to contents of file {c.cert}",
        f"Set ccs_internode_encryption key to contents of file {c.key}",
        "Updated on every node (node:1, node:2, node:3)",
    ]
    held = sandbox.get_certificates()
    assert held["data_internode_encryption_cert"].startswith(d.issued.cert_pem)
    assert held["ccs_internode_encryption_cert"].startswith(c.issued.cert_pem)
    assert held["ccs_internode_encryption_key"] == c.issued.key_pem
