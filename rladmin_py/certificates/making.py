"""Making certificates with cryptography: the certificates RS generates, and CAs and leaves for
practice sets and tests.

RS creates self-signed certificates with CN = cluster name, O = "RedisLabs Enterprise
Cluster", SANs ``<name>`` and ``*.<name>``, EKU serverAuth + clientAuth, valid 365 days
(rs-tls.md section 5; the captured one has OU ``redisdb`` and neither keyUsage nor
basicConstraints): :func:`make_rs_certificate` makes them that way.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

RS_ORGANIZATION = "RedisLabs Enterprise Cluster"


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM text."""

    cert_pem: str
    key_pem: str
    cert: x509.Certificate
    key: object


def new_key(kind: str = "rsa", bits: int = 2048):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem(key, password: bytes | None = None, fmt: str = "pkcs8") -> str:
    encryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    formats = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
    }
    return key.private_bytes(serialization.Encoding.PEM, formats[fmt], encryption).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(cn: str, ou: str | None = None, org: str = RS_ORGANIZATION) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _san(names) -> x509.SubjectAlternativeName:
    entries = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def _key_usage(*, cert_sign: bool, encipher: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=encipher,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _issue(subject: x509.Name, key, issuer: Issued | None, *, days: int, not_before: dt.datetime | None,
           ca: bool, path_length: int | None, key_usage: x509.KeyUsage | None, extensions=(), hash_alg=None) -> Issued:
    """Sign a certificate for ``key`` (self-signed when ``issuer`` is None): the part every kind shares.

    ``key_usage`` None: neither keyUsage nor basicConstraints, as RS's own certificates."""
    start = not_before or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if key_usage is not None:
        builder = (builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
                   .add_extension(key_usage, critical=True))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    cert = builder.sign(issuer.key if issuer else key, hash_alg or hashes.SHA256())
    return Issued(cert_pem(cert), key_pem(key), cert, key)


def make_ca(cn: str, *, key=None, issuer: Issued | None = None, days: int = 3650, org: str = RS_ORGANIZATION,
            not_before: dt.datetime | None = None, path_length: int | None = None,
            hash_alg=None) -> Issued:
    """A CA certificate: self-signed, or issued by ``issuer`` (an intermediate)."""
    return _issue(_name(cn, org=org), key or new_key(), issuer, days=days, not_before=not_before, ca=True,
                  path_length=path_length, key_usage=_key_usage(cert_sign=True, encipher=False), hash_alg=hash_alg)


def make_leaf(cn: str, sans, issuer: Issued | None, *, key=None, ou: str | None = None, days: int = 365,
              not_before: dt.datetime | None = None, eku=("server", "client"), hash_alg=None,
              org: str = RS_ORGANIZATION, ocsp_url: str | None = None) -> Issued:
    """A server certificate the way RS makes them; self-signed when ``issuer`` is None.
    ``ocsp_url``: the OCSP responder its Authority Information Access names (what RS polls)."""
    key = key or new_key()
    usages = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}
    extensions = []
    if sans:
        extensions.append(_san(sans))
    if eku:
        extensions.append(x509.ExtendedKeyUsage([usages[u] for u in eku]))
    if ocsp_url:
        extensions.append(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]))
    return _issue(_name(cn, ou, org), key, issuer, days=days, not_before=not_before, ca=False, path_length=None,
                  key_usage=_key_usage(cert_sign=False, encipher=isinstance(key, rsa.RSAPrivateKey)),
                  extensions=extensions, hash_alg=hash_alg)


def make_rs_certificate(fqdn: str, sans, *, ou: str | None = None, key=None, days: int = 365) -> Issued:
    """A certificate the way RS generates its own: self-signed, EKU serverAuth + clientAuth,
    no keyUsage and no basicConstraints (a client trusts it by pinning it, or not at all)."""
    key = key or new_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return _issue(_name(fqdn, ou), key, None, days=days, not_before=None, ca=False, path_length=None, key_usage=None,
                  extensions=[_san(sans), x509.ExtendedKeyUsage(usages)])


def cluster_sans(fqdn: str, name: str = "") -> list[str]:
    """The SANs RS documents for a cluster certificate, plus ``localhost`` for the API and UI."""
    sans = [fqdn, f"*.{fqdn}", f"internal.{fqdn}", f"*.internal.{fqdn}"]
    if name in ("api", "cm"):
        sans += ["localhost", "127.0.0.1"]
    return sans
