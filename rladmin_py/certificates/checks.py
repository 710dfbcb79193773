"""PEM bundle loading and the pre-flight checks RS applies to a new certificate.

One module serves the shell (files on the operator's machine, checked before anything is sent)
and the sandbox cluster and server (PEM text received in a request), so both refuse the same
things with the same words. Requirements: rs-tls.md section 5; issue 3.

- :func:`prepare` is the one entry point (text in, a checked :class:`Bundle` out);
  :func:`prepare_files` reads the files first. Both raise only :class:`CertificateProblem`,
  whose message is one line, names the file and the problem, and never holds key material.
- Refusals are what RS refuses (or would choke on); warnings are returned in the bundle and the
  caller decides (``--strict`` turns them into refusals). Messages, notes and warnings quote
  file names and certificate fields: they come escaped (:func:`rladmin_py.terminal.escape`).
- What is sent is normalised: the certificates re-encoded from what was parsed (PEM, LF, file
  order), the key as its own PEM block; text around the blocks is dropped (with a note).

Error codes and HTTP statuses follow the RS API where it documents them (400 invalid
certificate, 406 expired, ``key_values_mismatch``, ``CERTIFICATE_VERIFY_FAILED``); the other
snake_case codes are our guess at RS's style.

Speed: a pre-flight of leaf + intermediate + root and an RSA key takes well under a millisecond.
OpenSSL's RSA private-key validation (primality tests, ~30 ms) is skipped in favour of the cheap
arithmetic check in :func:`_check_rsa_private`; each signature in the chain is verified once.
"""
from __future__ import annotations

import datetime as dt
import math
import shlex
from dataclasses import dataclass, field
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..terminal import escape
from .pem import (CERT_LABELS, CSR_LABELS, KEY_LABELS, PUBLIC_LABELS, CertificateProblem, PemText, converted_name,
                  der_prefix, pem_blocks, read_file, refuse)

#: Certificates that hold only a certificate (no key) on an RS cluster.
KEYLESS = frozenset({"mtls_trusted_ca", "sso_issuer"})
#: Internode-encryption certificates: RS requires RSA keys and clientAuth.
INTERNODE = frozenset({"ccs_internode_encryption", "data_internode_encryption"})
MIN_RSA_BITS = 2048
EXPIRY_WARNING_DAYS = 30


# -- loading ------------------------------------------------------------------------------------
def load_chain(pem: PemText) -> list[x509.Certificate]:
    """The certificates of a certificate file, in file order; refuses corrupt ones."""
    blocks = pem.of(*CERT_LABELS)
    if not blocks:
        src = pem.source
        if pem.of(*CSR_LABELS):
            refuse(f"{src}: holds a certificate signing request (CSR), not a certificate; "
                    "have your CA sign it and use the certificate it returns")
        if pem.of(*KEY_LABELS):
            refuse(f"{src}: holds a private key but no certificate (are certificate_file and key_file swapped?)")
        if pem.of(*PUBLIC_LABELS):
            refuse(f"{src}: holds a public key, not a certificate")
        refuse(f"{src}: no certificate in the file (no BEGIN CERTIFICATE block)")
    chain = []
    for i, block in enumerate(blocks, 1):
        where = f"certificate {i} of {len(blocks)}" if len(blocks) > 1 else "the certificate"
        der = block.der()
        if der is None:
            refuse(f"{pem.source}: {where} (line {block.line}) is corrupt: its body is not valid base64")
        if block.label == "TRUSTED CERTIFICATE":
            der = der_prefix(der)
        try:
            cert = x509.load_der_x509_certificate(der)
            # Parsed lazily by cryptography: touch now so a malformed field is refused here, not later.
            cert.subject, cert.issuer, cert.extensions  # noqa: B018
            cert.not_valid_after_utc, cert.not_valid_before_utc  # noqa: B018
        except Exception:  # any parse failure of untrusted input is "corrupt"
            refuse(f"{pem.source}: {where} (line {block.line}) is corrupt or truncated "
                    "(not a valid X.509 certificate)")
        chain.append(cert)
    return chain


def _decrypt_command(source: str) -> str:
    return (f"openssl pkey -in {shlex.quote(source)} -out "
            f"{converted_name(source, '-unencrypted.pem')}")


def load_key(pem: PemText):
    """The one private key of a key file: (key object, normalised PEM block text).

    Encrypted keys are refused with the ``openssl pkey`` command that writes an unencrypted copy.
    """
    src = pem.source
    blocks = pem.of(*KEY_LABELS)
    if not blocks:
        if pem.of(*CERT_LABELS):
            refuse(f"{src}: holds a certificate, not a private key (are certificate_file and key_file swapped?)",
                    "invalid_key")
        if pem.of(*PUBLIC_LABELS):
            refuse(f"{src}: holds a public key, not the private key", "invalid_key")
        if pem.of("EC PARAMETERS"):
            refuse(f"{src}: holds only EC PARAMETERS, no private key", "invalid_key")
        refuse(f"{src}: no private key in the file (no BEGIN PRIVATE KEY block)", "invalid_key")
    if len(blocks) > 1:
        refuse(f"{src}: {len(blocks)} private keys in the file; a key file holds exactly one", "invalid_key")
    block = blocks[0]
    if block.encrypted:
        refuse(f"{src}: the private key is password-protected, and RS takes no passphrase; "
                f"write an unencrypted copy with: {_decrypt_command(src)}", "encrypted_key")
    if block.label == "OPENSSH PRIVATE KEY":
        refuse(f"{src}: an OpenSSH private key; RS needs a PEM private key (PKCS#8, PKCS#1 or SEC1)", "invalid_key")
    der = block.der()
    if der is None:
        refuse(f"{src}: the private key (line {block.line}) is corrupt: its body is not valid base64", "invalid_key")
    try:
        # OpenSSL's RSA check (primality tests) costs ~30 ms; _check_rsa_private does what matters here.
        key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:  # encrypted after all
        refuse(f"{src}: the private key is password-protected, and RS takes no passphrase; "
                f"write an unencrypted copy with: {_decrypt_command(src)}", "encrypted_key")
    except Exception:  # corrupt, or a type cryptography cannot read
        refuse(f"{src}: the private key (line {block.line}) is corrupt or truncated", "invalid_key")
    if isinstance(key, rsa.RSAPrivateKey) and not _check_rsa_private(key):
        refuse(f"{src}: the private key (line {block.line}) is corrupt (its RSA numbers are inconsistent)",
                "invalid_key")
    return key, block.text


def _check_rsa_private(key) -> bool:
    """n = p*q and e*d = 1 mod lcm(p-1, q-1): catches a damaged key without primality tests."""
    try:
        priv = key.private_numbers()
        pub = priv.public_numbers
        p, q = priv.p, priv.q
        if p < 2 or q < 2 or p * q != pub.n:
            return False
        lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        return (pub.e * priv.d) % lam == 1
    except Exception:
        return False


# -- facts about certificates -------------------------------------------------------------------
def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _cert_spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert: x509.Certificate, key) -> bool:
    try:
        return _cert_spki(cert) == _spki(key.public_key())
    except Exception:  # a certificate key type cryptography cannot load
        return False


def common_name(name: x509.Name) -> str:
    try:
        cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cns[0].value) if cns else name.rfc4514_string()
    except Exception:
        return "?"


def sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)]


def key_description(public_key) -> tuple[str, int]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ECDSA", public_key.key_size
    return type(public_key).__name__.replace("PublicKey", "").lstrip("_"), getattr(public_key, "key_size", 0)


def _cert_key_description(cert: x509.Certificate) -> tuple[str, int]:
    try:
        return key_description(cert.public_key())
    except Exception:  # an algorithm cryptography does not know
        return "unknown", 0


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer`` signed ``cert``: names match and the signature verifies.

    A signature cryptography cannot check (SHA-1, which it no longer verifies, or an exotic
    algorithm) counts when the names and the key identifiers agree; SHA-1 gets its own warning.
    """
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # wrong signature, wrong key type, malformed; or an algorithm it cannot verify
        return False if _verifiable(cert) else _key_ids_agree(cert, issuer)
    return True


def _verifiable(cert: x509.Certificate) -> bool:
    try:
        return not isinstance(cert.signature_hash_algorithm, (hashes.SHA1, hashes.MD5))
    except Exception:
        return False


def _key_ids_agree(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return True  # nothing more to compare: the names agree
    except Exception:
        return False
    return aki is None or aki == ski


def _eku(cert: x509.Certificate) -> set:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def _covers(names: list[str], host: str) -> bool:
    host = host.lower()
    for n in (n.lower() for n in names):
        if n == host or (n.startswith("*.") and "." in host and host.split(".", 1)[1] == n[2:]):
            return True
    return False


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def summary(name: str, cert: x509.Certificate, now: dt.datetime | None = None) -> dict:
    """What ``cluster certificate show`` reports for one certificate (no key material)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    kind, bits = _cert_key_description(cert)
    not_after = cert.not_valid_after_utc
    return {
        "name": name,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": sans(cert),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(not_after),
        "days_left": (not_after - now).days,
        "key_type": kind,
        "key_size": bits,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "self_signed": cert.issuer == cert.subject,
    }


def leaf_of(pem: str, source: str = "the certificate") -> x509.Certificate:
    """The first certificate of a PEM chain (raises :class:`CertificateProblem`)."""
    return load_chain(pem_blocks(pem, source))[0]


def summaries(held: dict, wanted: str | None = None, *, on_problem: Callable[[str], None] | None = None,
              now: dt.datetime | None = None) -> list[dict]:
    """Summaries of the leaf of every ``<name>_cert`` in a GET /v1/cluster/certificates map.

    Keys in ``held`` are never looked at. A stored certificate that cannot be read is skipped and
    reported through ``on_problem``.
    """
    out = []
    for field_name in sorted(held):
        if not field_name.endswith("_cert") or not isinstance(held[field_name], str):
            continue
        name = field_name[: -len("_cert")]
        if wanted and name != wanted:
            continue
        try:
            chain = load_chain(pem_blocks(held[field_name], f"the cluster's {name} certificate"))
            out.append(summary(name, chain[0], now))
        except CertificateProblem as err:
            if on_problem:
                on_problem(err.message)
    return out


# -- the checks ---------------------------------------------------------------------------------
def _describe(chain: list[x509.Certificate]) -> str:
    return ", ".join(f"{i} {common_name(c.subject)!r}" for i, c in enumerate(chain, 1))


def _order_problem(chain: list[x509.Certificate], source: str, bad: int | None = None) -> CertificateProblem:
    """Why the chain is not leaf first then each issuer: the expected order when one exists."""
    expected = _proper_order(chain)
    if expected is not None:
        names = " -> ".join(repr(common_name(c.subject)) for c in expected)
        return CertificateProblem(
            f"{source}: chain out of order: expected the leaf first, then each certificate's issuer: {names} "
            f"(the file has {_describe(chain)})", "CERTIFICATE_VERIFY_FAILED")
    i = bad if bad is not None else 0
    cert, nxt = chain[i], chain[i + 1]
    if cert.issuer == nxt.subject:
        return CertificateProblem(
            f"{source}: certificate {i + 2} ({common_name(nxt.subject)!r}) has the name of the issuer of "
            f"certificate {i + 1} but did not sign it (another CA with the same name, or a damaged certificate)",
            "CERTIFICATE_VERIFY_FAILED")
    return CertificateProblem(
        f"{source}: certificate {i + 1} ({common_name(cert.subject)!r}) is issued by "
        f"{common_name(cert.issuer)!r}, but certificate {i + 2} is {common_name(nxt.subject)!r}: the chain is "
        "incomplete or holds unrelated certificates; it must be the leaf, then each issuer in turn",
        "CERTIFICATE_VERIFY_FAILED")


def check_chain_order(chain: list[x509.Certificate], source: str) -> None:
    """Each certificate must be issued by the next (one signature verification per pair)."""
    if len(chain) > 1:
        seen: dict[x509.Certificate, int] = {}
        for i, cert in enumerate(chain, 1):
            if cert in seen:
                refuse(f"{source}: certificate {i} ({common_name(cert.subject)!r}) repeats certificate {seen[cert]}; "
                        "remove the duplicate", "CERTIFICATE_VERIFY_FAILED")
            seen[cert] = i
    for i in range(len(chain) - 1):
        if not _issued_by(chain[i], chain[i + 1]):
            raise _order_problem(chain, source, i)


def _proper_order(chain: list[x509.Certificate]) -> list[x509.Certificate] | None:
    """The same certificates leaf first, each followed by its issuer, if such an order exists."""
    n = len(chain)
    if n < 2 or n > 10:
        return None
    issued = {(i, j) for i in range(n) for j in range(n) if i != j and _issued_by(chain[i], chain[j])}
    leaves = [i for i in range(n) if not any((j, i) in issued for j in range(n))]
    if len(leaves) != 1:
        return None
    order = [leaves[0]]
    while len(order) < n:
        nxt = [j for j in range(n) if j not in order and (order[-1], j) in issued]
        if not nxt:
            return None
        order.append(nxt[0])
    return [chain[i] for i in order]


def check(name: str, chain: list[x509.Certificate], key, *, source: str, key_source: str,
          fqdn: str | None = None, now: dt.datetime | None = None) -> list[str]:
    """Refuse what RS refuses (raises :class:`CertificateProblem`); return the warnings."""
    now = now or dt.datetime.now(dt.timezone.utc)
    leaf = chain[0]
    if _cert_key_description(leaf) == ("unknown", 0):  # the certificate is at fault, not the key file
        refuse(f"{source}: the certificate's public key cannot be read (corrupt, or an algorithm RS does not "
               "support; use RSA or ECDSA)")
    if key is not None and not key_matches(leaf, key):
        if any(key_matches(c, key) for c in chain[1:]):
            raise _order_problem(chain, source)
        kkind, kbits = key_description(key.public_key())
        ckind, cbits = _cert_key_description(leaf)
        detail = f" (the key is {kkind} {kbits}, the certificate's is {ckind} {cbits})" if (kkind, kbits) != (
            ckind, cbits) else ""
        refuse(f"{key_source}: key_values_mismatch: the private key does not match the certificate in "
                f"{source}{detail}", "key_values_mismatch")
    if now > leaf.not_valid_after_utc:
        refuse(f"{source}: the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC "
                f"({(now - leaf.not_valid_after_utc).days} days ago)", "cert_expired", 406)
    if now < leaf.not_valid_before_utc:
        refuse(f"{source}: the certificate is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                "(check the clock of the machine that made it)", "cert_not_yet_valid")
    if name != "mtls_trusted_ca":  # a trusted-CA file may hold several unrelated CAs
        check_chain_order(chain, source)
    kind, bits = _cert_key_description(leaf)
    if kind not in ("RSA", "ECDSA"):
        refuse(f"{source}: {kind} keys are not supported by RS; use RSA (2048 bits or more) or ECDSA",
                "unsupported_key_type")
    if kind == "RSA" and bits < MIN_RSA_BITS:
        refuse(f"{source}: the RSA key is {bits} bits; RS requires at least {MIN_RSA_BITS} (4096 recommended)",
                "weak_key")
    eku = _eku(leaf)
    if name in INTERNODE:
        if kind != "RSA":
            refuse(f"{source}: internode-encryption certificates must have RSA keys, not {kind}",
                    "unsupported_key_type")
        if eku and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            refuse(f"{source}: internode-encryption certificates need extended key usage clientAuth "
                    "(the certificate has only "
                    f"{', '.join(sorted(getattr(o, '_name', o.dotted_string) for o in eku))})",
                    "missing_client_auth")
    return _warnings(name, chain, eku, source=source, fqdn=fqdn, now=now)


def _warnings(name: str, chain: list[x509.Certificate], eku: set, *, source: str, fqdn: str | None,
              now: dt.datetime) -> list[str]:
    leaf = chain[0]
    warnings = []
    days = (leaf.not_valid_after_utc - now).days
    if days < EXPIRY_WARNING_DAYS:
        warnings.append(f"{source}: the certificate expires in {days} days ({leaf.not_valid_after_utc:%Y-%m-%d})")
    for i, c in enumerate(chain[1:], 2):
        if now > c.not_valid_after_utc or now < c.not_valid_before_utc:
            state = "expired" if now > c.not_valid_after_utc else "not yet valid"
            warnings.append(f"{source}: certificate {i} ({common_name(c.subject)!r}) in the chain is {state}; "
                            "clients that build the chain from it may refuse it")
    if name not in KEYLESS:
        missing = [w for w, oid in (("serverAuth", ExtendedKeyUsageOID.SERVER_AUTH),
                                     ("clientAuth", ExtendedKeyUsageOID.CLIENT_AUTH)) if eku and oid not in eku]
        if missing:
            warnings.append(f"{source}: extended key usage lacks {' and '.join(missing)} (RS expects both)")
        if fqdn:
            names = sans(leaf)
            if not _covers(names, fqdn):
                warnings.append(f"{source}: the SANs ({', '.join(names) or 'none'}) do not cover the cluster "
                                f"name {fqdn}")
            if name == "proxy" and not any(n.lower() == f"*.{fqdn.lower()}" for n in names):
                warnings.append(f"{source}: the SANs lack *.{fqdn}, which database endpoints need")
        if leaf.issuer == leaf.subject:
            warnings.append(f"{source}: the certificate is self-signed; every client must be given it to trust it")
    try:
        algorithm = leaf.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know
        algorithm = None
    if isinstance(algorithm, (hashes.SHA1, hashes.MD5)):
        warnings.append(f"{source}: the certificate is signed with {algorithm.name.upper().replace('SHA1', 'SHA-1')}; "
                        "RS requires SHA-256 or better")
    return warnings


# -- the entry points ---------------------------------------------------------------------------
@dataclass
class Bundle:
    """A certificate (chain) and its key, normalised and checked, ready to be sent."""

    name: str
    chain: list[x509.Certificate]
    certificate_pem: str
    key_pem: str | None  # None: no key is sent (keyless name, or the cluster's current key is kept)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def __repr__(self) -> str:
        return f"Bundle(name={self.name!r}, chain={len(self.chain)}, key={'<redacted>' if self.key_pem else None})"


def _load_current_key(name: str, current_key_pem: str | None):
    if not current_key_pem or not isinstance(current_key_pem, str):
        return None
    try:
        key, _ = load_key(pem_blocks(current_key_pem, f"the cluster's current {name} key"))
    except CertificateProblem:
        return None
    return key


def prepare(name: str, cert_text: str, key_text: str | None, *, cert_source: str, key_source: str | None = None,
            current_key_pem: str | None = None, fqdn: str | None = None, now: dt.datetime | None = None,
            cluster_key_unknown: bool = False) -> Bundle:
    """Normalise and check one certificate (and key) given as text; the one entry point for every path.

    ``key_text`` None means no key was given: the certificate file's own key is used if it holds
    one; otherwise the certificate must match ``current_key_pem`` (the key the cluster holds for
    that name), which is then kept; ``cluster_key_unknown`` (``--check``, no cluster at hand): that
    match is left to the run, with a note. Raises :class:`CertificateProblem`; returns the bundle
    with its notes and warnings.
    """
    if not isinstance(cert_text, str):
        refuse(f"{cert_source}: the certificate must be PEM text")
    if key_text is not None and not isinstance(key_text, str):
        refuse(f"{key_source or 'key'}: the key must be PEM text", "invalid_key")
    cert_pem = pem_blocks(cert_text, cert_source)
    notes = list(cert_pem.notes)
    chain = load_chain(cert_pem)
    others = sorted({b.label for b in cert_pem.blocks if b.label not in CERT_LABELS + KEY_LABELS})
    if others:
        notes.append(f"{cert_source}: ignored the {', '.join(others)} block(s); only certificates are sent")
    embedded = cert_pem.of(*KEY_LABELS)
    key_obj = None
    key_pem: str | None = None

    if name in KEYLESS:
        if embedded:
            refuse(f"{cert_source}: holds a private key, but {name} takes no key; give a file with only the "
                    "certificate", "unexpected_key")
        if key_text is not None:
            refuse(f"{key_source or 'key'}: {name} takes no key; leave out key_file", "unexpected_key")
    elif key_text is not None:
        key_source = key_source or "key"
        kpem = pem_blocks(key_text, key_source)
        notes += kpem.notes
        key_obj, key_pem = load_key(kpem)
        if embedded:
            if len(embedded) == 1 and embedded[0].b64 == kpem.of(*KEY_LABELS)[0].b64:
                notes.append(f"{cert_source}: also holds the private key; only its certificates are sent as the "
                             "certificate")
            else:
                refuse(f"{cert_source}: the certificate file also holds a private key, and key_file {key_source} "
                        "holds another; leave out key_file to use the key in the certificate file, or remove that "
                        "key from it", "key_in_certificate")
    elif embedded:
        key_source = cert_source
        key_obj, key_pem = load_key(PemText(cert_source, embedded, False))
        notes.append(f"{cert_source}: no key_file given: using the private key found in the certificate file "
                     "(it is sent as the key, not as part of the certificate)")
    else:
        current = _load_current_key(name, current_key_pem)
        if current is None and cluster_key_unknown:
            notes.append(f"{cert_source}: no key_file given: whether the certificate matches the key the cluster "
                         f"holds for {name} is checked when the command runs")
        elif current is None:
            refuse(f"{cert_source}: no key_file given, and the cluster's current {name} key cannot be read to "
                    "check that it matches the new certificate; give key_file", "missing_key")
        elif not key_matches(chain[0], current):
            refuse(f"{cert_source}: no key_file given, and the certificate does not match the cluster's current "
                    f"{name} key (key_values_mismatch); give the new key with key_file", "key_values_mismatch")
        else:
            notes.append(f"{cert_source}: no key_file given: the certificate matches the cluster's current "
                         f"{name} key, which is kept")
    warnings = check(name, chain, key_obj, source=cert_source, key_source=key_source or cert_source,
                     fqdn=fqdn, now=now)
    certificate_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain)
    # notes and warnings quote file names, SANs and the cluster's name: escaped for any terminal
    return Bundle(name, chain, certificate_pem, key_pem, [escape(n) for n in notes], [escape(w) for w in warnings])


def prepare_files(name: str, cert_path: str, key_path: str | None, **kw) -> Bundle:
    """Read the files, then :func:`prepare`: the shell's pre-flight, before anything is sent."""
    cert_text = read_file(cert_path, "certificate")
    key_text = read_file(key_path, "private key") if key_path is not None else None
    return prepare(name, cert_text, key_text, cert_source=cert_path, key_source=key_path, **kw)


def fqdn_of(cluster: dict) -> str | None:
    name = cluster.get("name") if isinstance(cluster, dict) else None
    return name if isinstance(name, str) and name else None
