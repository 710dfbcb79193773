"""The sandbox served over HTTPS as the RS REST API (started by :mod:`.serve`).

Standard library only (``http.server`` + ``ssl``). Every answer comes from the same
:class:`~rladmin_py.sandbox.cluster.SandboxCluster` the shell's sandbox backend uses, and
certificates are validated by the same :mod:`rladmin_py.certificates.checks`, so the server and
``--sandbox`` shells on the same state file always agree (the state file's locking keeps their changes apart).

Faithful TLS, the point of a training sandbox: the TLS context is built from the sandbox's
current ``api`` certificate and key and its ``min_control_TLS_version`` (and
``control_cipher_suites`` where OpenSSL understands them). It is rebuilt whenever the state
file changes and every accepted connection is wrapped with the current one, so after
``cluster config min_control_TLS_version 1.3`` or ``cluster certificate set api ...`` new
connections see the change without a restart. The TLS handshake runs in the connection's own
thread with a timeout: a client that connects and says nothing holds up nobody else.

Endpoints (rs-tls.md section 4): ``GET/PUT /v1/cluster``, ``GET/PUT /v1/cluster/certificates``,
``PUT /v1/cluster/update_cert``, ``GET /v1/nodes``, ``GET /v1/nodes/<uid>``; errors carry the RS
body ``{"error_code": ..., "description": ...}``. ``GET /_rladmin_py/stats`` (not an RS path)
reports the TCP connections accepted and the requests served; every answer also carries them in
``X-Connection-Count`` and ``X-Request-Count`` headers.

Test and training switch: ``RLADMIN_PY_SERVER_LEGACY=1`` (or ``=405``) makes the server behave
like a cluster older than RS 7.22.2 that does not know ``PUT /v1/cluster/certificates``: it
answers 404 (or 405), and clients must fall back to ``PUT /v1/cluster/update_cert``.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .. import __version__
from ..backends import BackendError, CertificateUpdate
from .cluster import SandboxCluster, validate_cluster_changes
from .httpserver import HANDSHAKE_TIMEOUT, EndpointServer, leave_input_unread, peer
from .tls import EndpointTLS, LiveState

MAX_BODY = 1 << 20  # request bodies over 1 MiB are refused
IDLE_TIMEOUT = 120.0  # seconds a keep-alive connection may sit idle
STOP_GRACE = 10.0  # seconds to let requests in flight finish when asked to stop
LEGACY_ENV = "RLADMIN_PY_SERVER_LEGACY"
STATS_PATH = "/_rladmin_py/stats"
REALM = "Redis Enterprise sandbox"

def _content_length(value: str | None) -> int | None:
    """A Content-Length header's value: ASCII digits only (``str.isdigit`` also takes '²')."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if re.fullmatch(r"[0-9]{1,18}", value) else None


def _no_constant(name: str):
    """NaN and Infinity are not JSON (Python's json accepts them): refused, never stored."""
    raise ValueError(f"{name} is not a JSON value")


@dataclass(frozen=True)
class Page:
    """An answer that is not JSON (the Cluster Manager UI's HTML, the exporter's metrics)."""

    body: bytes
    content_type: str


class _Refusal(Exception):
    """An RS error answer: status, error_code, description (and whether to close the connection)."""

    def __init__(self, status: int, error_code: str, description: str, close: bool = False, headers=None):
        super().__init__(description)
        self.status, self.error_code, self.description = status, error_code, description
        self.close = close
        self.headers = headers or {}


class RestHandler(BaseHTTPRequestHandler):
    """One HTTP/1.1 keep-alive connection speaking the RS REST API."""

    protocol_version = "HTTP/1.1"
    server_version = f"rladmin-py-sandbox/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: EndpointServer
    requires_auth = True  # Basic auth, as on RS
    routes: list = []  # (pattern, {method: handler}); set below the class

    # every method goes through one dispatcher: unknown methods too (404 or 405 with an RS body,
    # like any method a path does not allow; never http.server's 501)
    def __getattr__(self, name: str):
        if name.startswith("do_") and len(name) > 3:
            method = name[3:]
            return lambda: self._dispatch(method)
        raise AttributeError(name)

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    # -- plumbing ------------------------------------------------------------------------------
    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):  # logged in _dispatch, with timing
        pass

    def log_message(self, format, *args):
        self.server.log(f"{peer(self.client_address)}: {format % args}")

    def parse_request(self):
        """As http.server's, but blank lines before the request line are ignored (RFC 9112 section
        2.2: a client may send a CRLF after a body), instead of dropping the connection unanswered."""
        for _ in range(16):
            if not self.raw_requestline or str(self.raw_requestline, "iso-8859-1").split():
                break
            self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return False
        if not str(self.raw_requestline, "iso-8859-1").split():  # nothing but blank lines
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(HTTPStatus.BAD_REQUEST, "no request line (only blank lines)")
            return False
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        return super().parse_request()

    def handle_expect_100(self):
        """``Expect: 100-continue`` (curl, for large bodies): refuse oversized bodies before they come."""
        length = _content_length(self.headers.get("Content-Length"))
        if length is not None and length > MAX_BODY:
            leave_input_unread(self.connection)  # the client may send it anyway
            self._answer_error(_Refusal(413, "request_too_large", f"the request body is larger than {MAX_BODY} bytes",
                                        close=True))
            return False
        return super().handle_expect_100()

    def send_error(self, code, message=None, explain=None):
        """Malformed requests (bad request line, unknown method...) get an RS-style JSON body too."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        error_code = re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_") or "error"
        self.close_connection = True
        if getattr(self, "request_version", None) == "HTTP/0.9":
            # an unparsable request line (bad version, wrong word count) leaves http.server's default,
            # HTTP/0.9, which answers with a bare body: give a status line the client can read
            self.request_version = "HTTP/1.0"
        self._answer_error(_Refusal(code, error_code, message or phrase, close=True))

    def _send(self, status: int, payload, headers: dict | None = None, close: bool = False) -> None:
        if isinstance(payload, Page):
            body, content_type = payload.body, payload.content_type
        else:
            body, content_type = b"" if payload is None else json.dumps(payload).encode("utf-8"), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Connection-Count", str(self.server.connections_accepted))
        self.send_header("X-Request-Count", str(self.server.requests_served))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        # headers and body in one write (one TLS record, one TCP segment where it fits)
        buffer = getattr(self, "_headers_buffer", None)
        if buffer is None:  # an HTTP/0.9 request line: no headers at all
            buffer = self._headers_buffer = []
        else:
            buffer.append(b"\r\n")
        if self.command != "HEAD" and body:
            buffer.append(body)
        self.flush_headers()
        self._status = status

    def _answer_error(self, refusal: _Refusal) -> None:
        # The certificate requests answer errors as the OpenAPI file describes them ({"error_code",
        # "description"}); PUT /v1/cluster and the other requests pages say {"error_code", "message"}
        # (https://redis.io/docs/latest/operate/rs/references/rest-api/requests/cluster/ and
        # .../requests/ocsp/): each route answers its own documented body.
        path = urlsplit(getattr(self, "path", "") or "").path  # no path: the request line did not parse
        key = "description" if path.startswith(("/v1/cluster/certificates", "/v1/cluster/update_cert")) else "message"
        self._send(refusal.status, {"error_code": refusal.error_code, key: refusal.description},
                   headers=refusal.headers, close=refusal.close)

    def _read_body(self) -> bytes:
        try:
            return self._read_declared_body()
        except _Refusal:  # answered before the body was read
            leave_input_unread(self.connection)
            raise

    def _read_declared_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise _Refusal(411, "length_required", "chunked request bodies are not supported; send Content-Length",
                           close=True)
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        sizes = {_content_length(length) for length in lengths}
        if None in sizes:
            raise _Refusal(400, "bad_request", "invalid Content-Length header", close=True)
        if len(sizes) > 1:  # which one to believe? (request smuggling): refuse, as RFC 9112 asks
            raise _Refusal(400, "bad_request", "conflicting Content-Length headers", close=True)
        size = sizes.pop()
        if size > MAX_BODY:
            raise _Refusal(413, "request_too_large", f"the request body is larger than {MAX_BODY} bytes", close=True)
        data = self.rfile.read(size)
        if len(data) != size:
            raise _Refusal(400, "bad_request", "the request body is shorter than its Content-Length", close=True)
        return data

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if not sep:
            return False
        # the store's shared view: a stat per request, a parse only when the state file changed
        want_user, want_password = self._backend().credentials()
        user_ok = hmac.compare_digest(user.encode(), want_user.encode())
        password_ok = hmac.compare_digest(password.encode(), want_password.encode())
        return user_ok and password_ok

    def _backend(self):
        if self._sandbox is None:
            self._sandbox = SandboxCluster(self.server.state_path)
        return self._sandbox

    def _json_body(self, raw: bytes):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _Refusal(400, "invalid_content_type", "the request needs the header Content-Type: application/json")
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise _Refusal(400, "invalid_json", "the request body is not UTF-8 text") from None
        except RecursionError:
            raise _Refusal(400, "invalid_json", "the request body is nested too deeply") from None
        except ValueError as err:
            where = f" (line {err.lineno}, column {err.colno})" if hasattr(err, "lineno") else ""
            reason = getattr(err, "msg", None) or str(err).split(";")[0] or "invalid JSON"  # NaN, a 5,000-digit number
            raise _Refusal(400, "invalid_json", f"the request body is not valid JSON: {reason}{where}") from None

    # -- dispatch --------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        self.server.request_started()
        self._sandbox = None
        self._status = None
        path = urlsplit(self.path).path
        try:
            try:
                raw = self._read_body()
                if self.requires_auth and not self._authorized():
                    raise _Refusal(401, "unauthorized", "authentication required: wrong or missing user name or password",
                                   headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
                handler = self._route(method, path)
                status, payload = handler(self, raw)
                self._send(status, payload)
            except _Refusal as refusal:
                self._answer_error(refusal)
            except BackendError as err:
                status = err.status if err.status and 400 <= err.status < 600 else 500
                code = err.error_code or ("internal_error" if status >= 500 else "error")
                self._answer_error(_Refusal(status, code, err.message))
            except (ConnectionError, TimeoutError):
                raise
            except Exception as err:  # a bug: a 500 with a short reason, never a traceback or a body
                self.server.log(f"internal error on {method} {path}: {type(err).__name__}")
                self._answer_error(_Refusal(500, "internal_error", f"internal error ({type(err).__name__})"))
        finally:
            if self._sandbox is not None:
                self._sandbox.close()
            self.server.request_finished(self.connection)
            self.server.log_request_line(self.connection, self.client_address, method, path, self._status,
                                         (time.monotonic() - started) * 1000)

    def _route(self, method: str, path: str):
        norm = path.rstrip("/") or "/"
        for pattern, methods in self.routes:
            m = pattern.fullmatch(norm)
            if not m:
                continue
            self._match = m
            if pattern.pattern == r"/v1/cluster/certificates" and method == "PUT" and self.server.legacy:
                if self.server.legacy == "405":
                    raise _Refusal(405, "method_not_allowed", f"{method} is not allowed on {norm}",
                                   headers={"Allow": "GET"})
                raise _Refusal(404, "not_found", f"unknown path {norm}")
            if method not in methods:
                allowed = ", ".join(sorted(methods))
                raise _Refusal(405, "method_not_allowed", f"{method} is not allowed on {norm} (allowed: {allowed})",
                               headers={"Allow": allowed})
            return methods[method]
        raise _Refusal(404, "not_found", f"unknown path {norm}")

    # -- endpoints -------------------------------------------------------------------------------
    def get_cluster(self, raw):
        return 200, self._backend().get_cluster()

    def put_cluster(self, raw):
        changes = self._json_body(raw)
        if not isinstance(changes, dict):
            raise _Refusal(400, "invalid_request", "the request body must be a JSON object (a partial cluster object)")
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        if "dry_run" in query and query["dry_run"][-1].lower() not in ("0", "false", "no"):
            problems = validate_cluster_changes(self._backend().get_cluster(), changes)
            if problems:
                raise _Refusal(400, "invalid_field", problems[0])
            return 200, self._backend().get_cluster()
        return 200, self._backend().update_cluster(changes)

    def get_certificates(self, raw):
        return 200, self._backend().get_certificates()

    def put_certificates(self, raw):
        body = self._json_body(raw)
        if not isinstance(body, dict) or set(body) != {"certificates"}:
            raise _Refusal(400, "invalid_request", 'the request body must be {"certificates": [{"name", "certificate", '
                                                   '"key"}, ...]}')
        items = body["certificates"]
        if not isinstance(items, list) or not items:
            raise _Refusal(400, "invalid_request", '"certificates" must be a non-empty list')
        updates = [_certificate_update(item, f"certificates[{i}]") for i, item in enumerate(items)]
        names = [u.name for u in updates]
        if len(set(names)) != len(names):
            raise _Refusal(400, "invalid_request", "a certificate name appears more than once in the request")
        self._backend().replace_certificates(updates)
        return 200, {}

    def put_update_cert(self, raw):
        body = self._json_body(raw)
        update = _certificate_update(body, "the request body")
        if "-----BEGIN CERTIFICATE-----" not in update.certificate:
            # The update_cert page gives two codes for "invalid certificate", 400 and 404
            # (https://redis.io/docs/latest/operate/rs/references/rest-api/requests/cluster/certificates/);
            # [guess] 404 when no certificate can be found in the text at all, 400 for one refused
            # by its content. The OpenAPI file lists no 404 here: the prose is followed.
            raise _Refusal(404, "invalid_certificate", "no PEM certificate (-----BEGIN CERTIFICATE-----) in the request")
        self._backend().replace_certificates([update])
        return 200, {}

    def get_nodes(self, raw):
        return 200, self._backend().get_nodes()

    def get_node(self, raw):
        uid = int(self._match.group(1))
        for node in self._backend().get_nodes():
            if node.get("uid") == uid:
                return 200, node
        raise _Refusal(404, "node_not_found", f"node {uid} does not exist")

    def get_bdbs(self, raw):
        return 200, self._backend().get_bdbs()

    def get_bdb(self, raw):
        return 200, self._backend().get_bdb(int(self._match.group(1)))

    def put_bdb(self, raw):
        changes = self._json_body(raw)
        return 200, self._backend().update_bdb(int(self._match.group(1)), changes)

    def _object(self, raw, what: str) -> dict:
        body = self._json_body(raw)
        if not isinstance(body, dict):
            raise _Refusal(400, "invalid_schema", f"the request body must be a JSON object ({what})")
        return body

    def get_policy(self, raw):
        return 200, self._backend().get_policy()

    def put_policy(self, raw):
        return 200, self._backend().update_policy(self._object(raw, "a partial cluster policy"))

    def get_services(self, raw):
        return 200, self._backend().get_services()

    def put_services(self, raw):
        return 200, self._backend().update_services(self._object(raw, "services and their operating_mode"))

    def get_auditing(self, raw):
        return 200, self._backend().get_auditing()

    def put_auditing(self, raw):
        return 200, self._backend().update_auditing(self._object(raw, "database connection auditing settings"))

    def get_shards(self, raw):
        return 200, self._backend().get_shards()

    def get_ocsp(self, raw):
        return 200, self._backend().get_ocsp()

    def put_ocsp(self, raw):
        return 200, self._backend().update_ocsp(self._object(raw, "a partial OCSP object"))

    def get_ocsp_status(self, raw):
        return 200, self._backend().get_ocsp_status()

    def post_ocsp_test(self, raw):
        return 200, self._backend().test_ocsp()

    def post_rotate(self, raw):
        body = self._json_body(raw) if raw.strip() else {}
        if not isinstance(body, dict) or set(body) - {"name"} or not isinstance(body.get("name", ""), str):
            raise _Refusal(400, "invalid_request", 'the request body must be {} or {"name": "<certificate name>"}')
        self._backend().rotate_certificates(body.get("name"))
        return 200, None  # the rotate page and the OpenAPI file: 200 OK, no body

    def delete_certificate(self, raw):
        self._backend().delete_certificate(self._match.group(1))
        return 200, {}

    def get_stats(self, raw):
        from . import store

        return 200, {"connections_accepted": self.server.connections_accepted,
                     "requests_served": self.server.requests_served,
                     "tls_contexts_built": self.server.tls.builds if self.server.tls else 0,
                     # parses of the state file by this process: a request costs none unless the file changed
                     "state_parses": store.parse_count()}


def _certificate_update(item, where: str) -> CertificateUpdate:
    """One ``{"name", "certificate", "key"}`` object, checked for shape (content: certificates/checks.py)."""
    if not isinstance(item, dict):
        raise _Refusal(400, "invalid_request", f"{where} must be an object with name, certificate and key")
    unknown = sorted(set(item) - {"name", "certificate", "key"})
    if unknown:
        raise _Refusal(400, "invalid_request", f"{where}: unknown field {unknown[0]!r} (expected name, certificate, key)")
    name, cert, key = item.get("name"), item.get("certificate"), item.get("key")
    if not isinstance(name, str) or not name:
        raise _Refusal(400, "invalid_request", f"{where}: missing certificate name")
    if not isinstance(cert, str) or not cert.strip():
        raise _Refusal(400, "invalid_certificate", f"{where}: missing certificate")
    if key is not None and not isinstance(key, str):
        raise _Refusal(400, "invalid_request", f"{where}: key must be a PEM string")
    return CertificateUpdate(name, cert, key if key else None)


RestHandler.routes = ROUTES = [
    (re.compile(r"/v1/cluster"), {"GET": RestHandler.get_cluster, "PUT": RestHandler.put_cluster}),
    (re.compile(r"/v1/cluster/certificates"), {"GET": RestHandler.get_certificates,
                                               "PUT": RestHandler.put_certificates}),
    (re.compile(r"/v1/cluster/update_cert"), {"PUT": RestHandler.put_update_cert}),
    (re.compile(r"/v1/cluster/certificates/rotate"), {"POST": RestHandler.post_rotate}),
    (re.compile(r"/v1/cluster/certificates/([a-z_]{1,40})"), {"DELETE": RestHandler.delete_certificate}),
    (re.compile(r"/v1/cluster/policy"), {"GET": RestHandler.get_policy, "PUT": RestHandler.put_policy}),
    (re.compile(r"/v1/cluster/services_configuration"), {"GET": RestHandler.get_services,
                                                         "PUT": RestHandler.put_services}),
    (re.compile(r"/v1/cluster/auditing/db_conns"), {"GET": RestHandler.get_auditing, "PUT": RestHandler.put_auditing}),
    (re.compile(r"/v1/shards"), {"GET": RestHandler.get_shards}),
    (re.compile(r"/v1/ocsp"), {"GET": RestHandler.get_ocsp, "PUT": RestHandler.put_ocsp}),
    (re.compile(r"/v1/ocsp/status"), {"GET": RestHandler.get_ocsp_status}),
    (re.compile(r"/v1/ocsp/test"), {"POST": RestHandler.post_ocsp_test}),
    (re.compile(r"/v1/nodes"), {"GET": RestHandler.get_nodes}),
    (re.compile(r"/v1/nodes/([0-9]{1,18})"), {"GET": RestHandler.get_node}),
    (re.compile(r"/v1/bdbs"), {"GET": RestHandler.get_bdbs}),
    (re.compile(r"/v1/bdbs/([0-9]{1,18})"), {"GET": RestHandler.get_bdb, "PUT": RestHandler.put_bdb}),
    (re.compile(re.escape(STATS_PATH)), {"GET": RestHandler.get_stats}),
]


class SandboxHTTPSServer(EndpointServer):
    """The REST API endpoint: HTTPS with the ``api`` certificate under the control plane's
    settings (or plain HTTP, ``plain=True``, for ``cnm_http_port``)."""

    def __init__(self, address: tuple, state_path: str, *, legacy: str | None = None, debug: bool = False,
                 log=None, handshake_timeout: float = HANDSHAKE_TIMEOUT, live: LiveState | None = None,
                 plain: bool = False, name: str = "api", request_log: bool = True):
        self.legacy = legacy  # None, "404" or "405"
        live = live or LiveState(state_path)
        tls = None if plain else EndpointTLS(live, "api", "control", log=lambda m: self.log(m))
        if tls is not None:
            tls.load()
        super().__init__(address, RestHandler, name=name, state_path=state_path, live=live, tls=tls, debug=debug,
                         log=log, request_log=request_log, handshake_timeout=handshake_timeout)
