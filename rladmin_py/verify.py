"""What the endpoints really serve, checked on the wire: the probes behind ``verify tls`` and
behind the check the shell runs after a certificate or TLS change.

For each endpoint one :class:`Row`: the certificate served (subject CN, SHA-256, days left)
against the one the cluster holds under that name; whether the chain verifies with the trust in
use and the name matches; the lowest TLS version it accepts against the configured minimum (a
version below the minimum is offered; where this machine's OpenSSL cannot offer it, the row says
"not testable here" instead of passing); whether a TLS 1.2 cipher outside the configured list is
accepted. Probes have short timeouts, send no credentials and never read key material.

Standard library (``ssl``, ``socket``) plus the certificate checker of :mod:`.certificates`
(imported when a certificate is compared: a sandbox that is not served costs nothing).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field

from .ciphers import PLANES

PROBE_TIMEOUT = 3.0
OK, MISMATCH, UNREACHABLE, NOT_TESTABLE = "OK", "MISMATCH", "UNREACHABLE", "NOT TESTABLE"
#: The TLS versions as the cluster's settings name them (``min_control_TLS_version`` ...), as ``ssl``'s:
#: one table for the probes that offer them and the sandbox that serves them.
TLS_VERSIONS = {"1": ssl.TLSVersion.TLSv1, "1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
BELOW = {"1.3": "1.2", "1.2": "1.1", "1.1": "1"}


@dataclass(frozen=True)
class Endpoint:
    """One place to probe: which certificate it should serve, under which plane's settings."""

    name: str  # api, cm, http, metrics_exporter, db:1
    host: str
    port: int
    certificate: str | None  # None: plain HTTP
    plane: str | None
    server_name: str  # the name a client checks the certificate against


@dataclass
class Row:
    endpoint: str
    address: str
    status: str = OK
    certificate: str | None = None
    served: dict | None = None  # {"cn", "sha256", "days_left"}
    expected_sha256: str | None = None
    chain: str = ""  # "verified", "not verified: ...", "not checked (--insecure)"
    name_match: bool | None = None
    min_version: dict = field(default_factory=dict)  # {"configured", "below": "refused" | "accepted" | "not testable here"}
    cipher_outside: str = ""  # "refused" | "accepted: NAME" | "not testable here" | "not applicable"
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def sha256_der(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def expected_fingerprint(pem: str) -> str | None:
    """SHA-256 of the leaf of a PEM chain (the certificate a server presents first)."""
    from cryptography.hazmat.primitives import serialization

    from .certificates import checks

    try:
        return sha256_der(checks.leaf_of(pem).public_bytes(serialization.Encoding.DER))
    except checks.CertificateProblem:
        return None


def _client_context(*, min_version=None, max_version=None, ciphers: str | None = None) -> ssl.SSLContext:
    """A context that verifies nothing: probes compare what is served themselves."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class Unreachable(OSError):
    """No TCP connection at all (refused, timed out, no route): nothing was said about TLS."""


def connect(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        raise Unreachable(_reason(err)) from None


def handshake(host: str, port: int, ctx: ssl.SSLContext, server_name: str, timeout: float = PROBE_TIMEOUT):
    """(peer certificate DER, TLS version, cipher name) of one handshake. Raises
    :class:`Unreachable` when there is no connection, SSLError/OSError when TLS fails."""
    with connect(host, port, timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True), tls.version(), (tls.cipher() or ("",))[0]


def _offering(version: str | None, cipher: str | None) -> ssl.SSLContext | None:
    """A client context offering only ``version`` (and only ``cipher``, under TLS 1.2 at most),
    or None when this OpenSSL cannot offer it."""
    tls = TLS_VERSIONS[version] if version is not None else None
    old = tls is not None and tls < ssl.TLSVersion.TLSv1_2
    if old and not getattr(ssl, f"HAS_{tls.name}", True):
        return None
    try:
        return _client_context(min_version=tls, max_version=tls or (ssl.TLSVersion.TLSv1_2 if cipher else None),
                               ciphers=cipher or ("DEFAULT:@SECLEVEL=0" if old else None))
    except (ValueError, ssl.SSLError):
        return None


def _local_failure(err: ssl.SSLError) -> bool:
    """OpenSSL here could not even offer what was asked (so the server said nothing)."""
    return (err.reason or "") in ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM")


def offer(endpoint: Endpoint, *, version: str | None = None, cipher: str | None = None) -> str:
    """Offer ``endpoint`` one TLS version (as the settings name it: "1.1") or one TLS 1.2 cipher,
    and say what it did: "accepted", "refused" or "not testable here" (this OpenSSL cannot offer
    it). Raises :class:`Unreachable` when there is no connection: nothing was said about TLS."""
    ctx = _offering(version, cipher)
    if ctx is None:
        return "not testable here"
    try:
        handshake(endpoint.host, endpoint.port, ctx, endpoint.server_name)
    except Unreachable:
        raise
    except ssl.SSLError as err:
        return "not testable here" if _local_failure(err) else "refused"
    except OSError:  # the server closing the connection on it
        return "refused"
    return "accepted"


def _outside_cipher(configured: str | None) -> str | None:
    """A TLS 1.2 ECDHE-RSA cipher this OpenSSL offers that the configured list leaves out."""
    if not configured:
        return None
    from . import ciphers as cipher_rules

    allowed = {c["name"] for c in cipher_rules.tls12_ciphers(configured) or ()}
    mine = cipher_rules.tls12_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES") or []
    for c in mine:
        if c["name"] not in allowed and "RSA" in c["name"]:
            return c["name"]
    return None


def probe(endpoint: Endpoint, cluster: dict, certificates: dict, *, trust: ssl.SSLContext | None,
          now: dt.datetime | None = None, compare_certificate: bool = True) -> Row:
    """Everything ``verify tls`` says of one endpoint (``compare_certificate=False``: only its
    TLS settings, for the check after a ``cluster config`` change)."""
    row = Row(endpoint.name, f"{endpoint.host}:{endpoint.port}", certificate=endpoint.certificate)
    if endpoint.certificate is None:
        return _probe_plain(endpoint, cluster, row)
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        der, version, _ = handshake(endpoint.host, endpoint.port, _client_context(), endpoint.server_name)
    except (OSError, ssl.SSLError) as err:
        row.status = UNREACHABLE
        row.problems.append(f"no TLS handshake: {_reason(err)}")
        return row
    from cryptography import x509

    from .certificates import checks

    leaf = x509.load_der_x509_certificate(der)
    row.served = {"cn": checks.common_name(leaf.subject), "sha256": sha256_der(der),
                  "days_left": (leaf.not_valid_after_utc - now).days, "tls_version": version}
    if compare_certificate:
        row.expected_sha256 = expected_fingerprint(certificates.get(f"{endpoint.certificate}_cert") or "")
        if row.expected_sha256 != row.served["sha256"]:
            row.problems.append(f"serves another certificate than the cluster's {endpoint.certificate} certificate")
        _check_trust(endpoint, trust, row)
    version_field, cipher_field = PLANES[endpoint.plane]
    configured = str(cluster.get(version_field) or "1.2")
    row.min_version = {"configured": configured, "below": _probe_below(endpoint, configured)}
    if row.min_version["below"] == "accepted":
        row.problems.append(f"accepts TLS {BELOW.get(configured)} although the minimum is {configured}")
    row.cipher_outside = _probe_cipher(endpoint, configured, cluster.get(cipher_field))
    if row.cipher_outside.startswith("accepted"):
        row.problems.append(f"accepts a cipher outside {cipher_field} ({row.cipher_outside.split(': ', 1)[1]})")
    if row.problems:
        row.status = MISMATCH
    elif "not testable here" in (row.min_version["below"], row.cipher_outside):
        row.status = NOT_TESTABLE
    return row


def _check_trust(endpoint: Endpoint, trust: ssl.SSLContext | None, row: Row) -> None:
    if trust is None:
        row.chain = "not checked (--insecure)"
        return
    try:
        with connect(endpoint.host, endpoint.port) as sock:
            with trust.wrap_socket(sock, server_hostname=endpoint.server_name):
                pass
        row.chain, row.name_match = "verified", True
    except ssl.SSLCertVerificationError as err:
        reason = err.verify_message or str(err)
        if "hostname" in reason.lower() or "mismatch" in reason.lower():
            row.chain, row.name_match = "verified", False
            row.problems.append(f"the certificate does not name {endpoint.server_name}")
        else:
            row.chain = f"not verified: {reason}"
            row.problems.append(f"the chain does not verify with the trust in use ({reason})")
    except (OSError, ssl.SSLError) as err:
        row.chain = f"not verified: {_reason(err)}"
        row.problems.append(f"the verifying handshake failed ({_reason(err)})")


def _probe_below(endpoint: Endpoint, configured: str) -> str:
    below = BELOW.get(configured)
    if below is None:
        return "not testable here"
    try:
        return offer(endpoint, version=below)
    except Unreachable:
        return "unreachable"


def _probe_cipher(endpoint: Endpoint, configured_version: str, configured_list) -> str:
    if configured_version == "1.3":
        return "not applicable (TLS 1.3 only)"
    name = _outside_cipher(configured_list if isinstance(configured_list, str) else None)
    if name is None:
        return "none to try (the list allows every ECDHE-RSA cipher this machine offers)"
    try:
        said = offer(endpoint, cipher=name)
    except Unreachable:
        return "unreachable"
    return f"accepted: {name}" if said == "accepted" else said


def _probe_plain(endpoint: Endpoint, cluster: dict, row: Row) -> Row:
    """The plain-HTTP port: it must answer while ``http_support`` is enabled and refuse otherwise."""
    enabled = bool(cluster.get("http_support", True))
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(b"GET /v1/bdbs HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % endpoint.host.encode())
            answered = sock.recv(16).startswith(b"HTTP/")
    except OSError as err:
        answered = False
        reason = _reason(err)
    else:
        reason = "no HTTP answer"
    row.min_version = {"configured": "plain HTTP", "below": "not applicable"}
    row.cipher_outside = "not applicable"
    if enabled and not answered:
        row.status = UNREACHABLE
        row.problems.append(f"http_support is enabled but the port does not answer ({reason})")
    elif not enabled and answered:
        row.status = MISMATCH
        row.problems.append("answers plain HTTP although http_support is disabled")
    else:
        row.chain = "answers plain HTTP" if answered else "refuses connections (http_support disabled)"
    return row


def _reason(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError):
        return err.reason or str(err)
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timed out"
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def trust_context(ca_cert: str | None, insecure: bool) -> ssl.SSLContext | None:
    """The trust the shell uses: the ``--ca-cert`` file, or the system store; None with -k."""
    if insecure:
        return None
    ctx = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
    return ctx


def wait_served(endpoint: Endpoint, expected_sha256: str | None, seconds: float) -> str:
    """Whether a new connection gets the expected certificate within ``seconds`` (short polls):
    "served", "old" (another certificate still) or "unreachable"."""
    deadline = time.monotonic() + seconds
    verdict = "unreachable"
    while True:
        try:
            der, _, _ = handshake(endpoint.host, endpoint.port, _client_context(), endpoint.server_name, timeout=1.0)
            if sha256_der(der) == expected_sha256:
                return "served"
            verdict = "old"
        except Unreachable:
            if verdict == "unreachable":
                return verdict  # nothing listens there: waiting will not change that
        except (OSError, ssl.SSLError):
            verdict = "old"
        if time.monotonic() >= deadline:
            return verdict
        time.sleep(0.1)


def wait_row(endpoint: Endpoint, cluster: dict, certificates: dict, seconds: float) -> Row:
    """Probe the TLS settings of an endpoint until they match the configuration (at most
    ``seconds``): the last row. The certificate is not compared (``certificates`` may be empty)."""
    deadline = time.monotonic() + seconds
    while True:
        row = probe(endpoint, cluster, certificates, trust=None, compare_certificate=False)
        if row.status != MISMATCH or time.monotonic() >= deadline:
            return row
        time.sleep(0.1)


@dataclass
class Followed:
    """After a change, what the endpoints it touches showed: one line each (no prefix; the shell
    adds its own, the Ansible modules return them as data)."""

    verified: list = field(default_factory=list)
    not_reachable: list = field(default_factory=list)
    failures: list = field(default_factory=list)


def followed(found: list[Endpoint], *, certificates: dict | None = None, planes: set | None = None,
             cluster: dict | None = None, seconds: float) -> Followed:
    """Whether the endpoints follow a change, within ``seconds`` each (new connections): those
    serving one of ``certificates`` (name -> new PEM) serve it; those of ``planes`` refuse what is
    below the minimum version and the ciphers outside the lists (``cluster``: its settings).
    The one check after a change, for the shell and the Ansible modules."""
    out = Followed()
    for name, pem in (certificates or {}).items():
        expected, serving = expected_fingerprint(pem), [e for e in found if e.certificate == name and e.plane]
        if found and not serving:  # (nothing found at all: an unserved sandbox, nothing to verify)
            out.not_reachable.append(f"no endpoint reachable from here serves the {name} certificate: not verified")
        for e in serving:
            where = f"{e.host}:{e.port} ({e.name})"
            verdict = wait_served(e, expected, seconds)
            if verdict == "served":
                out.verified.append(f"{where} serves the new {name} certificate")
            elif verdict == "old":
                out.failures.append(f"{where} still serves the old {name} certificate after {seconds:g} s")
            else:
                out.not_reachable.append(f"{where} is not reachable from here: not verified")
    for e in found:
        if not planes or e.plane not in planes:
            continue
        where = f"{e.host}:{e.port} ({e.name})"
        row = wait_row(e, cluster or {}, {}, seconds)
        if row.status == UNREACHABLE:
            out.not_reachable.append(f"{where} is not reachable from here: not verified")
        elif row.problems:
            out.failures.append(f"{where} {row.problems[0]} after {seconds:g} s")
        else:
            out.verified.append(f"{where} minimum TLS {row.min_version['configured']}: below it "
                                f"{row.min_version['below']}; a cipher outside the list: {row.cipher_outside}")
    return out


# -- which endpoints a cluster has -----------------------------------------------------------------
METRICS_PORT = 8070


def endpoints(backend, cluster: dict, bdbs: list[dict]) -> list[Endpoint]:
    """The TLS endpoints (and the plain-HTTP port) of a cluster, where this machine reaches them:
    on the sandbox, the ones its ``--serve`` serves (none when it is not served); on a live
    cluster, the host of the cluster URL, and each TLS database's DNS name when it resolves."""
    from urllib.parse import urlsplit

    if backend.kind == "sandbox":
        served = backend.served()
        if not served:
            return []
        host, ports = served["host"], served["ports"]
        server_name = cluster.get("name") or host  # clients check the cluster's name, as on RS
    else:
        url = urlsplit(backend.url)
        host, server_name = url.hostname or "", url.hostname or ""
        ports = {"api": url.port or 9443, "cm": cluster.get("cm_port", 8443), "http": cluster.get("cnm_http_port", 8080),
                 "metrics_exporter": METRICS_PORT}
    out = [Endpoint("api", host, int(ports["api"]), "api", "control", server_name),
           Endpoint("cm", host, int(ports["cm"]), "cm", "control", server_name),
           Endpoint("http", host, int(ports["http"]), None, None, server_name),
           Endpoint("metrics_exporter", host, int(ports["metrics_exporter"]), "metrics_exporter", "control", server_name)]
    for bdb in bdbs:
        if bdb.get("tls_mode") != "enabled":
            continue
        for ep in bdb.get("endpoints") or []:
            db_host, name = host, server_name
            dns = ep.get("dns_name")
            if backend.kind != "sandbox" and dns and _resolves(dns):
                db_host = name = dns
            elif backend.kind != "sandbox" and dns:
                name = dns  # reached through the cluster's host; the certificate must still name the endpoint
            if backend.kind == "sandbox" and dns:
                name = dns
            port = ports.get("database") if backend.kind == "sandbox" else ep.get("port")
            if port:
                out.append(Endpoint(f"db:{bdb.get('uid')}", db_host, int(port), "proxy", "data", name))
    return out


def _resolves(name: str) -> bool:
    try:
        socket.getaddrinfo(name, None)
        return True
    except (OSError, UnicodeError):
        return False
