"""Real-world quirks that come from the openssl CLI itself: PFX conversions with Bag Attributes,
`ecparam -genkey` output, legacy encrypted PEM (Proc-Type), TRUSTED CERTIFICATE, SHA-1."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import rsa_key
from rladmin_py.certificates import making as certgen

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")


def openssl(*args, cwd, input=None):
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, input=input).stdout


def generation(sandbox_path) -> int:
    with open(sandbox_path, encoding="utf-8") as fh:
        return json.load(fh)["generation"]


def cset(*words):
    return ("cluster", "certificate", "set", *words)


def test_pfx_converted_with_nodes(rladmin, certfactory, sandbox):
    """`openssl pkcs12 -export` then `openssl pkcs12 -nodes`: Bag Attributes, chain and key in one file."""
    c = certfactory.leaf(key=rsa_key(), chain=False)
    d = certfactory.dir
    chain = certfactory.write("ca-chain.pem", certfactory.intermediate.cert_pem + certfactory.root.cert_pem)
    openssl("pkcs12", "-export", "-in", str(c.cert), "-inkey", str(c.key), "-certfile", str(chain), "-name", "site",
            "-out", "site.pfx", "-passout", "pass:pw", cwd=d)
    openssl("pkcs12", "-in", "site.pfx", "-nodes", "-passin", "pass:pw", "-out", "site.pem", cwd=d)
    converted = (d / "site.pem").read_text()
    assert converted.startswith("Bag Attributes") and "PRIVATE KEY" in converted

    # as it came: refused, with the conversion command
    r = rladmin(*cset("proxy", "certificate_file", str(d / "site.pfx")))
    assert r.returncode == 1 and f"{d}/site.pfx: a PKCS#12 (PFX) bundle, not PEM" in r.stderr

    # converted, as the only file: the Bag Attributes are dropped and the key in it is the key
    r = rladmin(*cset("proxy", "certificate_file", str(d / "site.pem")))
    assert r.returncode == 0, r.stderr
    assert f"note: {d}/site.pem: dropped the text outside the BEGIN/END blocks (Bag Attributes lines" in r.stderr
    assert f"Set proxy key to contents of file {d}/site.pem" in r.stdout
    held = sandbox.get_certificates()
    assert held["proxy_key"].replace("\n", "") == c.key.read_text().replace("\n", "")
    assert "Bag" not in held["proxy_cert"] and "PRIVATE" not in held["proxy_cert"]
    assert held["proxy_cert"] == c.issued.cert_pem + certfactory.intermediate.cert_pem + certfactory.root.cert_pem

    # converted, and also given as key_file (the same key): fine too
    r = rladmin(*cset("proxy", "certificate_file", str(d / "site.pem"), "key_file", str(d / "site.pem")))
    assert r.returncode == 0, r.stderr


def test_ecparam_genkey_output(rladmin, certfactory, sandbox):
    d = certfactory.dir
    pem = openssl("ecparam", "-name", "prime256v1", "-genkey", cwd=d).decode()
    assert pem.startswith("-----BEGIN EC PARAMETERS-----") and "BEGIN EC PRIVATE KEY" in pem
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem[pem.index("-----BEGIN EC PRIVATE"):].encode(), None)
    c = certfactory.leaf(key=key)
    keyfile = certfactory.write("ec.key", pem)
    r = rladmin(*cset("proxy", "certificate_file", str(c.cert), "key_file", str(keyfile)))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    held = sandbox.get_certificates()["proxy_key"]
    assert held.startswith("-----BEGIN EC PRIVATE KEY-----") and "PARAMETERS" not in held


def test_legacy_encrypted_pem(rladmin, certfactory, sandbox_path):
    """`openssl genrsa -aes256 -traditional`: Proc-Type/DEK-Info headers."""
    d = certfactory.dir
    openssl("genrsa", "-aes256", "-traditional", "-passout", "pass:pw", "-out", "legacy.key", "2048", cwd=d)
    text = (d / "legacy.key").read_text()
    assert "Proc-Type: 4,ENCRYPTED" in text
    c = certfactory.leaf(key=rsa_key())
    gen = generation(sandbox_path)
    r = rladmin(*cset("proxy", "certificate_file", str(c.cert), "key_file", str(d / "legacy.key")))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == (f"error: {d}/legacy.key: the private key is password-protected, and RS takes no passphrase; "
                        f"write an unencrypted copy with: openssl pkey -in {d}/legacy.key "
                        f"-out {d}/legacy.key-unencrypted.pem\n")
    assert generation(sandbox_path) == gen
    # the printed command does write a key the shell accepts (with the right certificate)
    openssl("pkey", "-in", "legacy.key", "-out", "legacy.key-unencrypted.pem", "-passin", "pass:pw", cwd=d)
    assert "BEGIN PRIVATE KEY" in (d / "legacy.key-unencrypted.pem").read_text()


def test_der_conversion_command_works(rladmin, certfactory):
    d = certfactory.dir
    c = certfactory.leaf(key=rsa_key(), chain=False)
    openssl("x509", "-in", str(c.cert), "-outform", "der", "-out", "leaf.cer", cwd=d)
    r = rladmin(*cset("proxy", "certificate_file", str(d / "leaf.cer"), "key_file", str(c.key)))
    command = r.stderr.split("convert it with: ", 1)[1].strip()
    assert command == f"openssl x509 -inform der -in {d}/leaf.cer -out {d}/leaf.pem"
    subprocess.run(command, shell=True, check=True, capture_output=True)
    assert (d / "leaf.pem").read_text() == c.cert.read_text()


def test_trusted_certificate(rladmin, certfactory, sandbox):
    d = certfactory.dir
    ca = certfactory.write("ca.pem", certfactory.root.cert_pem)
    openssl("x509", "-in", str(ca), "-trustout", "-addtrust", "clientAuth", "-out", "trusted.pem", cwd=d)
    assert "BEGIN TRUSTED CERTIFICATE" in (d / "trusted.pem").read_text()
    r = rladmin(*cset("mtls_trusted_ca", "certificate_file", str(d / "trusted.pem")))
    assert r.returncode == 0, r.stderr
    assert sandbox.get_certificates()["mtls_trusted_ca_cert"] == certfactory.root.cert_pem


def test_sha1_signature_warning(rladmin, certfactory, sandbox_path):
    """cryptography will not sign (or verify) SHA-1 any more: openssl makes the certificate."""
    d = certfactory.dir
    key = certgen.new_key("ec")
    certfactory.write("l.key", certgen.key_pem(key))
    certfactory.write("i.pem", certfactory.intermediate.cert_pem)
    certfactory.write("i.key", certfactory.intermediate.key_pem)
    fqdn = certfactory.fqdn
    openssl("req", "-new", "-key", "l.key", "-subj", f"/CN={fqdn}",
            "-addext", f"subjectAltName=DNS:{fqdn},DNS:*.{fqdn}", "-addext", "extendedKeyUsage=serverAuth,clientAuth",
            "-out", "l.csr", cwd=d)
    openssl("x509", "-req", "-sha1", "-in", "l.csr", "-CA", "i.pem", "-CAkey", "i.key", "-set_serial", "7",
            "-days", "90", "-copy_extensions", "copyall", "-out", "l.pem", cwd=d)
    chain = certfactory.write("sha1-chain.pem", (d / "l.pem").read_text() + certfactory.intermediate.cert_pem)
    words = cset("proxy", "certificate_file", str(chain), "key_file", str(d / "l.key"))
    gen = generation(sandbox_path)
    strict = rladmin("--strict", *words)
    assert strict.returncode == 1
    assert strict.stderr == (f"error: {chain}: the certificate is signed with SHA-1; RS requires SHA-256 or better "
                             "(refused: --strict)\n")
    assert generation(sandbox_path) == gen
    r = rladmin(*words)
    assert r.returncode == 0
    assert r.stderr == f"warning: {chain}: the certificate is signed with SHA-1; RS requires SHA-256 or better\n"
    assert generation(sandbox_path) == gen + 1
