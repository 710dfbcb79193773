"""A live cluster's REST API over httpx (https://<cluster>:9443, Basic auth, JSON).

httpx is imported here only, and only when a live cluster is used: sandbox sessions never pay
for it. One ``httpx.Client`` per session keeps one TLS connection alive for every request (a
1,000-line script opens one connection, not 1,000).

Every failure becomes one line and the right exit code (:mod:`rladmin_py.backends` errors):
401 -> AuthenticationFailed (exit 3); 403, 400, 406 -> BackendError with the cluster's
``description`` (or ``message``) and ``error_code``; 409 -> PartialUpdate (not all nodes were
updated; safe to retry); 5xx -> BackendError; refused connections, DNS failures, timeouts and TLS
failures -> ConnectionProblem (exit 3) naming the URL, with a message of its own for a TLS
verification failure. Request bodies (they carry private keys) are never logged or shown;
``--debug`` prints the method, URL, status and timing of each request.
"""
from __future__ import annotations

import json
import socket
import ssl
import sys
import time

from . import (AuthenticationFailed, BackendError, CertificateUpdate, ConfigurationProblem, ConnectionProblem,
               PartialUpdate)

DEFAULT_PORT = 9443
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: Certificate requests apply the change on every node; the API allows them 900 s.
CERTIFICATE_TIMEOUT = 900.0
BULK_PATH = "/v1/cluster/certificates"
LEGACY_PATH = "/v1/cluster/update_cert"


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _one_line(text, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _chain(err: BaseException):
    seen = []
    while err is not None and all(err is not s for s in seen):
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


class RestBackend:
    """The Backend protocol over the RS REST API."""

    kind = "rest"

    def __init__(self, url: str, user: str, password: str, *, ca_cert: str | None = None, insecure: bool = False,
                 timeout: float | None = None, debug: bool = False, note=_stderr, transport=None):
        import httpx  # only here: a live cluster is being used

        self._httpx = httpx
        self.url = url
        self.user = user
        self.target = f"{user} at {url}"
        self.debug = debug
        self._note = note
        self._timeout = timeout
        self._legacy_certificates = False  # the cluster does not know PUT /v1/cluster/certificates
        if insecure:
            verify: object = False
            note(f"warning: TLS verification is off (-k/--insecure): the connection to {url} is encrypted, but "
                 "nothing proves it is your cluster; prefer --ca-cert FILE")
        elif ca_cert:
            verify = _ca_context(ca_cert)
        else:
            verify = True
        connect = min(CONNECT_TIMEOUT, timeout) if timeout else CONNECT_TIMEOUT
        self._client = httpx.Client(
            base_url=url,
            auth=httpx.BasicAuth(user, password),
            verify=verify,
            timeout=httpx.Timeout(timeout or READ_TIMEOUT, connect=connect),
            headers={"Accept": "application/json", "User-Agent": f"rladmin-py/{_version()}"},
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=1, keepalive_expiry=60.0),
            follow_redirects=False,
            transport=transport,  # tests only (httpx.MockTransport)
        )

    # -- transport -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, body=None, *, long: bool = False, fallback_ok: bool = False):
        """Send one request; return the decoded JSON answer (None when empty), or raise."""
        httpx = self._httpx
        headers = {}
        content = None
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = httpx.USE_CLIENT_DEFAULT
        if long and not self._timeout:
            timeout = httpx.Timeout(CERTIFICATE_TIMEOUT, connect=CONNECT_TIMEOUT)
        started = time.monotonic()
        outcome = "-"
        try:
            response = self._client.request(method, path, content=content, headers=headers, timeout=timeout)
            outcome = str(response.status_code)
        except httpx.HTTPError as err:
            outcome = type(err).__name__
            raise self._transport_error(err, method, path, long) from None
        finally:
            if self.debug:
                elapsed = (time.monotonic() - started) * 1000
                self._note(f"debug: {method} {self.url}{path} -> {outcome} ({elapsed:.1f} ms)")
        if fallback_ok and response.status_code in (404, 405):
            return _FALLBACK
        if response.status_code >= 400:
            raise self._status_error(response, method, path)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectionProblem(
                f"{self.url} answered {method} {path} with something that is not JSON; "
                f"is it the RS REST API (https://<cluster>:{DEFAULT_PORT})?") from None

    def _transport_error(self, err, method: str, path: str, long: bool) -> BackendError:
        httpx = self._httpx
        url = self.url
        chain = _chain(err)
        verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        if verify is not None or "CERTIFICATE_VERIFY_FAILED" in str(err):
            reason = (getattr(verify, "verify_message", None) or "certificate verify failed").rstrip(".")
            code = getattr(verify, "verify_code", None)
            if code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
                fix = (f"the cluster's certificate does not name {self._client.base_url.host}: connect with a name it "
                       "holds (cluster certificate show api -k lists them), or skip verification with -k/--insecure")
            elif code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
                fix = ("the cluster's API certificate has expired: replace it (cluster certificate set api ...), "
                       "using -k/--insecure until then; --ca-cert cannot help")
            else:
                fix = ("the cluster's certificate is not signed by a CA you trust: give the cluster's CA certificate "
                       "with --ca-cert FILE (or REDIS_ENTERPRISE_CA_CERT), or skip verification with -k/--insecure")
            return ConnectionProblem(f"TLS verification failed for {url}: {reason}; {fix}",
                                     error_code="tls_verification_failed")
        tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
        if tls is not None:
            reason = tls.reason or _one_line(tls)
            hint = ""
            if reason and "WRONG_VERSION_NUMBER" in reason:
                hint = " (is it an HTTPS port? the RS REST API is https://<cluster>:9443)"
            elif reason and ("PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason):
                hint = " (the cluster and this machine share no TLS version; see min_control_TLS_version)"
            elif isinstance(tls, ssl.SSLEOFError) or (reason and "UNEXPECTED_EOF" in reason):
                reason = "the server closed the connection"
                hint = f" (is it the RS REST API, https://<cluster>:{DEFAULT_PORT}?)"
            return ConnectionProblem(f"TLS handshake with {url} failed: {reason}{hint}", error_code="tls_failed")
        if isinstance(err, httpx.ConnectTimeout):
            return ConnectionProblem(f"cannot connect to {url}: timed out", error_code="timeout")
        if isinstance(err, httpx.TimeoutException):
            limit = self._timeout or (CERTIFICATE_TIMEOUT if long else READ_TIMEOUT)
            check = "cluster certificate show" if "certificate" in path or "update_cert" in path else "info cluster"
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
            return ConnectionProblem(f"cannot connect to {url}: {_one_line(err) or type(err).__name__}",
                                     error_code="connection_failed")
        if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            extra = ("; the change may or may not have been applied: check, then run the command again"
                     if method != "GET" else "")
            return ConnectionProblem(f"the connection to {url} broke during {method} {path}{extra}",
                                     error_code="connection_lost")
        return ConnectionProblem(f"{method} {url}{path} failed: {_one_line(err) or type(err).__name__}",
                                 error_code="request_failed")

    def _status_error(self, response, method: str, path: str) -> BackendError:
        status = response.status_code
        description, error_code = _error_body(response)
        reason = response.reason_phrase or ""
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
        if status >= 500:
            return BackendError(f"the cluster failed ({status} {reason}){': ' + description if description else ''}",
                                error_code=error_code or "server_error", status=status)
        return BackendError(f"unexpected answer {status} {reason} to {method} {self.url}{path}"
                            f"{': ' + description if description else ''}", error_code=error_code, status=status)

    # -- Backend protocol ----------------------------------------------------------------------
    def get_cluster(self) -> dict:
        return self._expect_object(self._request("GET", "/v1/cluster"), "GET /v1/cluster")

    def update_cluster(self, changes: dict) -> dict:
        answer = self._request("PUT", "/v1/cluster", changes)
        return answer if isinstance(answer, dict) else self.get_cluster()

    def get_certificates(self) -> dict:
        return self._expect_object(self._request("GET", "/v1/cluster/certificates"), "GET /v1/cluster/certificates")

    def get_nodes(self) -> list[dict]:
        answer = self._request("GET", "/v1/nodes")
        if not isinstance(answer, list):
            raise ConnectionProblem(f"{self.url} answered GET /v1/nodes with something other than a list of nodes")
        return answer

    def replace_certificates(self, updates: list[CertificateUpdate]) -> list[dict]:
        """PUT /v1/cluster/certificates (RS 7.22.2+), else one PUT /v1/cluster/update_cert each."""
        items = [_item(u) for u in updates]
        if not self._legacy_certificates:
            answer = self._request("PUT", BULK_PATH, {"certificates": items}, long=True, fallback_ok=True)
            if answer is _FALLBACK:
                self._legacy_certificates = True
                if self.debug:
                    self._note(f"debug: {self.url} does not know PUT {BULK_PATH} (RS before 7.22.2); "
                               f"using PUT {LEGACY_PATH}")
            else:
                return self._nodes_updated()
        done = []
        for update, item in zip(updates, items):
            try:
                self._request("PUT", LEGACY_PATH, item, long=True)
            except BackendError as err:
                if done:  # the older API cannot replace several certificates at once
                    err.message = f"{', '.join(done)} replaced; {update.name} not replaced: {err.message}"
                    err.args = (err.message,)
                raise
            done.append(update.name)
        return self._nodes_updated()

    def _nodes_updated(self) -> list[dict]:
        """RS answers 200 only when every node took the certificate: report the cluster's nodes."""
        try:
            nodes = self.get_nodes()
        except BackendError:
            return []
        return [{"uid": n.get("uid"), "addr": n.get("addr"), "status": "updated"} for n in nodes if isinstance(n, dict)]

    def _expect_object(self, answer, what: str) -> dict:
        if not isinstance(answer, dict):
            raise ConnectionProblem(f"{self.url} answered {what} with something other than a JSON object; "
                                    f"is it the RS REST API?")
        return answer

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()


_FALLBACK = object()


def _item(update: CertificateUpdate) -> dict:
    item = {"name": update.name, "certificate": update.certificate}
    if update.key:
        item["key"] = update.key
    return item


def _error_body(response) -> tuple[str | None, str | None]:
    """(description, error_code) from an RS error body; ``message`` is read too (some pages say so)."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    description = body.get("description") or body.get("message") or body.get("detail")
    code = body.get("error_code")
    return (_one_line(description) if description else None), (str(code) if code else None)


def _ca_context(path: str) -> ssl.SSLContext:
    """A verifying client context that trusts exactly the CA certificates in ``path`` (like curl --cacert)."""
    import os

    shown = path
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise ConfigurationProblem(f"{shown}: no such file (the CA certificate for --ca-cert)")
    if os.path.isdir(path):
        raise ConfigurationProblem(f"{shown}: is a directory, not a CA certificate file (--ca-cert)")
    try:
        return ssl.create_default_context(cafile=path)
    except PermissionError:
        raise ConfigurationProblem(f"{shown}: permission denied (cannot read the CA certificate)") from None
    except (ssl.SSLError, ValueError, OSError):
        raise ConfigurationProblem(f"{shown}: not a PEM CA certificate (--ca-cert takes the cluster's CA "
                                   "certificate in PEM)") from None


def _version() -> str:
    from .. import __version__

    return __version__
