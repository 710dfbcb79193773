"""OCSP client (RFC 6960): ask a certificate's responder whether it is GOOD, REVOKED or UNKNOWN.

Why: RS staples the OCSP status of the proxy certificate on database connections and polls the
responder named in the certificate's Authority Information Access extension (``cluster ocsp``,
rs-tls.md). This module is that query, done for real: the request for the leaf (the issuer is
the next certificate of the chain), one bounded HTTP POST, and a response that is trusted only
when it is signed by the issuer or by a responder certificate the issuer delegated
(id-kp-OCSPSigning) and is about this very certificate.

HTTP is ``http.client`` (what ``urllib.request`` runs on): it follows no redirects, picks up no
proxy from the environment, and gives the socket, so the whole exchange fits in ``timeout``
seconds even against a responder that drips bytes. Only ``http://`` responders (as RFC 6960
responders are, and RS's documentation shows).
"""
from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import os
import socket
import time
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from ..terminal import escape

MAX_RESPONSE = 64 * 1024  # bytes: an OCSP response for one certificate is a few KB
CLOCK_SKEW = dt.timedelta(minutes=5)  # leeway for this_update / next_update against our clock


class OCSPProblem(Exception):
    """Why no OCSP status could be had. ``message``: one line for a user; ``error_code``: snake_case
    (RS's ``no_responder_url`` and ``invalid_ocsp_response`` where RS has one)."""

    def __init__(self, message: str, error_code: str = "invalid_ocsp_response"):
        message = escape(message)  # it may quote a responder's answer
        super().__init__(message)
        self.message = message
        self.error_code = error_code


def _chain(chain_pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(chain_pem.encode())
    except (ValueError, UnicodeError):
        raise OCSPProblem("no PEM certificate found", "invalid_certificate") from None


def _uri_of(leaf: x509.Certificate) -> str | None:
    try:
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                desc.access_location, x509.UniformResourceIdentifier):
            return desc.access_location.value
    return None


def responder_url(chain_pem: str) -> str | None:
    """The OCSP URI in the leaf's (the first certificate's) Authority Information Access, or None."""
    return _uri_of(_chain(chain_pem)[0])


def http_date(when: dt.datetime | None) -> str | None:
    """RFC 1123 in GMT, as RS shows OCSP dates: ``Wed, 22 Dec 2021 12:50:11 GMT``."""
    if when is None:
        return None
    if when.tzinfo is None:  # cryptography < 43 gives naive UTC datetimes
        when = when.replace(tzinfo=dt.timezone.utc)
    return email.utils.format_datetime(when.astimezone(dt.timezone.utc), usegmt=True)


def _utc(obj, name: str) -> dt.datetime | None:
    value = getattr(obj, f"{name}_utc") if hasattr(obj, f"{name}_utc") else getattr(obj, name)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def query(chain_pem: str, *, timeout: float = 5.0) -> dict:
    """Ask the leaf's OCSP responder for its status; raises :class:`OCSPProblem` unless the answer
    is a successful, properly signed response about this certificate."""
    chain = _chain(chain_pem)
    leaf = chain[0]
    url = _uri_of(leaf)
    if url is None:
        raise OCSPProblem("the certificate has no OCSP responder URI (no OCSP entry in its Authority "
                          "Information Access extension)", "no_responder_url")
    if len(chain) < 2:
        raise OCSPProblem("an OCSP query needs the issuer's certificate: put the issuing CA certificate "
                          "after the leaf in the file", "no_issuer_certificate")
    issuer = chain[1]
    if leaf.issuer != issuer.subject:
        raise OCSPProblem("the second certificate of the chain did not issue the first: an OCSP query "
                          "needs the leaf followed by its issuer", "no_issuer_certificate")
    nonce = os.urandom(16)
    request = (ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1())
               .add_extension(x509.OCSPNonce(nonce), critical=False).build())
    body = _post(url, request.public_bytes(Encoding.DER), timeout)
    try:
        response = ocsp.load_der_ocsp_response(body)
    except ValueError:
        raise OCSPProblem(f"the OCSP responder {url} answered with something that is not an OCSP response") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        status = response.response_status.name.lower()
        why = " (it does not serve this certificate's issuer)" if status == "unauthorized" else ""
        raise OCSPProblem(f"the OCSP responder {url} answered '{status}'{why}")
    _check_signature(response, issuer, url)
    single = _single_for(response, request, url)
    _check_nonce(response, nonce, url)
    now = dt.datetime.now(dt.timezone.utc)
    this_update, next_update = _utc(single, "this_update"), _utc(single, "next_update")
    if this_update > now + CLOCK_SKEW:
        raise OCSPProblem(f"the OCSP response from {url} is dated in the future ({http_date(this_update)})")
    if next_update is not None and next_update < now - CLOCK_SKEW:
        raise OCSPProblem(f"the OCSP response from {url} is stale (next update was {http_date(next_update)})")
    revoked = single.certificate_status == ocsp.OCSPCertStatus.REVOKED
    reason = single.revocation_reason if revoked else None
    return {
        "status": single.certificate_status.name,  # GOOD, REVOKED or UNKNOWN
        "responder_url": url,
        "produced_at": http_date(_utc(response, "produced_at")),
        "this_update": http_date(this_update),
        "next_update": http_date(next_update),
        "revocation_time": http_date(_utc(single, "revocation_time")) if revoked else None,
        "revocation_reason": reason.value if reason is not None else None,
    }


def _post(url: str, der: bytes, timeout: float) -> bytes:
    """POST the request; the body of a 200 answer, all within ``timeout`` seconds and MAX_RESPONSE bytes."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise OCSPProblem(f"the OCSP responder URI {url} is not an http:// URL", "unsupported_responder_url")
    try:
        port = parts.port or 80
    except ValueError:
        raise OCSPProblem(f"the OCSP responder URI {url} has an invalid port", "unsupported_responder_url") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        return left

    conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    try:
        conn.connect()
        sock = conn.sock
        sock.settimeout(remaining())
        conn.request("POST", path, body=der, headers={"Content-Type": "application/ocsp-request",
                                                      "Accept": "application/ocsp-response"})
        sock.settimeout(remaining())
        resp = conn.getresponse()
        if resp.status != 200:
            raise OCSPProblem(f"the OCSP responder {url} answered HTTP {resp.status} {resp.reason}".rstrip(),
                              "responder_http_error")
        length = resp.getheader("Content-Length")
        if length and length.strip().isdigit() and int(length) > MAX_RESPONSE:
            raise OCSPProblem(f"the OCSP responder {url} sent more than {MAX_RESPONSE // 1024} KB")
        data = b""
        while True:
            sock.settimeout(remaining())
            chunk = resp.read1(MAX_RESPONSE + 1 - len(data))
            if not chunk:
                return data
            data += chunk
            if len(data) > MAX_RESPONSE:
                raise OCSPProblem(f"the OCSP responder {url} sent more than {MAX_RESPONSE // 1024} KB")
    except (socket.timeout, TimeoutError):
        raise OCSPProblem(f"the OCSP responder {url} did not answer within {timeout:g} s",
                          "responder_timeout") from None
    except ConnectionRefusedError:
        raise OCSPProblem(f"cannot reach the OCSP responder {url}: connection refused",
                          "responder_unreachable") from None
    except socket.gaierror as err:
        raise OCSPProblem(f"cannot reach the OCSP responder {url}: unknown host ({err.strerror})",
                          "responder_unreachable") from None
    except http.client.HTTPException as err:
        raise OCSPProblem(f"the OCSP responder {url} did not answer in HTTP ({type(err).__name__})") from None
    except OSError as err:
        raise OCSPProblem(f"cannot reach the OCSP responder {url}: {err.strerror or err}",
                          "responder_unreachable") from None
    finally:
        conn.close()


def _verify(public_key, signature: bytes, data: bytes, hash_alg) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hash_alg)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_alg))
    elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        public_key.verify(signature, data)
    else:
        raise InvalidSignature("unsupported key type")


def _names(response, cert: x509.Certificate) -> bool:
    """Whether ``cert`` is the one the response's ResponderID names (by name or by key hash)."""
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    return response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _check_signature(response, issuer: x509.Certificate, url: str) -> None:
    """RFC 6960 4.2.2.2: signed by the issuing CA itself, or by a certificate it issued for OCSP signing."""
    signer = issuer if _names(response, issuer) else None
    if signer is None:
        for cert in response.certificates:
            if not _names(response, cert):
                continue
            try:
                cert.verify_directly_issued_by(issuer)
                eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                continue
            if ExtendedKeyUsageOID.OCSP_SIGNING in eku:
                signer = cert
                break
    if signer is None:
        raise OCSPProblem(f"the OCSP response from {url} is not signed by the certificate's issuer "
                          "nor by a responder it delegated")
    try:
        _verify(signer.public_key(), response.signature, response.tbs_response_bytes,
                response.signature_hash_algorithm)
    except (InvalidSignature, TypeError, ValueError):
        raise OCSPProblem(f"the signature of the OCSP response from {url} does not verify") from None


def _single_for(response, request, url: str):
    for single in response.responses:
        if (single.serial_number == request.serial_number
                and single.issuer_key_hash == request.issuer_key_hash
                and single.issuer_name_hash == request.issuer_name_hash):
            return single
    raise OCSPProblem(f"the OCSP response from {url} is about another certificate")


def _check_nonce(response, nonce: bytes, url: str) -> None:
    """A responder need not echo the nonce (RFC 5019 ones never do), but an echo must be ours."""
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return
    if echoed != nonce:
        raise OCSPProblem(f"the OCSP response from {url} answers another request (nonce mismatch)")


def format_status(result: dict) -> list[str]:
    """The lines rladmin prints for an OCSP status (``cluster ocsp status`` and ``test_certificate``).

    As content/operate/rs/references/cli-utilities/rladmin/cluster/ocsp.md shows them: the status
    line, then ``produced_at``, ``responder_url``, ``revocation_time``, ``this_update``, in that
    order. The page shows only a REVOKED status; for GOOD and UNKNOWN the ``revocation_time``
    line is left out [guess: there is no revocation time to show]. ``next_update`` is not shown
    (the page's output has none; ``GET /v1/ocsp/status`` has it). Takes the dict of :func:`query`
    or an RS ocsp_status object (``cert_status``).
    """
    status = result.get("status") or result.get("cert_status") or "UNKNOWN"
    lines = [f"OCSP certificate status is: {status}"]
    for key in ("produced_at", "responder_url", "revocation_time", "this_update"):
        if result.get(key):
            lines.append(f"{key}: {result[key]}")
    return lines
