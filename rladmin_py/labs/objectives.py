"""The objectives' vocabulary: typed checks of what the sandbox's served endpoints show.

Each check takes the :class:`Observer` (the served endpoints, the lab directory) and the
objective's fields, and returns ``(met, observed)``: whether the wire shows it, and one line of
what was seen. Nothing here reads the state to decide: a TLS handshake, an HTTP request, a Redis
``SET``/``GET`` through the database endpoint, the metrics exporter's values or a ``verify tls``
row decides. The probes are :mod:`rladmin_py.verify`'s (one set, shared with ``verify tls``);
this module only composes them.

Checks (the fields an objective gives):

``ca_signed``       endpoint (api | cm | metrics_exporter | database), ca: the chain verifies
                    against the lab's CA file and names the endpoint (the ``verify tls`` row)
``rest_answers``    ca: ``GET /v1/cluster`` answers 200 over TLS verified with that CA
``tls_versions``    endpoint, refused: [versions], accepted: [versions]
``http_refused``    the plain-HTTP port refuses connections
``valid_days``      endpoint, min_days: the served certificate is valid that many more days
``metrics_days``    certificate, min_days: the metrics exporter says so for every node
``metrics_match``   certificate, endpoint: every node holds (metrics exporter) the certificate
                    the endpoint serves
``redis_set_get``   ca (optional): a TLS client SETs and GETs a key through the database endpoint
``ocsp_good``       endpoint, issuer: the responder the served certificate names says GOOD
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import re
import secrets
import ssl

from .. import verify

READ_LIMIT = 1 << 20
LABELS = {"api": "REST API", "cm": "Cluster Manager UI", "http": "plain-HTTP REST API",
          "metrics_exporter": "metrics exporter", "database": "database endpoint"}


class _Served:
    """What :func:`rladmin_py.verify.endpoints` asks of a sandbox: where it is served."""

    kind = "sandbox"

    def __init__(self, served: dict):
        self._served = served

    def served(self) -> dict:
        return self._served


class Observer:
    """The served endpoints of one sandbox, as one check run sees them."""

    def __init__(self, backend, directory: str, served: dict):
        self.directory = directory
        self.cluster = backend.get_cluster()
        self.held = backend.get_certificates()
        self.credentials = backend.credentials()
        self.database_off = served.get("database_off")
        found = verify.endpoints(_Served(served), self.cluster, backend.get_bdbs())
        self.endpoints = {("database" if e.name.startswith("db:") else e.name): e for e in found}
        self._leaves: dict = {}
        self._metrics = None

    def endpoint(self, name: str) -> verify.Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            if name == "database":
                why = self.database_off or "db:1 has no TLS endpoint (tls_mode is not enabled)"
                raise Unobserved(f"the database endpoint is not served with TLS: {why}") from None
            raise Unobserved(f"the {LABELS.get(name, name)} is not served") from None

    def file(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def leaf(self, endpoint: verify.Endpoint):
        """The certificate a new connection to ``endpoint`` gets (one handshake, then remembered)."""
        from cryptography import x509

        if endpoint.name not in self._leaves:
            der, _, _ = verify.handshake(endpoint.host, endpoint.port, verify._client_context(), endpoint.server_name)
            self._leaves[endpoint.name] = x509.load_der_x509_certificate(der)
        return self._leaves[endpoint.name]

    def metrics(self) -> dict:
        """{(node, logical_name): seconds left} from the metrics exporter's ``GET /v2``."""
        if self._metrics is None:
            status, body = https_get(self.endpoint("metrics_exporter"), "/v2", None)
            if status != 200:
                raise Unobserved(f"the metrics exporter answered {status}")
            out = {}
            for line in body.decode("utf-8", "replace").splitlines():
                m = re.match(r"^node_cert_expires_in_seconds\{(.*)\}\s+(\S+)$", line)
                if m:
                    labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
                    out[(labels.get("node", "?"), labels.get("logical_name", "?"))] = float(m.group(2))
            self._metrics = out
        return self._metrics


class Unobserved(Exception):
    """Nothing to observe (an endpoint not served, an answer that is not one): not met."""


# -- small probes, composed from verify's ----------------------------------------------------------
def _tls(endpoint: verify.Endpoint, trust: ssl.SSLContext | None) -> ssl.SSLSocket:
    sock = verify.connect(endpoint.host, endpoint.port)
    try:
        return (trust or verify._client_context()).wrap_socket(sock, server_hostname=endpoint.server_name)
    except BaseException:
        sock.close()
        raise


def _read_all(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while len(data) < READ_LIMIT:
        try:
            chunk = tls.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        data += chunk
    return data


def https_get(endpoint: verify.Endpoint, path: str, trust: ssl.SSLContext | None,
              auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """One ``GET`` over a new TLS connection (verified with ``trust``; None: not verified)."""
    headers = f"GET {path} HTTP/1.1\r\nHost: {endpoint.server_name}:{endpoint.port}\r\nConnection: close\r\n"
    if auth:
        headers += "Authorization: Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() + "\r\n"
    with _tls(endpoint, trust) as tls:
        tls.sendall((headers + "\r\n").encode())
        raw = _read_all(tls)
    head, _, body = raw.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not m:
        raise Unobserved(f"{endpoint.host}:{endpoint.port} did not answer HTTP")
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return int(m.group(1)), body


def _resp(tls: ssl.SSLSocket, reader, *words: str) -> bytes:
    """One Redis command in RESP, and the first line of its answer (a bulk string's value too)."""
    tls.sendall(f"*{len(words)}\r\n".encode() + b"".join(f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words))
    line = reader.readline(READ_LIMIT).rstrip(b"\r\n")
    if line.startswith(b"$") and line != b"$-1":
        line = reader.read(int(line[1:]) + 2)[:-2]
    return line


def _describe(cert) -> str:
    from ..certificates import checks

    subject, issuer = checks.common_name(cert.subject), checks.common_name(cert.issuer)
    return f"CN={subject} issued by {'itself' if cert.issuer == cert.subject else repr(issuer)}"


def _where(endpoint: verify.Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}"


def _ca_name(path: str) -> str:
    from ..certificates import checks

    try:
        with open(path, encoding="utf-8") as fh:
            return checks.common_name(checks.leaf_of(fh.read()).subject)
    except (OSError, checks.CertificateProblem):
        return os.path.basename(path)


# -- the checks --------------------------------------------------------------------------------------
def ca_signed(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint(spec["endpoint"])
    ca = obs.file(spec["ca"])
    row = verify.probe(ep, obs.cluster, obs.held, trust=verify.trust_context(ca, False))
    if row.status == verify.UNREACHABLE:
        return False, f"{_where(ep)}: {row.problems[0]}"
    served = _describe(obs.leaf(ep))
    if row.chain == "verified" and row.name_match:
        return True, f"{_where(ep)} serves {served}, verified against {spec['ca']} for {ep.server_name}"
    if row.chain == "verified":
        return False, f"{_where(ep)} serves {served}, which does not name {ep.server_name}"
    return False, f'{_where(ep)} serves {served}; expected a certificate issued by "{_ca_name(ca)}"'


def rest_answers(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint("api")
    trust = verify.trust_context(obs.file(spec["ca"]), False)
    try:
        status, body = https_get(ep, "/v1/cluster", trust, auth=obs.credentials)
    except ssl.SSLCertVerificationError as err:
        return False, (f"{_where(ep)}: the REST API does not verify with {spec['ca']} for {ep.server_name} "
                       f"({err.verify_message or err})")
    if status != 200:
        return False, f"{_where(ep)}: GET /v1/cluster answered {status}"
    return True, f"{_where(ep)}: GET /v1/cluster answered 200, verified against {spec['ca']}"


def tls_versions(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint(spec["endpoint"])
    seen, wrong = [], []
    for version, wanted in [(v, "refused") for v in spec.get("refused", ())] + \
                           [(v, "accepted") for v in spec.get("accepted", ())]:
        try:
            said = verify.offer(ep, version=version)
        except verify.Unreachable as err:
            return False, f"{_where(ep)}: no connection ({err})"
        seen.append(f"TLS {version} {said}")
        if said != wanted:
            wrong.append(version)
    return not wrong, f"{_where(ep)} ({LABELS[spec['endpoint']]}): {', '.join(seen)}"


def http_refused(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint("http")
    row = verify.probe(ep, {"http_support": False}, {}, trust=None)
    if row.status == verify.OK:
        return True, f"{_where(ep)} refuses connections"
    return False, f"{_where(ep)} answers plain-HTTP requests"


def valid_days(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint(spec["endpoint"])
    leaf = obs.leaf(ep)
    days = (leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).days
    return days >= int(spec["min_days"]), (f"{_where(ep)} serves {_describe(leaf)}, valid {days} more days "
                                           f"(until {leaf.not_valid_after_utc:%Y-%m-%d})")


def _per_node(obs: Observer, certificate: str) -> dict:
    values = {node: seconds for (node, name), seconds in obs.metrics().items() if name == certificate}
    if not values:
        raise Unobserved(f"the metrics exporter reports no {certificate} certificate")
    return dict(sorted(values.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0))


def metrics_days(obs: Observer, spec: dict) -> tuple[bool, str]:
    values = _per_node(obs, spec["certificate"])
    days = {node: int(seconds // 86400) for node, seconds in values.items()}
    met = all(d >= int(spec["min_days"]) for d in days.values())
    return met, (f"the metrics exporter: {spec['certificate']} expires in "
                 + ", ".join(f"{d} days on node {n}" for n, d in days.items()))


def metrics_match(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint(spec["endpoint"])
    served = obs.leaf(ep).not_valid_after_utc
    now = dt.datetime.now(dt.timezone.utc)
    values = _per_node(obs, spec["certificate"])
    old = [n for n, seconds in values.items() if abs((now + dt.timedelta(seconds=seconds) - served).total_seconds()) > 120]
    if old:
        return False, (f"the metrics exporter: node{'s' if len(old) > 1 else ''} {', '.join(old)} still hold"
                       f"{'' if len(old) > 1 else 's'} another {spec['certificate']} certificate than the one "
                       f"{_where(ep)} serves (until {served:%Y-%m-%d})")
    return True, f"the metrics exporter: nodes {', '.join(values)} hold the {spec['certificate']} certificate served"


def redis_set_get(obs: Observer, spec: dict) -> tuple[bool, str]:
    ep = obs.endpoint("database")
    trust = verify.trust_context(obs.file(spec["ca"]), False) if spec.get("ca") else None
    key, value = f"rladmin-py:lab:{secrets.token_hex(4)}", secrets.token_hex(8)
    try:
        with _tls(ep, trust) as tls:
            version = tls.version()
            with tls.makefile("rb") as reader:
                said = [_resp(tls, reader, "SET", key, value, "EX", "60"), _resp(tls, reader, "GET", key),
                        _resp(tls, reader, "DEL", key)]
    except ssl.SSLCertVerificationError as err:
        return False, f"{_where(ep)}: the TLS client refuses the certificate ({err.verify_message or err})"
    trusted = f", verified against {spec['ca']}" if spec.get("ca") else ""
    if said[0] == b"+OK" and said[1] == value.encode():
        return True, f"SET and GET through {_where(ep)} ({version}{trusted}): OK"
    return False, f"SET and GET through {_where(ep)}: the server answered {said[0]!r}, {said[1]!r}"


def ocsp_good(obs: Observer, spec: dict) -> tuple[bool, str]:
    from cryptography.hazmat.primitives import serialization

    from ..certificates import checks, ocsp

    ep = obs.endpoint(spec["endpoint"])
    leaf = obs.leaf(ep)
    with open(obs.file(spec["issuer"]), encoding="utf-8") as fh:
        issuer_pem = fh.read()
    issuer = checks.leaf_of(issuer_pem)
    if leaf.issuer != issuer.subject:
        return False, (f"{_where(ep)} serves {_describe(leaf)}; expected a certificate issued by "
                       f"{checks.common_name(issuer.subject)!r}, whose responder can answer for it")
    chain = leaf.public_bytes(serialization.Encoding.PEM).decode() + issuer_pem
    try:
        answer = ocsp.query(chain, timeout=3.0)
    except ocsp.OCSPProblem as err:
        return False, f"{_where(ep)} serves serial {leaf.serial_number:x}: {err.message}"
    return answer["status"] == "GOOD", (f"{_where(ep)} serves serial {leaf.serial_number:x}: the OCSP responder "
                                        f"{answer['responder_url']} says {answer['status']}")


CHECKS = {"ca_signed": ca_signed, "rest_answers": rest_answers, "tls_versions": tls_versions,
          "http_refused": http_refused, "valid_days": valid_days, "metrics_days": metrics_days,
          "metrics_match": metrics_match, "redis_set_get": redis_set_get, "ocsp_good": ocsp_good}


def evaluate(obs: Observer, objectives) -> list[dict]:
    """Every objective: {"id", "text", "met", "observed"}."""
    out = []
    for objective in objectives:
        try:
            met, observed = CHECKS[objective["check"]](obs, objective)
        except Unobserved as err:
            met, observed = False, str(err)
        except verify.Unreachable as err:
            met, observed = False, f"no connection: {err}"
        except (OSError, ssl.SSLError, ValueError) as err:
            met, observed = False, f"{type(err).__name__}: {verify._reason(err)}"
        out.append({"id": objective["id"], "text": objective["text"], "met": bool(met), "observed": observed})
    return out


def observe(backend, directory: str, objectives) -> tuple[list[dict], str]:
    """Check ``objectives`` on the wire: through the running ``--serve`` of this sandbox, or
    through its endpoints served here for the check and stopped after. Returns (rows, how)."""
    served = backend.served()
    if served:
        return evaluate(Observer(backend, directory, served), objectives), f"the running --serve (pid {served['pid']})"
    from ..sandbox.endpoints import Endpoints

    endpoints = Endpoints(backend.path, "127.0.0.1", 0, request_log=False)
    endpoints.open()
    try:
        endpoints.start()
        ports = dict(endpoints.ports)
        if endpoints.database_off is not None:
            ports.pop("database", None)
        served = {"host": "127.0.0.1", "ports": ports, "database_off": endpoints.database_off}
        return evaluate(Observer(backend, directory, served), objectives), "the endpoints served here for the check"
    finally:
        endpoints.close()
