"""The HTTP(S) server under each of the sandbox's web endpoints (REST API, plain-HTTP REST,
Cluster Manager UI, metrics exporter): one thread per connection, the TLS context current at
the moment each connection is accepted, a bounded handshake, counting, a graceful stop, and one
log line per request (endpoint, peer, TLS version, method, path, status; never bodies, keys or
credentials).

Standard library only (``http.server`` + ``ssl``).
"""
from __future__ import annotations

import socket
import socketserver
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer

HANDSHAKE_TIMEOUT = 10.0  # seconds a client has to finish the TLS handshake


def short_reason(err) -> str:
    """An exception as a few words for a log line."""
    if isinstance(err, ssl.SSLError):
        return f"TLS: {err.reason or err}"
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def peer(address) -> str:
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class EndpointServer(ThreadingHTTPServer):
    """One endpoint: HTTPS with the context ``tls.current()`` gives (or plain HTTP when ``tls`` is
    None), served by ``handler``. ``state_path`` is the sandbox the handlers answer from, ``live``
    the state as all endpoints of one ``--serve`` see it."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple, handler, *, name: str, state_path: str, live=None, tls=None,
                 debug: bool = False, log=None, request_log: bool = True,
                 handshake_timeout: float = HANDSHAKE_TIMEOUT):
        self.name = name
        self.state_path = state_path
        self.live = live  # the shared view of the state (tls.LiveState), for handlers that read it
        self.tls = tls
        self.debug = debug
        self._log_fn = log or (lambda message: None)
        self.request_log = request_log
        self.handshake_timeout = handshake_timeout
        self.connections_accepted = 0
        self.requests_served = 0
        self._counts = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition()
        infos = socket.getaddrinfo(address[0] or None, address[1], type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        self.address_family = infos[0][0]
        super().__init__(infos[0][4][:2], handler)

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    def log(self, message: str) -> None:
        """A debugging detail (only with --debug)."""
        if self.debug:
            self._log_fn(f"debug: {self.name}: {message}")

    def log_request_line(self, request, client_address, method: str, path: str, status, elapsed_ms: float) -> None:
        """The one line a request leaves in the log."""
        if not self.request_log:
            return
        version = request.version() if isinstance(request, ssl.SSLSocket) else "plain"
        timing = f" ({elapsed_ms:.1f} ms)" if self.debug else ""
        shown = "".join(ch if ch.isprintable() and ch != " " else "?" for ch in path[:200])
        self._log_fn(f"{self.name} {peer(client_address)} {version} {method} {shown} {status or '-'}{timing}")

    def log_connection(self, client_address, what: str) -> None:
        """A connection that ended before any request (a refused handshake, a timeout)."""
        if self.request_log:
            self._log_fn(f"{self.name} {peer(client_address)} {what}")

    def server_bind(self):  # skip HTTPServer's reverse DNS lookup (socket.getfqdn): slow offline
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def get_request(self):
        """Accept, count, and wrap with the TLS context current at this moment (no I/O here)."""
        sock, addr = self.socket.accept()
        with self._counts:
            self.connections_accepted += 1
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):  # answers are small: no Nagle delay
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is None:
                return sock, addr
            return self.tls.current().wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr
        except BaseException:
            sock.close()
            raise

    def process_request_thread(self, request, client_address):
        """In the connection's own thread: the TLS handshake (bounded), then HTTP."""
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(self.handshake_timeout)
                try:
                    request.do_handshake()
                except Exception as err:  # an old TLS version, an unknown CA, a reset, a timeout
                    self.log_connection(client_address, f"TLS handshake failed: {short_reason(err)}")
                    return
                request.settimeout(None)
            self.finish_request(request, client_address)
        except Exception as err:  # a reset or timeout mid-request
            self.log(f"{peer(client_address)}: connection ended: {short_reason(err)}")
        finally:
            self.shutdown_request(request)

    def handle_error(self, request, client_address):  # no tracebacks on the terminal
        self.log(f"{peer(client_address)}: {short_reason(sys.exc_info()[1])}")

    # bookkeeping used by the handlers
    def request_started(self) -> int:
        with self._counts:
            self.requests_served += 1
        with self._idle:
            self._inflight += 1
        return self.connections_accepted

    def request_finished(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout=timeout)
