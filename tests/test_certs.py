"""rladmin_py.certificates in-process: loading, normalising, checking (the console-script tests are in test_cert_*.py)."""
from __future__ import annotations

import datetime as dt
import functools
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from conftest import ec_key, rsa_key
from rladmin_py.certificates import checks as certs, making as certgen, pem
from rladmin_py.certificates.pem import CertificateProblem

FQDN = "cluster.sandbox.local"


@functools.lru_cache(maxsize=None)
def cas():
    root = certgen.make_ca("Unit Root CA", key=rsa_key(10))
    return root, certgen.make_ca("Unit Intermediate CA", issuer=root, key=rsa_key(11))


@functools.lru_cache(maxsize=None)
def good():
    """A leaf for the FQDN (RSA, issued by the intermediate) and its full chain text."""
    root, inter = cas()
    leaf = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=rsa_key())
    return leaf, leaf.cert_pem + inter.cert_pem + root.cert_pem


def prepare(cert_text, key_text=None, name="proxy", **kw):
    kw.setdefault("fqdn", FQDN)
    return certs.prepare(name, cert_text, key_text, cert_source="cert.pem",
                         key_source="key.pem" if key_text is not None else None, **kw)


def refused(fragment, *args, **kw) -> CertificateProblem:
    with pytest.raises(CertificateProblem) as info:
        prepare(*args, **kw)
    assert fragment in info.value.message
    assert "\n" not in info.value.message
    return info.value


# -- PEM text -----------------------------------------------------------------------------------
def test_good_bundle_is_normalised():
    leaf, chain = good()
    crlf = "Bag Attributes\r\n    friendlyName: x\r\nsubject=CN = x\r\n" + chain.replace("\n", "\r\n")
    key = "# a comment\r\n" + leaf.key_pem.replace("\n", "\r\n")
    b = prepare(crlf, key)
    assert b.warnings == []
    assert "\r" not in b.certificate_pem and "Bag" not in b.certificate_pem and "PRIVATE" not in b.certificate_pem
    root, inter = cas()
    assert b.certificate_pem == leaf.cert_pem + inter.cert_pem + root.cert_pem  # file order, canonical PEM
    assert b.key_pem == leaf.key_pem
    assert any("Bag Attributes" in n for n in b.notes) and any(n.startswith("key.pem: dropped") for n in b.notes)
    assert "<redacted>" in repr(b) and "PRIVATE" not in repr(b)


@pytest.mark.parametrize("mangle", [
    lambda t: t.replace("\n", "\n    "),  # indented (YAML)
    lambda t: t.replace("\n", " ").replace("----- ", "-----\n"),  # base64 lines joined by spaces
    lambda t: t.replace("\n", "\\n"),  # JSON-escaped, as for the REST route
    lambda t: "\ufeff" + t,
])
def test_pem_variants_accepted(mangle):
    leaf, chain = good()
    b = prepare(mangle(chain), leaf.key_pem)
    assert b.certificate_pem.count("BEGIN CERTIFICATE") == 3


def test_json_escaped_pem_is_noted():
    leaf, chain = good()
    b = prepare(chain.replace("\n", "\\n"), leaf.key_pem)
    assert any("JSON-escaped" in n for n in b.notes)


@pytest.mark.parametrize("text, fragment", [
    ("-----BEGIN CERTIFICATE-----\nMIIB\n", "truncated PEM: the CERTIFICATE block that begins on line 1 has no END"),
    ("-----BEGIN CERTIFICATE-----\nMIIB\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
     "another block begins on line 3"),
    ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n", "ends with END PRIVATE KEY"),
    ("x\n-----END CERTIFICATE-----\n", "an END CERTIFICATE line (line 2) without its BEGIN line"),
    ("-----BEGIN certificate-----\nMIIB\n-----END certificate-----\n", "malformed BEGIN or END line"),
])
def test_broken_pem_text(text, fragment):
    refused(fragment, text)


def test_corrupt_certificates():
    leaf, chain = good()
    lines = chain.splitlines(keepends=True)
    refused("certificate 1 of 3 (line 1) is corrupt: its body is not valid base64",
            "".join(lines[:3]) + "!!!!\n" + "".join(lines[3:]))
    damaged = chain.replace(chain.splitlines()[1], "A" * 64, 1)
    refused("certificate 1 of 3 (line 1) is corrupt or truncated", damaged)
    refused("the certificate (line 1) is corrupt or truncated",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_unreadable_public_key_blames_the_certificate():
    """A certificate whose key algorithm is unknown (found by the console-script fuzz test): the
    refusal names the certificate file, not the key file as a key_values_mismatch."""
    leaf, _ = good()
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    rsa_oid = bytes.fromhex("06092a864886f70d010101")
    assert der.count(rsa_oid) == 1
    broken = der.replace(rsa_oid, rsa_oid[:-1] + b"\x63")
    text = pem_block("CERTIFICATE", broken)
    problem = refused("cert.pem: the certificate's public key cannot be read", text, leaf.key_pem)
    assert "key.pem" not in problem.message


def pem_block(label: str, der: bytes) -> str:
    import base64
    import textwrap

    return f"-----BEGIN {label}-----\n" + "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64)) + \
        f"\n-----END {label}-----\n"


@pytest.mark.parametrize("text, fragment", [
    ("hello\n", "no certificate in the file"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "holds a public key"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "signing request (CSR)"),
])
def test_no_certificate(text, fragment):
    refused(fragment, text, good()[0].key_pem)


def test_key_file_is_a_certificate():
    leaf, chain = good()
    refused("holds a certificate, not a private key (are certificate_file and key_file swapped?)", chain, chain)
    refused("holds a private key but no certificate", leaf.key_pem, chain)


def test_trusted_certificate_label_is_sent_as_certificate():
    leaf, chain = good()
    trusted = chain.replace("CERTIFICATE-----", "TRUSTED CERTIFICATE-----", 2)
    b = prepare(trusted, leaf.key_pem)
    assert "TRUSTED" not in b.certificate_pem and b.certificate_pem.count("BEGIN CERTIFICATE") == 3


def test_other_blocks_are_noted_and_not_sent():
    leaf, chain = good()
    b = prepare("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n" + chain, leaf.key_pem)
    # (not `"CRL" not in`: the certificates' own base64 holds those three letters now and then)
    assert "X509 CRL" not in b.certificate_pem and b.certificate_pem.count("-----BEGIN CERTIFICATE-----") == 3
    assert "AAAA" not in b.certificate_pem.splitlines() and any("X509 CRL" in n for n in b.notes)


# -- keys ---------------------------------------------------------------------------------------
def _fmt(key, fmt, password=None):
    return certgen.key_pem(key, password, fmt)


def test_key_formats_accepted():
    root, inter = cas()
    leaf, chain = good()
    assert prepare(chain, _fmt(rsa_key(), "traditional")).key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    ecleaf = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=ec_key())
    sec1 = _fmt(ec_key(), "traditional")
    b = prepare(ecleaf.cert_pem + inter.cert_pem, "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                "-----END EC PARAMETERS-----\n" + sec1)
    assert b.key_pem == sec1 and b.warnings == []


def test_encrypted_keys_refused_with_the_openssl_command():
    leaf, chain = good()
    err = refused("password-protected", chain, _fmt(rsa_key(), "pkcs8", b"secret"))
    assert err.error_code == "encrypted_key"
    assert "openssl pkey -in key.pem -out key-unencrypted.pem" in err.message
    legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n" \
             "-----END RSA PRIVATE KEY-----\n"
    refused("password-protected", chain, legacy)


@pytest.mark.parametrize("key_text, fragment", [
    ("", "no private key in the file"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "an OpenSSH private key"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "holds a public key, not the private key"),
    ("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", "only EC PARAMETERS"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "corrupt or truncated"),
    ("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n", "not valid base64"),
])
def test_bad_keys(key_text, fragment):
    refused(fragment, good()[1], key_text)


def test_two_keys_refused():
    refused("2 private keys in the file", good()[1], good()[0].key_pem + _fmt(ec_key(), "pkcs8"))


def test_inconsistent_rsa_key_refused():
    nums = rsa_key().private_numbers()
    bad = rsa.RSAPrivateNumbers(nums.p, nums.q, nums.d + 2, nums.dmp1, nums.dmq1, nums.iqmp, nums.public_numbers)
    text = bad.private_key(unsafe_skip_rsa_key_validation=True).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    refused("RSA numbers are inconsistent", good()[1], text)


def test_key_values_mismatch_names_both_files():
    err = refused("key.pem: key_values_mismatch: the private key does not match the certificate in cert.pem",
                  good()[1], _fmt(ec_key(), "pkcs8"))
    assert err.error_code == "key_values_mismatch" and "the key is ECDSA 256, the certificate's is RSA 2048" in err.message


# -- where the key comes from -----------------------------------------------------------------
def test_key_inside_certificate_file():
    leaf, chain = good()
    b = prepare(chain + leaf.key_pem)
    assert b.key_pem == leaf.key_pem and "PRIVATE" not in b.certificate_pem
    assert any("using the private key found in the certificate file" in n for n in b.notes)
    b = prepare(leaf.key_pem + chain, leaf.key_pem)  # the same key given as key_file too: no ambiguity
    assert b.key_pem == leaf.key_pem
    err = refused("also holds a private key, and key_file key.pem holds another", chain + leaf.key_pem,
                  _fmt(ec_key(), "pkcs8"))
    assert err.error_code == "key_in_certificate"


def test_keyless_names():
    root, inter = cas()
    b = prepare(root.cert_pem + inter.cert_pem, name="mtls_trusted_ca")  # a CA bundle: any order, no key
    assert b.key_pem is None and b.warnings == []
    refused("mtls_trusted_ca takes no key; leave out key_file", root.cert_pem, root.key_pem, name="mtls_trusted_ca")
    refused("holds a private key, but sso_issuer takes no key", root.cert_pem + root.key_pem, name="sso_issuer")


def test_certificate_only_update_checks_the_current_key():
    leaf, chain = good()
    b = prepare(chain, current_key_pem=leaf.key_pem)
    assert b.key_pem is None and any("matches the cluster's current proxy key, which is kept" in n for n in b.notes)
    err = refused("does not match the cluster's current proxy key (key_values_mismatch)", chain,
                  current_key_pem=_fmt(ec_key(), "pkcs8"))
    assert err.error_code == "key_values_mismatch"
    for current in (None, "", "garbage", _fmt(rsa_key(), "pkcs8", b"cluster-encrypted")):
        assert refused("the cluster's current proxy key cannot be read", chain,
                       current_key_pem=current).error_code == "missing_key"


# -- the checks ---------------------------------------------------------------------------------
def test_validity_window_with_a_fixed_clock():
    leaf, chain = good()
    after, before = leaf.cert.not_valid_after_utc, leaf.cert.not_valid_before_utc
    err = refused("the certificate expired on", chain, leaf.key_pem, now=after + dt.timedelta(days=3))
    assert err.status == 406 and "(3 days ago)" in err.message
    refused("the certificate is not valid until", chain, leaf.key_pem, now=before - dt.timedelta(hours=1))
    b = prepare(chain, leaf.key_pem, now=after - dt.timedelta(days=10, hours=1))
    assert b.warnings == [f"cert.pem: the certificate expires in 10 days ({after:%Y-%m-%d})"]


def test_chain_order_messages():
    root, inter = cas()
    leaf, _ = good()
    err = refused("chain out of order: expected the leaf first, then each certificate's issuer: "
                  "'cluster.sandbox.local' -> 'Unit Intermediate CA' -> 'Unit Root CA'",
                  root.cert_pem + leaf.cert_pem + inter.cert_pem, leaf.key_pem)
    assert err.error_code == "CERTIFICATE_VERIFY_FAILED"
    refused("chain out of order", inter.cert_pem + leaf.cert_pem, leaf.key_pem)  # the key tells which is the leaf
    refused("certificate 1 ('cluster.sandbox.local') is issued by 'Unit Intermediate CA', but certificate 2 is "
            "'Unit Root CA': the chain is incomplete", leaf.cert_pem + root.cert_pem, leaf.key_pem)
    refused("certificate 4 ('Unit Intermediate CA') repeats certificate 2; remove the duplicate",
            leaf.cert_pem + inter.cert_pem + root.cert_pem + inter.cert_pem + root.cert_pem, leaf.key_pem)
    impostor = certgen.make_ca("Unit Intermediate CA", issuer=root, key=ec_key(5))
    refused("has the name of the issuer of certificate 1 but did not sign it", leaf.cert_pem + impostor.cert_pem,
            leaf.key_pem)


def test_key_type_refusals():
    root, inter = cas()
    weak = rsa.generate_private_key(65537, 1024)
    w = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=weak)
    assert refused("the RSA key is 1024 bits; RS requires at least 2048", w.cert_pem, w.key_pem).error_code == "weak_key"
    edk = ed25519.Ed25519PrivateKey.generate()
    e = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=edk)
    refused("Ed25519 keys are not supported by RS", e.cert_pem, e.key_pem)
    ecl = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=ec_key())
    refused("internode-encryption certificates must have RSA keys, not ECDSA", ecl.cert_pem, ecl.key_pem,
            name="data_internode_encryption")
    server_only = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=rsa_key(), eku=("server",))
    refused("need extended key usage clientAuth (the certificate has only serverAuth)", server_only.cert_pem,
            server_only.key_pem, name="ccs_internode_encryption")


def test_warnings():
    root, inter = cas()
    k = ec_key()

    def warnings(name="proxy", **kw):
        issued = certgen.make_leaf(FQDN, kw.pop("sans", certgen.cluster_sans(FQDN)), kw.pop("issuer", inter), key=k,
                                   **kw)
        return prepare(issued.cert_pem + (inter.cert_pem if issued.cert.issuer != issued.cert.subject else ""),
                       certgen.key_pem(k), name=name).warnings

    assert warnings() == []
    assert warnings(eku=("server",)) == ["cert.pem: extended key usage lacks clientAuth (RS expects both)"]
    assert warnings(eku=("client",)) == ["cert.pem: extended key usage lacks serverAuth (RS expects both)"]
    assert warnings(eku=()) == []  # no EKU extension: any use is allowed
    w = warnings(sans=["other.example.com"], name="api")
    assert w == ["cert.pem: the SANs (other.example.com) do not cover the cluster name cluster.sandbox.local"]
    assert warnings(sans=[FQDN], name="api") == []
    assert warnings(sans=[FQDN]) == ["cert.pem: the SANs lack *.cluster.sandbox.local, which database endpoints need"]
    assert warnings(issuer=None) == [
        "cert.pem: the certificate is self-signed; every client must be given it to trust it"]


def test_expired_intermediate_is_a_warning():
    root, _ = cas()
    now = dt.datetime.now(dt.timezone.utc)
    old = certgen.make_ca("Old Intermediate", issuer=root, key=ec_key(3), not_before=now - dt.timedelta(days=20),
                          days=10)
    leaf = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), old, key=ec_key())
    b = prepare(leaf.cert_pem + old.cert_pem + root.cert_pem, leaf.key_pem)
    assert b.warnings == ["cert.pem: certificate 2 ('Old Intermediate') in the chain is expired; clients that "
                          "build the chain from it may refuse it"]


# -- reading files ------------------------------------------------------------------------------
def test_read_file_problems(tmp_path, monkeypatch):
    def problem(path, role="certificate"):
        with pytest.raises(CertificateProblem) as info:
            pem.read_file(str(path), role)
        return info.value.message

    assert problem(tmp_path / "nope.pem") == f"{tmp_path}/nope.pem: no such file (the certificate file)"
    assert problem(tmp_path, "private key") == f"{tmp_path}: is a directory, not a key file"
    (tmp_path / "empty.pem").write_text("  \n")
    assert "the file is empty" in problem(tmp_path / "empty.pem")
    (tmp_path / "big.pem").write_bytes(b"x" * (pem.MAX_FILE_BYTES + 1))
    assert "larger than 1 MiB" in problem(tmp_path / "big.pem")
    (tmp_path / "text.pem").write_text("hello\n")
    assert "no PEM block (-----BEGIN ...-----) found" in problem(tmp_path / "text.pem")
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAA me@host\n")
    assert "an OpenSSH key" in problem(tmp_path / "id.pub")
    (tmp_path / "junk.bin").write_bytes(b"\x30\x03\x01\x01\xff")
    assert "binary (DER) data that is neither" in problem(tmp_path / "junk.bin")

    def no_permission(*a, **k):
        raise PermissionError(13, "Permission denied")

    (tmp_path / "locked.pem").write_text("x")
    monkeypatch.setattr(pem, "read_regular", no_permission)
    assert problem(tmp_path / "locked.pem", "private key") == \
        f"{tmp_path}/locked.pem: permission denied: cannot read the key file"


def test_read_file_der_and_pfx(tmp_path):
    leaf, chain = good()
    der = tmp_path / "leaf.der"
    der.write_bytes(leaf.cert.public_bytes(serialization.Encoding.DER))
    with pytest.raises(CertificateProblem) as info:
        pem.read_file(str(der), "certificate")
    assert info.value.message == (f"{der}: the certificate is DER, not PEM; convert it with: "
                                  f"openssl x509 -inform der -in {der} -out {tmp_path}/leaf.pem")
    with pytest.raises(CertificateProblem, match="a DER certificate, not a private key"):
        pem.read_file(str(der), "private key")
    dkey = tmp_path / "server.key"
    dkey.write_bytes(rsa_key().private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    with pytest.raises(CertificateProblem) as info:
        pem.read_file(str(dkey), "private key")
    assert f"openssl pkey -inform der -in {dkey} -out {tmp_path}/server.key.pem" in info.value.message
    with pytest.raises(CertificateProblem, match="a DER private key, not a certificate"):
        pem.read_file(str(dkey), "certificate")
    pfx = tmp_path / "site.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(b"x", rsa_key(), leaf.cert, None,
                                                          serialization.BestAvailableEncryption(b"pw")))
    (tmp_path / "site.pem").write_text("exists already")
    with pytest.raises(CertificateProblem) as info:
        pem.read_file(str(pfx), "certificate")
    assert info.value.error_code == "pkcs12_not_pem"
    assert f"openssl pkcs12 -in {pfx} -nodes -out {tmp_path}/site-converted.pem" in info.value.message


def test_read_file_utf16(tmp_path):
    leaf, chain = good()
    p = tmp_path / "utf16.pem"
    p.write_bytes(chain.encode("utf-16"))
    assert prepare(pem.read_file(str(p), "certificate"), leaf.key_pem).certificate_pem.count("BEGIN") == 3


def test_messages_are_one_line_even_with_odd_names():
    with pytest.raises(CertificateProblem) as info:
        certs.prepare("proxy", "x", None, cert_source="evil\nname.pem")
    assert "\n" not in info.value.message


# -- show ---------------------------------------------------------------------------------------
def test_summary_and_summaries():
    leaf, chain = good()
    s = certs.summary("proxy", leaf.cert)
    assert re.fullmatch(r"[0-9a-f]{64}", s["sha256"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["not_after"])
    assert dt.datetime.fromisoformat(s["not_after"]) == leaf.cert.not_valid_after_utc
    assert (s["key_type"], s["key_size"], s["sans"]) == ("RSA", 2048, certgen.cluster_sans(FQDN))
    assert s["days_left"] in (364, 365) and s["subject"].endswith(f"CN={FQDN}")
    problems = []
    held = {"proxy_cert": chain, "proxy_key": leaf.key_pem, "api_cert": "garbage", "cm_key": "x"}
    out = certs.summaries(held, on_problem=problems.append)
    assert [o["name"] for o in out] == ["proxy"] and len(problems) == 1 and "api" in problems[0]
    assert certs.summaries(held, "cm") == []
