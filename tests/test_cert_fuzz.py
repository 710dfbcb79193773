"""Mutated and random bytes as certificate or key never produce a traceback.

In-process (fast): only :class:`pemtext.CertificateProblem` may escape prepare/prepare_files, its
message is one line and holds no key material. Then a handful through the console script.
"""
from __future__ import annotations

import base64
import functools
import os
import random
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import serialization

from rladmin_py.certificates import checks as certs, making as certgen, pem as pemtext

FQDN = "cluster.sandbox.local"
FUZZ = settings(max_examples=int(os.environ.get("CERT_FUZZ_EXAMPLES", "150")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@functools.lru_cache(maxsize=None)
def material():
    root = certgen.make_ca("Fuzz Root", key=certgen.new_key("ec"))
    inter = certgen.make_ca("Fuzz Intermediate", issuer=root, key=certgen.new_key("ec"))
    rsa_leaf = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=certgen.new_key("rsa"))
    ec_leaf = certgen.make_leaf(FQDN, certgen.cluster_sans(FQDN), inter, key=certgen.new_key("ec"))
    return root, inter, rsa_leaf, ec_leaf


def windows(pem: str, size: int = 16) -> set[str]:
    flat = "".join(ln for ln in pem.splitlines() if not ln.startswith("-----"))
    return {flat[i : i + size] for i in range(0, len(flat) - size)}


@functools.lru_cache(maxsize=None)
def key_windows() -> frozenset[str]:
    root, inter, rsa_leaf, ec_leaf = material()
    public = "".join("".join(c.cert_pem.split()) for c in (root, inter, rsa_leaf, ec_leaf))
    return frozenset(w for w in windows(rsa_leaf.key_pem) | windows(ec_leaf.key_pem) if w not in public)


def attempt(cert_text, key_text, name="proxy"):
    """prepare() must either succeed or raise CertificateProblem with a clean one-line message."""
    try:
        certs.prepare(name, cert_text, key_text, cert_source="c.pem", key_source="k.pem" if key_text else None,
                      fqdn=FQDN, current_key_pem=material()[2].key_pem)
    except pemtext.CertificateProblem as err:
        check_message(err.message)


def check_message(message: str):
    assert message and "\n" not in message and "\r" not in message
    assert not re.search(r"-----(BEGIN|END) [A-Z ]*PRIVATE KEY-----", message)
    leaked = [w for w in key_windows() if w in message]
    assert not leaked, (message, leaked[:2])


def mutate_text(text: str, data) -> str:
    ops = data.draw(st.lists(st.sampled_from(["flip", "delete", "insert", "dup_line", "drop_line", "truncate"]),
                             min_size=1, max_size=4))
    for op in ops:
        if not text:
            break
        i = data.draw(st.integers(0, len(text) - 1))
        if op == "flip":
            text = text[:i] + data.draw(st.characters(max_codepoint=0x7f)) + text[i + 1 :]
        elif op == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 80)) :]
        elif op == "insert":
            text = text[:i] + data.draw(st.text(max_size=40)) + text[i:]
        elif op == "truncate":
            text = text[:i]
        else:
            lines = text.splitlines(keepends=True)
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[j:j + 1] = [lines[j]] * 2 if op == "dup_line" else []
            text = "".join(lines)
    return text


def mutate_bytes(raw: bytes, data) -> bytes:
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        if not raw:
            break
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["set", "xor", "cut", "insert", "truncate"]))
        if op == "set":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "xor":
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del raw[i : i + data.draw(st.integers(1, 16))]
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del raw[i:]
    return bytes(raw)


def pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode()
    return f"-----BEGIN {label}-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64)) + \
        f"\n-----END {label}-----\n"


def chain_text(leaf) -> str:
    root, inter, _, _ = material()
    return leaf.cert_pem + inter.cert_pem + root.cert_pem


@FUZZ
@given(st.binary(max_size=3000), st.binary(max_size=3000) | st.none())
def test_random_bytes(cert_bytes, key_bytes):
    attempt(cert_bytes.decode("utf-8", "replace"), None if key_bytes is None else key_bytes.decode("utf-8", "replace"))


@FUZZ
@given(st.data(), st.sampled_from(["cert", "key", "both"]), st.sampled_from([2, 3]))
def test_mutated_pem_text(data, which, leaf_index):
    leaf = material()[leaf_index]
    cert, key = chain_text(leaf), leaf.key_pem
    if which in ("cert", "both"):
        cert = mutate_text(cert, data)
    if which in ("key", "both"):
        key = mutate_text(key, data)
    attempt(cert, key)
    attempt(cert + key, None)  # the key inside the certificate file


@FUZZ
@given(st.data(), st.sampled_from([0, 1, 2, 3]), st.sampled_from(["proxy", "data_internode_encryption",
                                                                   "mtls_trusted_ca"]))
def test_mutated_certificate_der(data, which, name):
    """Valid base64 around damaged DER: reaches the X.509 parser and every check after it."""
    root, inter, rsa_leaf, ec_leaf = material()
    certs_ = [rsa_leaf, inter, root] if which != 3 else [ec_leaf, inter, root]
    index = min(which, 2) if which != 3 else 0
    ders = [c.cert.public_bytes(serialization.Encoding.DER) for c in certs_]
    ders[index] = mutate_bytes(ders[index], data)
    key = (rsa_leaf if which != 3 else ec_leaf).key_pem
    attempt("".join(pem("CERTIFICATE", d) for d in ders), None if name == "mtls_trusted_ca" else key, name)


@FUZZ
@given(st.data(), st.sampled_from([2, 3]), st.sampled_from(["PKCS8", "TraditionalOpenSSL"]))
def test_mutated_key_der(data, leaf_index, fmt):
    leaf = material()[leaf_index]
    der = leaf.key.private_bytes(serialization.Encoding.DER, getattr(serialization.PrivateFormat, fmt),
                                 serialization.NoEncryption())
    label = "PRIVATE KEY" if fmt == "PKCS8" else ("RSA PRIVATE KEY" if leaf_index == 2 else "EC PRIVATE KEY")
    attempt(chain_text(leaf), pem(label, mutate_bytes(der, data)))


_tmp = tempfile.TemporaryDirectory(prefix="rladmin-fuzz-")


@FUZZ
@given(st.binary(max_size=2000) | st.builds(lambda b: b"-----BEGIN CERTIFICATE-----\n" + b, st.binary(max_size=500)),
       st.sampled_from(["certificate", "private key"]))
def test_random_files(content, role):
    path = os.path.join(_tmp.name, "f.bin")
    with open(path, "wb") as fh:
        fh.write(content)
    good = os.path.join(_tmp.name, "good.pem")
    if not os.path.exists(good):
        with open(good, "w") as fh:
            fh.write(chain_text(material()[2]) if role == "certificate" else material()[2].key_pem)
    try:
        if role == "certificate":
            certs.prepare_files("proxy", path, None, fqdn=FQDN, current_key_pem=material()[2].key_pem)
        else:
            with open(good, "w") as fh:
                fh.write(chain_text(material()[2]))
            certs.prepare_files("proxy", good, path, fqdn=FQDN)
    except pemtext.CertificateProblem as err:
        check_message(err.message)


# -- a handful through the console script -------------------------------------------------------
def test_mutations_through_the_console_script(rladmin, certfactory, sandbox):
    rng = random.Random(20240603)
    leaf = material()[2]
    before = sandbox.get_certificates()
    key = certfactory.write("k.pem", leaf.key_pem)
    der = bytearray(leaf.cert.public_bytes(serialization.Encoding.DER))
    samples = [bytes(rng.randrange(256) for _ in range(300)), b"\x30\x82\xff\xff" + bytes(40)]
    for n in range(3):
        d = bytearray(der)
        for _ in range(4):
            d[rng.randrange(len(d))] = rng.randrange(256)
        samples.append(pem("CERTIFICATE", bytes(d)).encode())
    text = chain_text(leaf)
    samples.append(text[: rng.randrange(len(text))].encode())
    samples.append(text.replace(text.splitlines()[3], "".join(rng.sample(text.splitlines()[3], 64)), 1).encode())
    for i, sample in enumerate(samples):
        cert = certfactory.write(f"fuzz{i}.pem", sample)
        r = rladmin("cluster", "certificate", "set", "proxy", "certificate_file", str(cert), "key_file", str(key))
        assert r.returncode == 1, (i, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"error: {cert}: ")
    assert sandbox.get_certificates() == before
