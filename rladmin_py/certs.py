"""PEM bundle loading and the pre-flight checks RS applies to a new certificate.

One module serves the shell (files on the operator's machine, checked before anything is sent)
and the sandbox cluster and server (PEM text received in a request), so both refuse the same
things with the same words. Requirements: rs-tls.md section 5.

Error codes and HTTP statuses follow the RS API where it documents them (400 invalid
certificate, 403 unknown name, 406 expired, ``key_values_mismatch``); the other snake_case
codes are our guess at RS's style.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates that hold only a certificate (no key) on an RS cluster.
KEYLESS = frozenset({"mtls_trusted_ca", "sso_issuer"})
#: Internode-encryption certificates: RS requires RSA keys and clientAuth.
INTERNODE = frozenset({"ccs_internode_encryption", "data_internode_encryption"})
MIN_RSA_BITS = 2048
EXPIRY_WARNING_DAYS = 30
MAX_FILE_BYTES = 1 << 20

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\n(.*?)\n?-----END \1-----", re.S)
_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
               "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY")


class CertificateProblem(Exception):
    """A certificate or key RS would refuse. ``message`` is one line and never holds key material."""

    def __init__(self, message: str, error_code: str = "invalid_certificate", status: int = 400):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status


@dataclass
class PemText:
    """The PEM blocks of one file or field, with the text around them dropped."""

    source: str
    blocks: list[tuple[str, str]]  # (label, normalised block text ending in "\n")
    dropped_text: bool

    def labelled(self, *labels: str) -> list[str]:
        return [text for label, text in self.blocks if label in labels]


@dataclass
class Bundle:
    """A certificate (chain) and its key, normalised and checked, ready to be sent."""

    name: str
    chain: list[x509.Certificate]
    certificate_pem: str
    key_pem: str | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def __repr__(self) -> str:
        return f"Bundle(name={self.name!r}, chain={len(self.chain)}, key={'<redacted>' if self.key_pem else None})"


# -- reading --------------------------------------------------------------------------------
def read_file(path: str, role: str) -> str:
    """The text of a certificate or key file; every way a file can be wrong is one clear line."""
    shown = path
    path = os.path.expanduser(path)
    if not os.path.lexists(path):
        raise CertificateProblem(f"{shown}: no such file ({role})", "file_not_found")
    if os.path.isdir(path):
        raise CertificateProblem(f"{shown}: is a directory, not a {role}", "not_a_file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise CertificateProblem(f"{shown}: permission denied (cannot read the {role})", "unreadable") from None
    except OSError as err:
        raise CertificateProblem(f"{shown}: cannot read the {role}: {err.strerror}", "unreadable") from None
    if len(data) > MAX_FILE_BYTES:
        raise CertificateProblem(f"{shown}: larger than 1 MiB: not a PEM {role}", "invalid_certificate")
    if not data.strip():
        raise CertificateProblem(f"{shown}: the file is empty (expected a PEM {role})", "empty_file")
    if b"-----BEGIN" not in data:
        _refuse_binary(shown, data, role)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def _refuse_binary(shown: str, data: bytes, role: str) -> None:
    """Not PEM: say what it most likely is (DER, PKCS#12) and how to convert it."""
    q = shlex.quote(shown)
    base = shlex.quote(re.sub(r"\.(der|cer|crt|key|pfx|p12)$", "", shown) + ".pem")
    if data[:1] == b"\x30":
        if role == "private key":
            try:
                serialization.load_der_private_key(data, password=None)
                raise CertificateProblem(
                    f"{shown}: the key is DER, not PEM; convert it with: openssl pkey -inform der -in {q} -out {base}",
                    "der_not_pem")
            except (ValueError, TypeError):
                pass
        else:
            try:
                x509.load_der_x509_certificate(data)
                raise CertificateProblem(
                    f"{shown}: the certificate is DER, not PEM; convert it with: "
                    f"openssl x509 -inform der -in {q} -out {base}", "der_not_pem")
            except ValueError:
                pass
        raise CertificateProblem(
            f"{shown}: binary data, not PEM (a PKCS#12/PFX file? convert it with: "
            f"openssl pkcs12 -in {q} -nodes -out {base})", "der_not_pem")
    raise CertificateProblem(f"{shown}: no PEM block found (expected a PEM {role})", "invalid_certificate")


def pem_blocks(text: str, source: str) -> PemText:
    """Split text into PEM blocks; anything outside them (Bag Attributes, subject= lines) is dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = []
    outside = []
    last = 0
    for m in _BLOCK.finditer(text):
        outside.append(text[last : m.start()])
        last = m.end()
        body = "\n".join(line.strip() for line in m.group(2).split("\n") if line.strip())
        blocks.append((m.group(1), f"-----BEGIN {m.group(1)}-----\n{body}\n-----END {m.group(1)}-----\n"))
    outside.append(text[last:])
    rest = "".join(outside)
    if "-----BEGIN" in rest or "-----END" in rest:
        raise CertificateProblem(f"{source}: truncated or corrupt PEM (a BEGIN line without its END line)",
                                 "invalid_certificate")
    return PemText(source, blocks, bool(rest.strip()))


def load_chain(pem: PemText) -> list[x509.Certificate]:
    texts = pem.labelled("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")
    if not texts:
        raise CertificateProblem(f"{pem.source}: no certificate in the file (no BEGIN CERTIFICATE block)",
                                 "invalid_certificate")
    chain = []
    for i, text in enumerate(texts, 1):
        try:
            chain.append(x509.load_pem_x509_certificate(text.encode()))
        except ValueError:
            raise CertificateProblem(
                f"{pem.source}: certificate {i} of {len(texts)} is corrupt (not a valid PEM certificate)",
                "invalid_certificate") from None
    return chain


def load_key(pem: PemText):
    """The one private key of a key file, refusing encrypted keys with the command that decrypts them."""
    texts = [(label, text) for label, text in pem.blocks if label in _KEY_LABELS]
    if not texts:
        raise CertificateProblem(f"{pem.source}: no private key in the file (no BEGIN PRIVATE KEY block)",
                                 "invalid_key")
    if len(texts) > 1:
        raise CertificateProblem(f"{pem.source}: {len(texts)} private keys in the file; a key file holds exactly one",
                                 "invalid_key")
    label, text = texts[0]
    plain = re.sub(r"(\.pem|\.key)?$", "", pem.source, count=1) + "-unencrypted.pem"
    decrypt = f"openssl pkey -in {shlex.quote(pem.source)} -out {shlex.quote(plain)}"
    if label == "ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED" in text:
        raise CertificateProblem(
            f"{pem.source}: the private key is password-protected; RS needs an unencrypted key. "
            f"Write an unencrypted copy with: {decrypt}", "encrypted_key")
    if label == "OPENSSH PRIVATE KEY":
        raise CertificateProblem(f"{pem.source}: an OpenSSH key, not a PEM private key", "invalid_key")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise CertificateProblem(
            f"{pem.source}: the private key is password-protected; RS needs an unencrypted key. "
            f"Write an unencrypted copy with: {decrypt}", "encrypted_key") from None
    except (ValueError, UnsupportedAlgorithm):  # corrupt, or a type cryptography cannot read
        raise CertificateProblem(f"{pem.source}: the private key is corrupt or truncated", "invalid_key") from None
    return key, text


# -- facts about certificates -----------------------------------------------------------------
def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert: x509.Certificate, key) -> bool:
    return _spki(cert.public_key()) == _spki(key.public_key())


def common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


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


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # wrong signature, unsupported algorithm
        return False
    return True


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


def summary(name: str, cert: x509.Certificate, now: dt.datetime | None = None) -> dict:
    """What ``cluster certificate show`` reports for one certificate (no key material)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    kind, bits = key_description(cert.public_key())
    not_after = cert.not_valid_after_utc
    return {
        "name": name,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": sans(cert),
        "not_before": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "not_after": not_after.isoformat().replace("+00:00", "Z"),
        "days_left": (not_after - now).days,
        "key_type": kind,
        "key_size": bits,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "self_signed": cert.issuer == cert.subject,
    }


# -- the checks --------------------------------------------------------------------------------
def check_chain_order(chain: list[x509.Certificate], source: str) -> None:
    for i in range(len(chain) - 1):
        if not _issued_by(chain[i], chain[i + 1]):
            expected = _proper_order(chain)
            if expected is None:
                raise CertificateProblem(
                    f"{source}: certificate {i + 2} ({common_name(chain[i + 1].subject)}) did not issue certificate "
                    f"{i + 1} ({common_name(chain[i].subject)}); the chain is incomplete or holds unrelated certificates",
                    "CERTIFICATE_VERIFY_FAILED")
            names = " -> ".join(common_name(c.subject) for c in expected)
            raise CertificateProblem(
                f"{source}: chain out of order; expected the leaf first, then each issuer: {names}",
                "CERTIFICATE_VERIFY_FAILED")


def _proper_order(chain: list[x509.Certificate]) -> list[x509.Certificate] | None:
    """The same certificates leaf first, each followed by its issuer, if such an order exists."""
    issuers = {id(c) for c in chain for d in chain if c is not d and _issued_by(d, c)}
    leaves = [c for c in chain if id(c) not in issuers]
    if len(leaves) != 1:
        return None
    order = [leaves[0]]
    while len(order) < len(chain):
        nxt = [c for c in chain if c not in order and _issued_by(order[-1], c)]
        if not nxt:
            return None
        order.append(nxt[0])
    return order


def check(name: str, chain: list[x509.Certificate], key, *, source: str, key_source: str,
          fqdn: str | None = None, now: dt.datetime | None = None) -> list[str]:
    """Refuse what RS refuses (raises :class:`CertificateProblem`); return the warnings."""
    now = now or dt.datetime.now(dt.timezone.utc)
    leaf = chain[0]
    if key is not None and not key_matches(leaf, key):
        others = [i for i, c in enumerate(chain[1:], 2) if key_matches(c, key)]
        if others:
            raise CertificateProblem(
                f"{source}: chain out of order: the key matches certificate {others[0]}, but the leaf must come first",
                "CERTIFICATE_VERIFY_FAILED")
        raise CertificateProblem(
            f"{key_source}: key_values_mismatch: the private key does not match the certificate in {source}",
            "key_values_mismatch")
    if now > leaf.not_valid_after_utc:
        raise CertificateProblem(
            f"{source}: the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC", "cert_expired", 406)
    if now < leaf.not_valid_before_utc:
        raise CertificateProblem(
            f"{source}: the certificate is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
            "(check the clock of the machine that made it)", "cert_not_yet_valid")
    check_chain_order(chain, source)
    kind, bits = key_description(leaf.public_key())
    if kind not in ("RSA", "ECDSA"):
        raise CertificateProblem(f"{source}: {kind} keys are not supported by RS; use RSA (2048 bits or more) or ECDSA",
                                 "unsupported_key_type")
    if kind == "RSA" and bits < MIN_RSA_BITS:
        raise CertificateProblem(f"{source}: the RSA key is {bits} bits; RS requires at least {MIN_RSA_BITS} (4096 recommended)",
                                 "weak_key")
    eku = _eku(leaf)
    if name in INTERNODE:
        if kind != "RSA":
            raise CertificateProblem(f"{source}: internode-encryption certificates must have RSA keys, not {kind}",
                                     "unsupported_key_type")
        if eku and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise CertificateProblem(
                f"{source}: internode-encryption certificates need extended key usage clientAuth", "missing_client_auth")

    warnings = []
    days = (leaf.not_valid_after_utc - now).days
    if days < EXPIRY_WARNING_DAYS:
        warnings.append(f"{source}: the certificate expires in {days} days ({leaf.not_valid_after_utc:%Y-%m-%d})")
    if name not in KEYLESS:
        missing = [w for w, oid in (("serverAuth", ExtendedKeyUsageOID.SERVER_AUTH),
                                     ("clientAuth", ExtendedKeyUsageOID.CLIENT_AUTH)) if eku and oid not in eku]
        if missing:
            warnings.append(f"{source}: extended key usage lacks {' and '.join(missing)} (RS expects both)")
        if fqdn:
            names = sans(leaf)
            if not _covers(names, fqdn):
                warnings.append(f"{source}: the SANs do not cover the cluster name {fqdn}")
            if name == "proxy" and not any(n.lower() == f"*.{fqdn.lower()}" for n in names):
                warnings.append(f"{source}: the SANs lack *.{fqdn}, which database endpoints need")
    if leaf.issuer == leaf.subject and name not in KEYLESS:
        warnings.append(f"{source}: the certificate is self-signed; clients must be given it to trust it")
    try:
        if isinstance(leaf.signature_hash_algorithm, hashes.SHA1):
            warnings.append(f"{source}: the certificate is signed with SHA-1; RS requires SHA-256 or better")
    except Exception:  # unsupported signature algorithm
        pass
    return warnings


def prepare(name: str, cert_text: str, key_text: str | None, *, cert_source: str, key_source: str | None = None,
            current_key_pem: str | None = None, fqdn: str | None = None, now: dt.datetime | None = None) -> Bundle:
    """Normalise and check one certificate (and key) given as text; the one entry point for every path."""
    notes: list[str] = []
    cert_pem = pem_blocks(cert_text, cert_source)
    if cert_pem.dropped_text:
        notes.append(f"{cert_source}: text outside the PEM blocks (e.g. Bag Attributes) was dropped")
    chain = load_chain(cert_pem)
    embedded_keys = [b for b in cert_pem.blocks if b[0] in _KEY_LABELS]
    key_obj = None
    key_pem: str | None = None
    if key_text is not None:
        if embedded_keys:
            raise CertificateProblem(
                f"{cert_source}: the certificate file also holds a private key; give the key only as key_file",
                "key_in_certificate")
        key_source = key_source or "key"
        kpem = pem_blocks(key_text, key_source)
        if kpem.dropped_text:
            notes.append(f"{key_source}: text outside the PEM blocks (e.g. Bag Attributes) was dropped")
        if kpem.labelled("CERTIFICATE") and not [b for b in kpem.blocks if b[0] in _KEY_LABELS]:
            raise CertificateProblem(f"{key_source}: holds a certificate, not a private key (files swapped?)",
                                     "invalid_key")
        key_obj, key_pem = load_key(kpem)
    elif embedded_keys:
        key_source = cert_source
        key_obj, key_pem = load_key(PemText(cert_source, embedded_keys, False))
        notes.append(f"{cert_source}: the private key in the certificate file is used as the key")
    if name in KEYLESS and key_obj is not None:
        raise CertificateProblem(f"{name} takes no key: give only certificate_file", "unexpected_key")
    if key_obj is None and name not in KEYLESS:
        if current_key_pem is None:
            raise CertificateProblem(
                f"no key_file given and the cluster's current {name} key cannot be read; give key_file",
                "missing_key")
        current = serialization.load_pem_private_key(current_key_pem.encode(), password=None)
        if not key_matches(chain[0], current):
            raise CertificateProblem(
                f"{cert_source}: no key_file given, and the certificate does not match the cluster's current {name} key "
                "(key_values_mismatch); give the new key with key_file", "key_values_mismatch")
    warnings = check(name, chain, key_obj, source=cert_source, key_source=key_source or cert_source, fqdn=fqdn, now=now)
    normalised = "".join(cert_pem.labelled("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"))
    return Bundle(name, chain, normalised, key_pem, notes, warnings)


def prepare_files(name: str, cert_path: str, key_path: str | None, **kw) -> Bundle:
    """Read the files, then :func:`prepare`: the shell's pre-flight, before anything is sent."""
    cert_text = read_file(cert_path, "certificate")
    key_text = read_file(key_path, "private key") if key_path is not None else None
    return prepare(name, cert_text, key_text, cert_source=cert_path, key_source=key_path, **kw)


def fqdn_of(cluster: dict) -> str | None:
    return cluster.get("name") or None
