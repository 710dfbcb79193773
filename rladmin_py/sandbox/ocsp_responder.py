"""A real OCSP responder (RFC 6960) for the sandbox, on loopback.

Why: RS polls the OCSP responder named in the proxy certificate and staples its answer on
database connections (``cluster ocsp``, rs-tls.md). The practice certificates of ``sandbox
make-certs`` name this responder, so ``cluster ocsp test_certificate``, ``POST /v1/ocsp/test``
and ``openssl ocsp`` get a real, signed answer without any outside service.

What it knows comes from the sandbox state, key ``ocsp_responder``: ``{"port": int, "issuers":
[{"certificate": PEM, "key": PEM, "revoked": {"<serial>": "<ISO time>"}, "issued": ["<serial>"]}]}``
(serials as decimal strings). Each answer is signed by the issuing CA itself: GOOD for a serial
the CA issued, REVOKED (with its time) for one it revoked, UNKNOWN for any other, and
``unauthorized`` for an issuer it does not serve. Issuers are re-read through a callable on every
request (parsed keys are cached), so a registration is in force for the next query.

Plain HTTP on :class:`.httpserver.EndpointServer`, as every endpoint of ``--serve`` (request
deadlines, a connection cap), plus cryptography's ``OCSPResponseBuilder``; POST, and GET with the
base64 request in the path (RFC 6960 A.1). The CA keys are never logged.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import os
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.x509 import ocsp

from .httpserver import EndpointServer

MAX_REQUEST = 64 * 1024  # bytes; an OCSP request for one certificate is about 100
#: next_update - this_update of every answer [guess: an hour, RS's default query_frequency].
VALIDITY = dt.timedelta(hours=1)
HOST = "127.0.0.1"
#: Issuers kept per sandbox: every ``make-certs`` run makes a new practice CA (its key included),
#: so the oldest practice sets stop being answered (``unauthorized``) rather than the state grow.
MAX_ISSUERS = 16
_STATUS = ocsp.OCSPResponseStatus


def _tlv(der: bytes, i: int) -> tuple[int, int]:
    """(start, end) of the contents of the DER element at ``i``."""
    length, i = der[i + 1], i + 2
    if length & 0x80:
        n = length & 0x7F
        length, i = int.from_bytes(der[i:i + n], "big"), i + n
    return i, i + length


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING of a certificate (what an OCSP issuer key hash is over)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    start, _ = _tlv(spki, 0)  # SEQUENCE { AlgorithmIdentifier, BIT STRING }
    _, algorithm_end = _tlv(spki, start)
    bits_start, bits_end = _tlv(spki, algorithm_end)
    return spki[bits_start + 1:bits_end]  # the first content byte counts unused bits (0)


def _digest(algorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


class _Issuer:
    """One CA the responder answers for, parsed once."""

    def __init__(self, cert_pem: str, key_pem: str):
        self.cert = x509.load_pem_x509_certificate(cert_pem.encode())
        self.key = serialization.load_pem_private_key(key_pem.encode(), None)
        self.name_der = self.cert.subject.public_bytes()
        self.key_bits = _key_bits(self.cert)

    def matches(self, request) -> bool:
        return (_digest(request.hash_algorithm, self.name_der) == request.issuer_name_hash
                and _digest(request.hash_algorithm, self.key_bits) == request.issuer_key_hash)


def _when(text) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@functools.lru_cache(maxsize=1)
def _throwaway_key():
    return ec.generate_private_key(ec.SECP256R1())


def _add_single(builder, issuer: _Issuer, request, status, now, revoked_at):
    """One SingleResponse echoing the request's CertID. cryptography without ``add_response_by_hash``
    needs a certificate with that serial: a stand-in, signed by a throwaway key (never by the CA),
    from which only the serial is read."""
    kw = dict(algorithm=request.hash_algorithm, cert_status=status, this_update=now, next_update=now + VALIDITY,
              revocation_time=revoked_at, revocation_reason=None)
    if hasattr(builder, "add_response_by_hash"):
        return builder.add_response_by_hash(issuer_name_hash=request.issuer_name_hash,
                                            issuer_key_hash=request.issuer_key_hash,
                                            serial_number=request.serial_number, **kw)
    key = _throwaway_key()
    stand_in = (x509.CertificateBuilder().subject_name(issuer.cert.subject).issuer_name(issuer.cert.subject)
                .public_key(key.public_key()).serial_number(request.serial_number)
                .not_valid_before(now).not_valid_after(now + VALIDITY).sign(key, hashes.SHA256()))
    return builder.add_response(cert=stand_in, issuer=issuer.cert, **kw)


class OCSPResponder:
    """An OCSP responder on ``host:port`` (port 0: a free one) for the issuers ``load_issuers()``
    gives. ``limits``: :class:`.httpserver.EndpointServer`'s (``request_timeout``, ``max_connections``)."""

    def __init__(self, load_issuers: Callable[[], list[dict]], host: str = HOST, port: int = 0, *,
                 log: Callable[[str], None] | None = None, **limits):
        self.load_issuers = load_issuers
        self.host = host
        self._port = port
        self._log = log
        self._limits = limits
        self._parsed: dict[tuple[str, str], _Issuer] = {}
        self._lock = threading.Lock()
        self._server: EndpointServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        """Bind (OSError when the port is taken) and serve in a background thread."""
        server = EndpointServer((self.host, self._port), _Handler, name="ocsp_responder", log=self._log,
                                request_log=self._log is not None, **self._limits)
        server.responder = self  # what the handlers answer from
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25},
                                        name="rladmin-serve-ocsp_responder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._port = server.server_address[1]
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _issuers(self) -> list[tuple[_Issuer, dict]]:
        out, parsed = [], {}
        for entry in self.load_issuers() or ():
            try:
                ident = (entry["certificate"], entry["key"])
                with self._lock:
                    issuer = self._parsed.get(ident) or _Issuer(*ident)
                parsed[ident] = issuer
                out.append((issuer, entry))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # a damaged entry answers nothing; the others still do
        with self._lock:
            self._parsed = parsed  # drops issuers no longer registered
        return out

    def answer(self, der: bytes) -> tuple[bytes, str]:
        """The DER OCSP response to a DER request, and what it said (for the log line)."""
        try:
            request = ocsp.load_der_ocsp_request(der)
            serial = request.serial_number
        except ValueError:  # not DER, or more than one certificate asked about
            return ocsp.OCSPResponseBuilder.build_unsuccessful(_STATUS.MALFORMED_REQUEST).public_bytes(
                serialization.Encoding.DER), "malformed_request"
        for issuer, entry in self._issuers():
            if issuer.matches(request):
                break
        else:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(_STATUS.UNAUTHORIZED).public_bytes(
                serialization.Encoding.DER), "unauthorized"
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        revoked = entry.get("revoked") or {}
        revoked_at = None
        if str(serial) in revoked:
            status = ocsp.OCSPCertStatus.REVOKED
            revoked_at = min(_when(revoked[str(serial)]) or now, now)
        elif str(serial) in set(map(str, entry.get("issued") or ())):
            status = ocsp.OCSPCertStatus.GOOD
        else:
            status = ocsp.OCSPCertStatus.UNKNOWN
        try:
            builder = _add_single(ocsp.OCSPResponseBuilder(), issuer, request, status, now, revoked_at)
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
                builder = builder.add_extension(nonce, critical=False)
            except x509.ExtensionNotFound:
                pass
            plain = isinstance(issuer.key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
            response = builder.sign(issuer.key, None if plain else hashes.SHA256())
        except (ValueError, TypeError):
            return ocsp.OCSPResponseBuilder.build_unsuccessful(_STATUS.INTERNAL_ERROR).public_bytes(
                serialization.Encoding.DER), "internal_error"
        return response.public_bytes(serialization.Encoding.DER), status.name

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(line)


class _Handler(BaseHTTPRequestHandler):
    server_version = "rladmin-py-ocsp"
    sys_version = ""
    timeout = 10  # seconds a connection may wait for its request's first byte (the request: REQUEST_TIMEOUT)

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.strip().isdigit():
            return self._plain(411, "Content-Length required")
        if int(length) > MAX_REQUEST:
            return self._plain(413, "request too large")
        self._respond(self.rfile.read(int(length)))

    def do_GET(self) -> None:
        encoded = urllib.parse.unquote(self.path.split("?", 1)[0].lstrip("/"))
        try:
            der = base64.b64decode(encoded, validate=True) if len(encoded) <= MAX_REQUEST else b""
        except (binascii.Error, ValueError):
            der = b""
        self._respond(der)

    def _respond(self, der: bytes) -> None:
        body, said = self.server.responder.answer(der)
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        self.server.responder.log(f"ocsp_responder {self.client_address[0]}:{self.client_address[1]} "
                                  f"{self.command} {said}")

    def _plain(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # one line of our own per answer, never to stderr
        pass


# -- registering issuers in a sandbox state ------------------------------------------------------
def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (bound with port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def register_issuer(state: dict, ca_cert_pem: str, ca_key_pem: str, revoked: dict[str, str],
                    issued=()) -> str:
    """Make the sandbox's responder answer for a CA: store it (replacing an entry of the same CA
    certificate) in ``state["ocsp_responder"]``, choosing and keeping a port when there is none.
    ``revoked``: {serial: ISO time}; ``issued``: the serials it answers GOOD for. Returns the
    responder URL to put in certificates (``http://127.0.0.1:<port>/``)."""
    section = state.get("ocsp_responder")
    if not isinstance(section, dict):
        section = state["ocsp_responder"] = {}
    port = port_of(state)
    if port is None:
        section["port"] = port = free_port()
    der = x509.load_pem_x509_certificate(ca_cert_pem.encode()).public_bytes(serialization.Encoding.DER)

    def same_ca(entry) -> bool:
        try:
            return x509.load_pem_x509_certificate(entry["certificate"].encode()).public_bytes(
                serialization.Encoding.DER) == der
        except (KeyError, TypeError, ValueError, AttributeError):
            return False

    issuers = [e for e in section.get("issuers") or [] if isinstance(e, dict) and not same_ca(e)]
    revoked = {str(k): str(v) for k, v in revoked.items()}
    issuers.append({"certificate": ca_cert_pem, "key": ca_key_pem, "revoked": revoked,
                    "issued": sorted({str(s) for s in issued} | set(revoked))})
    section["issuers"] = issuers[-MAX_ISSUERS:]
    return f"http://{HOST}:{port}/"


def registrar(sandbox) -> Callable[[str, str, dict, list], str]:
    """A ``register_ocsp`` callable for :func:`rladmin_py.certificates.practice.write_practice_certs`
    that registers with ``sandbox``: a SandboxCluster (or SandboxBackend: its own store, so a
    script's batch is respected, never locked twice) or a state file path."""
    def register(ca_cert_pem: str, ca_key_pem: str, revoked: dict, issued) -> str:
        from .cluster import SandboxCluster

        cluster = SandboxCluster(os.fspath(sandbox)) if isinstance(sandbox, (str, os.PathLike)) else sandbox
        try:
            with cluster.store.update() as state:
                return register_issuer(state, ca_cert_pem, ca_key_pem, revoked, issued)
        finally:
            if cluster is not sandbox:
                cluster.close()
    return register


def issuers_of(state: dict | None) -> list[dict]:
    """The issuers a state registers (for ``load_issuers``); [] when it has none."""
    section = (state or {}).get("ocsp_responder")
    issuers = section.get("issuers") if isinstance(section, dict) else None
    return issuers if isinstance(issuers, list) else []


def port_of(state: dict | None) -> int | None:
    """The responder port a state records, or None."""
    section = (state or {}).get("ocsp_responder")
    port = section.get("port") if isinstance(section, dict) else None
    return port if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 else None
