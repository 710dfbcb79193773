"""A live cluster's REST API over httpx (https://<cluster>:9443, Basic auth, JSON).

httpx is imported here only, and only when a live cluster is used: sandbox sessions never pay
for it. One ``httpx.Client`` per session keeps one TLS connection alive for every request (a
1,000-line script opens one connection, not 1,000).

"Done" means observed. A request succeeds only on the status RS documents for it (200); a
redirect is never followed and never success; another 2xx, an empty, non-JSON or wrongly shaped
body where RS sends JSON, fail. A change is read back: ``PUT /v1/cluster`` must show every field
sent with the value sent, and a certificate update must leave the certificate sent (by SHA-256)
under ``<name>_cert`` (one extra ``GET /v1/cluster/certificates``, on the same connection).
Answers are bounded: at most 16 MiB (streamed and counted; a larger ``Content-Length`` is
refused unread), and the whole request, not each read, within the timeout (``--timeout``, else 60 s,
900 s for certificates): a server dripping one byte a second is cut off.

Every failure becomes one line and the right exit code (:mod:`rladmin_py.backends` errors):
401 -> AuthenticationFailed (exit 3); 403, 400, 406 -> BackendError with the cluster's
``description`` (or ``message``) and ``error_code``; 409 -> PartialUpdate (not all nodes were
updated; safe to retry); 5xx -> BackendError; a redirect, an unexpected status or body, a change
the read-back does not show -> UnconfirmedChange / BackendError (exit 1); refused connections,
DNS failures, timeouts and TLS failures -> ConnectionProblem (exit 3) naming the URL, with a message
of its own for a TLS verification failure. An error raised by a change whose request had gone out
(its outcome unknown) has ``maybe_applied`` True; Ctrl-C at that point raises
:class:`ChangeInterrupted`, a KeyboardInterrupt carrying the message to show. Request bodies
(they carry private keys) and answer bodies are never logged or shown; server text is escaped;
``--debug`` prints the method, URL, status and timing of each request.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shlex
import socket
import ssl
import sys
import time

from ..terminal import escape, one_line
from . import (AuthenticationFailed, BackendError, CertificateUpdate, ChangeInterrupted, ConfigurationProblem,
               ConnectionProblem, PartialUpdate, UnconfirmedChange)

DEFAULT_PORT = 9443
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: Certificate requests apply the change on every node; the API allows them 900 s.
CERTIFICATE_TIMEOUT = 900.0
BULK_PATH = "/v1/cluster/certificates"
LEGACY_PATH = "/v1/cluster/update_cert"
#: The largest answer read (the cluster object is some 10 KiB, the certificates map some 50 KiB).
MAX_ANSWER = 16 * 1024 * 1024
#: Of an error answer only the description is wanted.
MAX_ERROR_ANSWER = 64 * 1024
#: Certificates whose public PEM the cluster object also shows (when the certificates map is not readable).
ON_CLUSTER_OBJECT = {"proxy": "proxy_certificate", "syncer": "syncer_certificate"}
#: Every RS cluster object carries its own REST port: an answer with it is the whole object, so a field
#: sent and missing from it is one the cluster does not know (some RS versions ignore unknown fields).
WHOLE_CLUSTER_MARKER = "cnm_https_port"
REDIRECT_HINT = ("redirects are not followed: give --cluster the RS REST API itself, "
                 f"https://<cluster>:{DEFAULT_PORT}")


def _stderr(message: str) -> None:
    sys.stderr.write(escape(message) + "\n")
    sys.stderr.flush()


def _shown_url(location: str, limit: int = 100) -> str:
    """A Location header for a message: escaped, its query (SSO state, tokens) dropped, shortened."""
    text = one_line(location, limit=1000)
    base, sep, _ = text.partition("?")
    base = base.partition("#")[0]
    return one_line(base + ("?..." if sep else ""), limit=limit)


def _shown_value(value, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return one_line(text, limit=limit)


def _chain(err: BaseException):
    seen = []
    while err is not None and all(err is not s for s in seen):
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


class _TooLarge(Exception):
    def __init__(self, size: int, declared: bool):
        super().__init__(size)
        self.size, self.declared = size, declared


class _Clock:
    """The deadline of the request in flight: every connect, read and write waits at most until it."""

    def __init__(self):
        self.deadline: float | None = None

    def bound(self, timeout: float | None, expired) -> float | None:
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise expired("the request's time (--timeout) is up")
        return left if timeout is None else min(timeout, left)


def _deadline_transport(httpx, clock: _Clock, verify, limits, url: str):
    """An httpx transport whose sockets never wait past ``clock.deadline`` (httpx's own read timeout
    is per read: a server sending a byte a second would never trip it)."""
    import httpcore

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner):
            self._inner = inner

        def read(self, max_bytes, timeout=None):
            return self._inner.read(max_bytes, clock.bound(timeout, httpcore.ReadTimeout))

        def write(self, buffer, timeout=None):
            return self._inner.write(buffer, clock.bound(timeout, httpcore.WriteTimeout))

        def close(self):
            return self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            return Stream(self._inner.start_tls(ssl_context, server_hostname,
                                                clock.bound(timeout, httpcore.ConnectTimeout)))

        def get_extra_info(self, info):
            return self._inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self, inner):
            self._inner = inner

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            return Stream(self._inner.connect_tcp(host, port, clock.bound(timeout, httpcore.ConnectTimeout),
                                                  local_address=local_address, socket_options=socket_options))

        def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
            return Stream(self._inner.connect_unix_socket(path, clock.bound(timeout, httpcore.ConnectTimeout),
                                                          socket_options=socket_options))

        def sleep(self, seconds):  # pragma: no cover
            return self._inner.sleep(seconds)

    transport = httpx.HTTPTransport(verify=verify, limits=limits, proxy=_environment_proxy(url))
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):  # httpcore's ConnectionPool (and proxies)
        pool._network_backend = Backend(pool._network_backend)
    return transport


def _environment_proxy(url: str) -> str | None:
    """HTTPS_PROXY/ALL_PROXY unless NO_PROXY covers the host: what httpx does when it makes its own transport."""
    import urllib.parse
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get("https") or proxies.get("all")
    if not proxy:
        return None
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        if urllib.request.proxy_bypass_environment(host, proxies):
            return None
    except Exception:  # pragma: no cover  (an odd NO_PROXY: go direct rather than fail)
        return None
    return proxy


def preload() -> None:
    """Import the HTTP client now: for a process that forks workers which will each use it
    (the Ansible collection's controller); nothing is built or connected."""
    import httpcore  # noqa: F401
    import httpx  # noqa: F401


class RestBackend:
    """The Backend protocol over the RS REST API."""

    kind = "rest"

    def __init__(self, url: str, user: str, password: str, *, ca_cert: str | None = None, insecure: bool = False,
                 timeout: float | None = None, debug: bool = False, note=_stderr, transport=None):
        import httpx  # only here: a live cluster is being used

        self._httpx = httpx
        self.url = url
        self.ca_cert = ca_cert  # the trust verify tls probes with (None: the system store)
        self.insecure = insecure
        self.user = user
        self.target = f"{user} at {url}"
        self.debug = debug
        self._note = note
        self._timeout = timeout
        self._legacy_certificates = False  # the cluster does not know PUT /v1/cluster/certificates
        self._seen_certificates: dict[str, str] = {}  # name -> public PEM last read (for "still the old one")
        self._clock = _Clock()
        if insecure:
            verify: object = False
            note(f"warning: TLS verification is off (-k/--insecure): the connection to {url} is encrypted, but "
                 "nothing proves it is your cluster; prefer --ca-cert FILE")
        elif ca_cert:
            verify = _ca_context(ca_cert)
        else:
            verify = True
        connect = min(CONNECT_TIMEOUT, timeout) if timeout else CONNECT_TIMEOUT
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=1, keepalive_expiry=60.0)
        self._traced = transport is None  # our transport: httpcore reports each phase of a request
        if transport is None:
            transport = _deadline_transport(httpx, self._clock, verify, limits, url)
        self._client = httpx.Client(
            base_url=url,
            auth=httpx.BasicAuth(user, password),
            verify=verify,
            timeout=httpx.Timeout(timeout or READ_TIMEOUT, connect=connect),
            headers={"Accept": "application/json", "Accept-Encoding": "identity",
                     "User-Agent": f"rladmin-py/{_version()}"},
            limits=limits,
            follow_redirects=False,
            transport=transport,  # ours (deadlines), or a test's httpx.MockTransport
        )

    def command(self, words: str) -> str:
        """The command line that runs ``words`` on this cluster, as messages suggest it (it works
        as printed: the password comes from REDIS_ENTERPRISE_PASSWORD or the prompt)."""
        ca = f" --ca-cert {shlex.quote(self.ca_cert)}" if self.ca_cert else ""
        return f"rladmin-py --cluster {self.url} --user {shlex.quote(self.user)}{ca}{' -k' if self.insecure else ''} {words}"

    def set_password(self, password: str) -> None:
        """Another password for the requests that follow (the shell asks again after a 401)."""
        import httpx

        self._client.auth = httpx.BasicAuth(self.user, password)

    # -- transport -----------------------------------------------------------------------------
    def _limit(self, long: bool) -> float:
        """Seconds the whole request may take."""
        return self._timeout or (CERTIFICATE_TIMEOUT if long else READ_TIMEOUT)

    def _request(self, method: str, path: str, body=None, *, long: bool = False, fallback_ok: bool = False,
                 check: str | None = None):
        """Send one request; return the decoded JSON of its 200 answer (None when empty), or raise.

        ``check`` (changes only): the command that shows whether the change is in force."""
        httpx = self._httpx
        headers = {}
        content = None
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = httpx.USE_CLIENT_DEFAULT
        if long and not self._timeout:
            timeout = httpx.Timeout(CERTIFICATE_TIMEOUT, connect=CONNECT_TIMEOUT)
        limit = self._limit(long)
        # None (unknown: a test's transport traces nothing), connecting, headers, sending, sent, answered
        progress = ["connecting" if self._traced else None]

        def trace(name: str, info) -> None:
            if name.endswith((".connect_tcp.started", ".start_tls.started")):
                progress[0] = "connecting"
            elif name.endswith(".send_request_headers.started"):
                progress[0] = "headers"
            elif name.endswith(".send_request_body.started"):
                progress[0] = "sending"
            elif name.endswith(".send_request_body.complete"):
                progress[0] = "sent"

        started = time.monotonic()
        deadline = started + limit
        outcome = "-"
        status = None
        self._clock.deadline = deadline
        try:
            with self._client.stream(method, path, content=content, headers=headers, timeout=timeout,
                                     extensions={"trace": trace}) as response:
                progress[0] = "answered"
                status = response.status_code
                outcome = str(status)
                return self._answer(response, method, path, deadline, fallback_ok, check)
        except httpx.HTTPError as err:
            outcome = type(err).__name__
            raise self._transport_error(err, method, path, limit, progress[0], status, check) from None
        except KeyboardInterrupt:
            outcome = "interrupted"
            if method != "GET" and progress[0] not in ("connecting", "headers"):
                raise ChangeInterrupted(f"interrupted after {method} {path} was sent: the change may or may not "
                                        f"have been applied; check with '{check or self.command('info cluster')}'"
                                        ) from None
            raise
        finally:
            self._clock.deadline = None
            if self.debug:
                elapsed = (time.monotonic() - started) * 1000
                self._note(f"debug: {method} {self.url}{path} -> {outcome} ({elapsed:.1f} ms)")

    def _answer(self, response, method: str, path: str, deadline: float, fallback_ok: bool, check: str | None):
        """The decoded body of a 200 answer, or the error the status or the body calls for."""
        status = response.status_code
        change = method != "GET"
        if fallback_ok and status in (404, 405):
            self._read(response, deadline, MAX_ERROR_ANSWER, truncate=True)  # keeps the connection alive
            return _FALLBACK
        if 300 <= status < 400:
            location = response.headers.get("location")
            where = f"redirect to {_shown_url(location)}" if location else "a redirect without a Location"
            if change:
                raise BackendError(f"the cluster answered {status} ({where}); nothing is known to have been "
                                   f"applied ({REDIRECT_HINT})", error_code="redirected")
            raise BackendError(f"the cluster answered {status} to {method} {path} ({where}); the request was "
                               f"redirected and nothing was read ({REDIRECT_HINT})", error_code="redirected")
        if status >= 400:
            data = self._read(response, deadline, MAX_ERROR_ANSWER, truncate=True)
            raise self._status_error(status, one_line(response.reason_phrase or "", 60), data, method, path, check)
        if status != 200:
            if change:
                raise UnconfirmedChange(f"the cluster answered {status} to {method} {path}, not 200; the change may "
                                        f"or may not have been applied: check with '{check}'",
                                        error_code="unexpected_status")
            raise BackendError(f"the cluster answered {status} to {method} {path}, not 200; nothing was read",
                               error_code="unexpected_status")
        try:
            data = self._read(response, deadline, MAX_ANSWER)
        except _TooLarge as big:
            size = (f"a body of {big.size} bytes (Content-Length), over the 16 MiB limit; not read" if big.declared
                    else "a body over the 16 MiB limit; cut off there")
            if change:
                raise UnconfirmedChange(f"the cluster answered 200 to {method} {path} with {size}; the change may "
                                        f"or may not have been applied: check with '{check}'",
                                        error_code="answer_too_large") from None
            raise ConnectionProblem(f"{self.url} answered {method} {path} with {size}; nothing was read (is it the "
                                    f"RS REST API, https://<cluster>:{DEFAULT_PORT}?)",
                                    error_code="answer_too_large") from None
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: nested a million deep
            if change:
                kind = one_line(response.headers.get("content-type", "").partition(";")[0], 40)
                raise UnconfirmedChange(f"the cluster answered 200 to {method} {path} with something that is not "
                                        f"JSON{f' ({kind})' if kind else ''}; the change may or may not have been "
                                        f"applied: check with '{check}'", error_code="not_json") from None
            raise ConnectionProblem(
                f"{self.url} answered {method} {path} with something that is not JSON; "
                f"is it the RS REST API (https://<cluster>:{DEFAULT_PORT})?", error_code="not_json") from None

    def _read(self, response, deadline: float, cap: int, *, truncate: bool = False) -> bytes:
        """The body, streamed: at most ``cap`` bytes (more raises _TooLarge, or is dropped with ``truncate``),
        and never past ``deadline``."""
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            if truncate:
                return b""
            raise _TooLarge(int(declared), declared=True)
        data = bytearray()
        # iter_bytes decodes a Content-Encoding: Accept-Encoding asked for none, and a body compressed anyway is
        # read as it came (then it is not JSON) rather than inflated without a bound
        encoding = response.headers.get("content-encoding", "").strip().lower()
        for chunk in (response.iter_raw() if encoding not in ("", "identity") else response.iter_bytes()):
            data += chunk
            if len(data) > cap:
                if truncate:
                    return bytes(data[:cap])
                raise _TooLarge(len(data), declared=False)
            if time.monotonic() > deadline:
                raise self._httpx.ReadTimeout("the request's time (--timeout) is up")
        return bytes(data)

    def _transport_error(self, err, method: str, path: str, limit: float, progress: str | None, status: int | None,
                         check: str | None) -> BackendError:
        """The one-line error for an httpx failure; ``maybe_applied`` is set on a change once its request
        had started going out (``progress`` past "connecting", or unknown)."""
        error = self._transport_problem(err, method, path, limit, progress, status, check)
        if method != "GET" and progress != "connecting" and error.error_code not in _BEFORE_SENDING:
            error.maybe_applied = True
        return error

    def _transport_problem(self, err, method: str, path: str, limit: float, progress: str | None, status: int | None,
                           check: str | None) -> BackendError:
        httpx = self._httpx
        url = self.url
        chain = _chain(err)
        handshake = progress in (None, "connecting")  # a TLS error after the request went out is no handshake
        verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        if handshake and (verify is not None or "CERTIFICATE_VERIFY_FAILED" in str(err)):
            reason = (getattr(verify, "verify_message", None) or "certificate verify failed").rstrip(".")
            code = getattr(verify, "verify_code", None)
            if code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
                fix = (f"the cluster's certificate does not name {self._client.base_url.host}: connect with a name it "
                       f"holds ('rladmin-py -k --cluster {self.url} --user {shlex.quote(self.user)} cluster certificate show api' "
                       "lists them), or skip verification with -k/--insecure")
            elif code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
                fix = ("the cluster's API certificate has expired: replace it (cluster certificate set api ...), "
                       "using -k/--insecure until then; --ca-cert cannot help")
            else:
                fix = ("the cluster's certificate is not signed by a CA you trust: give the cluster's CA certificate "
                       "with --ca-cert FILE (or REDIS_ENTERPRISE_CA_CERT), or skip verification with -k/--insecure")
            return ConnectionProblem(f"TLS verification failed for {url}: {one_line(reason)}; {fix}",
                                     error_code="tls_verification_failed")
        tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None) if handshake else None
        if tls is not None:
            reason = tls.reason or one_line(tls)
            hint = ""
            if reason and "WRONG_VERSION_NUMBER" in reason:
                hint = " (is it an HTTPS port? the RS REST API is https://<cluster>:9443)"
            elif reason and ("PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason):
                hint = " (the cluster and this machine share no TLS version; see min_control_TLS_version)"
            elif isinstance(tls, ssl.SSLEOFError) or (reason and "UNEXPECTED_EOF" in reason):
                reason = "the server closed the connection"
                hint = f" (is it the RS REST API, https://<cluster>:{DEFAULT_PORT}?)"
            return ConnectionProblem(f"TLS handshake with {url} failed: {one_line(reason)}{hint}",
                                     error_code="tls_failed")
        if isinstance(err, httpx.ConnectTimeout):
            return ConnectionProblem(f"cannot connect to {url}: timed out", error_code="connect_timeout")
        if isinstance(err, httpx.TimeoutException):
            if progress == "answered" and status is not None:
                extra = (f"; the change may or may not have been applied: check with '{check}'"
                         if method != "GET" else "; nothing was read")
                return ConnectionProblem(f"{url} answered {status} to {method} {path} but did not finish its answer "
                                         f"within {limit:g} s (--timeout){extra}", error_code="timeout")
            check = self.command("cluster certificate show" if "certificate" in path or "update_cert" in path
                                 else "info cluster")
            extra = (f"; the cluster may still be applying the change: check with '{check}' and "
                     "run the command again" if method != "GET" else "")
            return ConnectionProblem(f"{url} did not answer {method} {path} within {limit:g} s (--timeout){extra}",
                                     error_code="timeout")
        if any(isinstance(e, socket.gaierror) for e in chain):
            host = str(self._client.base_url.host)
            return ConnectionProblem(f"cannot connect to {url}: unknown host {host} (DNS lookup failed)",
                                     error_code="dns_failure")
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return ConnectionProblem(f"cannot connect to {url}: connection refused (is the cluster's REST API "
                                     "listening there?)", error_code="connection_refused")
        if isinstance(err, httpx.ConnectError) and any(isinstance(e, ConnectionResetError) for e in chain):
            return ConnectionProblem(f"cannot connect to {url}: the connection was reset (is it the RS REST API, "
                                     f"https://<cluster>:{DEFAULT_PORT}?)", error_code="connection_reset")
        if isinstance(err, httpx.ConnectError):
            return ConnectionProblem(f"cannot connect to {url}: {one_line(err) or type(err).__name__}",
                                     error_code="connection_failed")
        if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            extra = ("; the change may or may not have been applied: check, then run the command again"
                     if method != "GET" else "")
            return ConnectionProblem(f"the connection to {url} broke during {method} {path}{extra}",
                                     error_code="connection_lost")
        return ConnectionProblem(f"{method} {url}{path} failed: {one_line(err) or type(err).__name__}",
                                 error_code="request_failed")

    def _status_error(self, status: int, reason: str, data: bytes, method: str, path: str,
                      check: str | None) -> BackendError:
        description, error_code = _error_body(data)
        if status == 401:
            return AuthenticationFailed(f"authentication failed for {self.user} at {self.url} (wrong user name or "
                                        "password?)", status=401)
        if status == 403:
            message = description or (f"permission denied: {self.user} may not {method} {path} on {self.url}")
            return BackendError(message, error_code=error_code or "forbidden", status=403)
        if status == 409:
            message = description or "the cluster answered 409 Conflict"
            for phrase in ("not all nodes have been updated", "not all nodes were updated"):
                if message.lower().startswith(phrase):
                    message = message[len(phrase):].lstrip(":,; ")
                    break
            message = "not all nodes were updated" + (f": {message}" if message and message[0] != "(" else
                                                      f" {message}" if message else "")
            if "safe to retry" not in message:
                message += "; the command is safe to retry"
            return PartialUpdate(message, error_code=error_code or "not_all_nodes_updated", status=409)
        if status in (400, 406, 413, 422):
            default = {400: "the cluster refused the request (400 Bad Request)",
                       406: "the cluster refused the certificate (406 Not Acceptable: expired?)",
                       413: "the request is too large for the cluster (413)",
                       422: "the cluster refused the request (422)"}[status]
            return BackendError(description or default, error_code=error_code, status=status)
        if status in (404, 405):
            if description and error_code:
                return BackendError(description, error_code=error_code, status=status)
            return ConnectionProblem(f"{self.url} answered {status} {reason} to {method} {path}: is it the RS REST "
                                     f"API (https://<cluster>:{DEFAULT_PORT})?", error_code="not_found", status=status)
        if status == 503:
            return BackendError(f"the cluster is not ready (503 Service Unavailable)"
                                f"{': ' + description if description else ''}; try again shortly",
                                error_code=error_code or "service_unavailable", status=503)
        if status in (502, 504) and method != "GET":
            # a gateway in front of the cluster gave up waiting: the cluster may have taken the change
            error = BackendError(f"the cluster failed ({status} {reason}){': ' + description if description else ''}"
                                 f"; the change may or may not have been applied: check with '{check}'",
                                 error_code=error_code or "server_error", status=status)
            error.maybe_applied = True
            return error
        if status >= 500:
            return BackendError(f"the cluster failed ({status} {reason}){': ' + description if description else ''}",
                                error_code=error_code or "server_error", status=status)
        return BackendError(f"unexpected answer {status} {reason} to {method} {self.url}{path}"
                            f"{': ' + description if description else ''}", error_code=error_code, status=status)

    # -- Backend protocol ----------------------------------------------------------------------
    def get_cluster(self) -> dict:
        return self._cluster_object(self._request("GET", "/v1/cluster"))

    def update_cluster(self, changes: dict) -> dict:
        """PUT /v1/cluster, then every field sent must be in the answer (the cluster object) with the value sent."""
        check = self.command("info cluster")
        answer = self._request("PUT", "/v1/cluster", changes, check=check)
        wrong = _not_a_cluster_object(answer)
        if wrong:
            raise UnconfirmedChange(f"the cluster answered 200 to PUT /v1/cluster with {wrong}, not the cluster "
                                    f"object; the change may or may not have been applied: check with '{check}'",
                                    error_code="unexpected_answer")
        whole = WHOLE_CLUSTER_MARKER in answer
        for field, sent in changes.items():
            name = one_line(field, 80)
            if field in answer:
                if not _same_value(sent, answer[field]):
                    raise UnconfirmedChange(f"the cluster answered 200 but did not take {name}: sent "
                                            f"{_shown_value(sent)}, the cluster shows {_shown_value(answer[field])}; "
                                            f"the change may not have been applied: check with '{check}'",
                                            error_code="not_applied")
            elif whole:
                raise UnconfirmedChange(f"the cluster answered 200 but does not show {name} (sent {_shown_value(sent)}; "
                                        f"this RS version may not know it): the change may not have been applied: "
                                        f"check with '{check}'", error_code="not_applied")
            elif self.debug:  # a partial answer: nothing in it contradicts the change
                self._note(f"debug: the answer to PUT /v1/cluster does not show {name}: not compared")
        return answer

    def get_certificates(self) -> dict:
        certs = self._certificate_map()
        self._seen_certificates = {k[: -len("_cert")]: v for k, v in certs.items()
                                   if k.endswith("_cert") and isinstance(v, str)}
        return certs

    def _certificate_map(self) -> dict:
        return self._expect_object(self._request("GET", "/v1/cluster/certificates"), "GET /v1/cluster/certificates")

    def get_bdbs(self) -> list[dict]:
        """GET /v1/bdbs: the databases (``verify tls`` probes their TLS endpoints)."""
        answer = self._request("GET", "/v1/bdbs")
        if not isinstance(answer, list):
            raise ConnectionProblem(f"{self.url} answered GET /v1/bdbs with something other than a list of databases")
        return answer

    def get_nodes(self) -> list[dict]:
        answer = self._request("GET", "/v1/nodes")
        if not isinstance(answer, list):
            raise ConnectionProblem(f"{self.url} answered GET /v1/nodes with something other than a list of nodes")
        return answer

    def replace_certificates(self, updates: list[CertificateUpdate]) -> list[dict]:
        """PUT /v1/cluster/certificates (RS 7.22.2+), else one PUT /v1/cluster/update_cert each; then the
        certificates are read back (one GET) and must be the ones sent."""
        items = [_item(u) for u in updates]
        names = [u.name for u in updates]
        check = self.command("cluster certificate show" + (f" {names[0]}" if len(names) == 1 else ""))
        if not self._legacy_certificates:
            answer = self._request("PUT", BULK_PATH, {"certificates": items}, long=True, fallback_ok=True, check=check)
            if answer is _FALLBACK:
                self._legacy_certificates = True
                if self.debug:
                    self._note(f"debug: {self.url} does not know PUT {BULK_PATH} (RS before 7.22.2); "
                               f"using PUT {LEGACY_PATH}")
            else:
                self._expect_change_answer(answer, BULK_PATH, check)
                self._confirm_certificates(updates, BULK_PATH, check)
                return self._nodes_updated(names)
        done = []
        for update, item in zip(updates, items):
            try:
                answer = self._request("PUT", LEGACY_PATH, item, long=True, check=check)
                self._expect_change_answer(answer, LEGACY_PATH, check)
            except BackendError as err:
                if done:  # the older API cannot replace several certificates at once
                    before = f"{', '.join(done)} sent (answered 200)"
                    err.message = (f"{before}; {update.name}: {err.message}" if getattr(err, "maybe_applied", False)
                                   else f"{before}; {update.name} not replaced: {err.message}")
                    err.args = (err.message,)
                    err.maybe_applied = True
                raise
            done.append(update.name)
        self._confirm_certificates(updates, LEGACY_PATH, check)
        return self._nodes_updated(names)

    def _expect_change_answer(self, answer, path: str, check: str) -> None:
        """RS documents no body for a certificate update's 200: nothing, or a JSON object, is fine."""
        if answer is not None and not isinstance(answer, dict):
            raise UnconfirmedChange(f"the cluster answered 200 to PUT {path} with {_json_kind(answer)}, not an "
                                    f"object; the change may or may not have been applied: check with '{check}'",
                                    error_code="unexpected_answer")

    def _confirm_certificates(self, updates: list[CertificateUpdate], path: str, check: str) -> None:
        """Read the certificates back: each must now be the one sent (SHA-256 of the chain's first certificate)."""
        try:
            held = self._held_certificates([u.name for u in updates])
        except KeyboardInterrupt:
            raise ChangeInterrupted(f"interrupted after the cluster answered 200 to PUT {path}, before the certificate "
                                    f"was read back: the change may or may not have been applied; check with "
                                    f"'{check}'") from None
        except BackendError as err:
            raise UnconfirmedChange(f"the cluster answered 200 to PUT {path}, but reading the certificate back failed "
                                    f"({err.message}); the change may or may not have been applied: check with "
                                    f"'{check}'", error_code="not_confirmed",
                                    exit_code=err.exit_code) from None
        for update in updates:
            name = update.name
            sent, pem = _fingerprint(update.certificate), held.get(name)
            now = _fingerprint(pem)
            if sent is not None and now == sent:
                continue
            if pem is None:
                raise UnconfirmedChange(f"the cluster answered 200 but shows no {name} certificate afterwards (no "
                                        f"{name}_cert in GET /v1/cluster/certificates); the change may or may not have "
                                        f"been applied: check with '{check}'", error_code="not_confirmed")
            if now is None or sent is None:
                raise UnconfirmedChange(f"the cluster answered 200 but the {name} certificate it shows is not PEM; the "
                                        f"change may or may not have been applied: check with '{check}'",
                                        error_code="not_confirmed")
            if now == _fingerprint(self._seen_certificates.get(name)):
                raise UnconfirmedChange(f"the cluster answered 200 but still holds the old {name} certificate (SHA-256 "
                                        f"{now}); the change may not have been applied: check with '{check}'",
                                        error_code="not_applied")
            raise UnconfirmedChange(f"the cluster answered 200 but holds another {name} certificate (SHA-256 {now}), "
                                    f"not the one sent (SHA-256 {sent}); the change may not have been applied: check "
                                    f"with '{check}'", error_code="not_applied")
        self._seen_certificates.update({n: p for n, p in held.items() if isinstance(p, str)})

    def _held_certificates(self, names: list[str]) -> dict:
        """{name: public PEM or None} as the cluster shows them now: GET /v1/cluster/certificates; for proxy
        and syncer, the cluster object's proxy_certificate/syncer_certificate when the map does not show them."""
        held: dict = {}
        try:
            certs = self._certificate_map()
            held = {n: certs.get(f"{n}_cert") if isinstance(certs.get(f"{n}_cert"), str) else None for n in names}
        except BackendError as err:
            if err.status not in (403, 404, 405) or not all(n in ON_CLUSTER_OBJECT for n in names):
                raise
        missing = [n for n in names if held.get(n) is None]
        if missing and all(n in ON_CLUSTER_OBJECT for n in missing):
            cluster = self.get_cluster()
            for n in missing:
                pem = cluster.get(ON_CLUSTER_OBJECT[n])
                held[n] = pem if isinstance(pem, str) else None
        return held

    def _nodes_updated(self, names: list[str]) -> list[dict]:
        """RS answers 200 only when every node took the certificate: report the cluster's nodes."""
        try:
            nodes = self.get_nodes()
        except BackendError:
            return []
        except KeyboardInterrupt:  # the change is in force (read back): the caller must not say "not applied"
            raise ChangeInterrupted(f"interrupted after the cluster took the {', '.join(names)} certificate (read "
                                    "back); its nodes were not listed") from None
        return [{"uid": n.get("uid"), "addr": n.get("addr"), "status": "updated"} for n in nodes if isinstance(n, dict)]

    # -- the other objects: policy, services, auditing, shards, OCSP, certificate upkeep ------------
    def _get(self, path: str) -> dict:
        return self._expect_object(self._request("GET", path), f"GET {path}")

    def _put(self, path: str, body: dict, check: str) -> dict:
        """PUT an object, then every field sent must be in the answer with the value sent (a
        partial answer is read back with GET)."""
        answer = self._request("PUT", path, body, check=check)
        if not isinstance(answer, dict) or not set(body) <= set(answer):
            answer = self._get(path)
        for field, sent in body.items():
            if field in answer and not _same_value(sent, answer[field]):
                raise UnconfirmedChange(f"the cluster answered 200 to PUT {path} but shows {one_line(field, 80)} "
                                        f"{_shown_value(answer[field])}, not {_shown_value(sent)}: the change may "
                                        f"not have been applied: check with '{check}'", error_code="not_applied")
        return answer

    def get_policy(self) -> dict:
        return self._get("/v1/cluster/policy")

    def get_services(self) -> dict:
        return self._get("/v1/cluster/services_configuration")

    def update_services(self, changes: dict) -> dict:
        return self._put("/v1/cluster/services_configuration", changes, self.command("info cluster"))

    def get_auditing(self) -> dict:
        return self._get("/v1/cluster/auditing/db_conns")

    def update_auditing(self, changes: dict) -> dict:
        return self._put("/v1/cluster/auditing/db_conns", changes, self.command("info cluster"))

    def get_shards(self) -> list[dict]:
        answer = self._request("GET", "/v1/shards")
        if not isinstance(answer, list):
            raise ConnectionProblem(f"{self.url} answered GET /v1/shards with something other than a list of shards")
        return answer

    def get_ocsp(self) -> dict:
        return self._get("/v1/ocsp")

    def update_ocsp(self, changes: dict) -> dict:
        return self._put("/v1/ocsp", changes, self.command(f"cluster ocsp config {next(iter(changes), '')}".rstrip()))

    def get_ocsp_status(self) -> dict:
        return self._get("/v1/ocsp/status")

    def test_ocsp(self) -> dict:
        return self._expect_object(self._request("POST", "/v1/ocsp/test", {}, long=True), "POST /v1/ocsp/test")

    def rotate_certificates(self, name: str | None = None) -> list[dict]:
        self._request("POST", "/v1/cluster/certificates/rotate", {"name": name} if name else {}, long=True,
                      check=self.command("cluster certificate show"))
        return []

    def delete_certificate(self, name: str) -> None:
        self._request("DELETE", f"/v1/cluster/certificates/{name}", check=self.command("cluster certificate show"))

    def _expect_object(self, answer, what: str) -> dict:
        if not isinstance(answer, dict):
            raise ConnectionProblem(f"{self.url} answered {what} with something other than a JSON object; "
                                    f"is it the RS REST API?", error_code="unexpected_answer")
        return answer

    def _cluster_object(self, answer) -> dict:
        wrong = _not_a_cluster_object(answer)
        if wrong:
            raise ConnectionProblem(f"{self.url} answered GET /v1/cluster with {wrong}, not the cluster object; is it "
                                    f"the RS REST API (https://<cluster>:{DEFAULT_PORT})?", error_code="unexpected_answer")
        return answer

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()


_FALLBACK = object()
#: Errors of the connection phase: the request never went out.
_BEFORE_SENDING = frozenset({"tls_verification_failed", "tls_failed", "connect_timeout", "dns_failure",
                             "connection_refused", "connection_reset", "connection_failed"})


def _item(update: CertificateUpdate) -> dict:
    item = {"name": update.name, "certificate": update.certificate}
    if update.key:
        item["key"] = update.key
    return item


def _error_body(data: bytes) -> tuple[str | None, str | None]:
    """(description, error_code) from an RS error body; ``message`` is read too (some pages say so)."""
    try:
        body = json.loads(data) if data.strip() else None
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    description = body.get("description") or body.get("message") or body.get("detail")
    code = body.get("error_code")
    return (one_line(description) if description else None), (one_line(code, 80) if code else None)


def _json_kind(answer) -> str:
    if answer is None:
        return "an empty body"
    if isinstance(answer, list):
        return "a JSON list"
    if isinstance(answer, dict):
        return "a JSON object"
    if isinstance(answer, str):
        return "a JSON string"
    if isinstance(answer, bool):
        return "a JSON boolean"
    return "a JSON number"


def _not_a_cluster_object(answer) -> str | None:
    """What is wrong with an answer that should be the cluster object (None: nothing)."""
    if not isinstance(answer, dict):
        return _json_kind(answer)
    if not isinstance(answer.get("name"), str):
        return 'a JSON object without "name"'
    return None


def _norm_value(value) -> str:
    if isinstance(value, bool):
        return "enabled" if value else "disabled"
    if isinstance(value, (list, tuple)):
        return ":".join(_norm_value(v) for v in value)
    if value is None:
        return ""
    text = str(value)
    return {"true": "enabled", "false": "disabled"}.get(text.lower(), text)


def _same_value(sent, shown) -> bool:
    """A cluster field shows the value sent: equal, or the same in the shapes RS uses (a list or a
    colon-separated string of cipher names; true or "enabled")."""
    return sent == shown or _norm_value(sent) == _norm_value(shown)


_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def _fingerprint(pem) -> str | None:
    """SHA-256 (hex, as `cluster certificate show` prints it) of the first certificate of a PEM chain."""
    if not isinstance(pem, str):
        return None
    match = _PEM_CERTIFICATE.search(pem)
    if not match:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return hashlib.sha256(der).hexdigest() if der else None


def _ca_context(path: str) -> ssl.SSLContext:
    """A verifying client context that trusts exactly the CA certificates in ``path`` (like curl --cacert)."""
    import os

    shown = path
    path = os.path.expanduser(path)
    from ..safefiles import NotRegular, read_regular

    if not os.path.exists(path):
        raise ConfigurationProblem(f"{shown}: no such file (the CA certificate for --ca-cert)")
    try:
        data = read_regular(path, 1 << 20)
    except NotRegular as err:
        raise ConfigurationProblem(f"{shown}: is {err.kind}, not a CA certificate file (--ca-cert)") from None
    except PermissionError:
        raise ConfigurationProblem(f"{shown}: permission denied (cannot read the CA certificate)") from None
    except OSError as err:
        raise ConfigurationProblem(f"{shown}: cannot read the CA certificate: {err.strerror or err}") from None
    try:
        return ssl.create_default_context(cadata=data.decode("ascii", errors="replace"))
    except PermissionError:
        raise ConfigurationProblem(f"{shown}: permission denied (cannot read the CA certificate)") from None
    except (ssl.SSLError, ValueError, OSError):
        raise ConfigurationProblem(f"{shown}: not a PEM CA certificate (--ca-cert takes the cluster's CA "
                                   "certificate in PEM)") from None


def _version() -> str:
    from .. import __version__

    return __version__
