"""The HTTP(S) server under each of the sandbox's web endpoints (REST API, plain-HTTP REST,
Cluster Manager UI, metrics exporter, OCSP responder): one thread per connection, the TLS
context current at the moment each connection is accepted, counting, a graceful stop, and one
log line per request (endpoint, peer, TLS version, method, path, status; never bodies, keys or
credentials).

Slow clients hold up nobody (slowloris): the TLS handshake has one deadline for all of it
(:data:`HANDSHAKE_TIMEOUT`), and so has every request, its headers and body together
(:data:`REQUEST_TIMEOUT`, from its first byte; on a new connection from the handshake's end),
however the bytes trickle in: a per-read timeout alone lets one byte every few seconds hold a
connection for ever. Each endpoint holds at most ``max_connections`` connections (from the
file limit, :mod:`.limits`); one more is closed at once, and running out of descriptors pauses
accepting instead of spinning.

Standard library only (``http.server`` + ``ssl``).
"""
from __future__ import annotations

import errno
import select
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from http.server import ThreadingHTTPServer

from ..terminal import escape
from .limits import connection_cap

HANDSHAKE_TIMEOUT = 10.0  # seconds a client has to finish the TLS handshake, all of it
REQUEST_TIMEOUT = 10.0  # seconds a request's headers and body may take, all of them
IDLE_TIMEOUT = 120.0  # seconds a keep-alive connection may wait for its next request's first byte
WRITE_TIMEOUT = 30.0  # seconds one write of an answer may take
LINGER_TIMEOUT = 2.0  # seconds a refused upload may go on being read (and dropped) before the close
LINGER_BYTES = 64 << 20  # bytes of it read at most (reading raw bytes is cheap: the time bounds it)
_ACCEPT_PAUSE = 0.25  # seconds to wait for a free descriptor when accept runs out of them


class RequestTimeout(TimeoutError):
    """A request (headers and body) or a TLS handshake not complete by its deadline."""


class _Deadlines:
    """Reads bounded by the deadline of the request being read; mixed into the socket classes of
    accepted connections. ``_deadline`` None: between requests (the next one's first byte starts
    its deadline), waiting at most ``_idle`` seconds."""

    _deadline: float | None = None
    _idle: float | None = IDLE_TIMEOUT
    _request_timeout: float = REQUEST_TIMEOUT
    _write_timeout: float | None = WRITE_TIMEOUT
    _timed_out = False
    _unread_input = False  # an answer was sent before the request's body was read (413, 411...)

    def _before_read(self) -> None:
        deadline = self._deadline
        if deadline is None:
            self.settimeout(self._idle)
            return
        left = deadline - time.monotonic()
        if left <= 0:
            self._timed_out = True
            raise RequestTimeout(f"the request was not complete within {self._request_timeout:g} s")
        self.settimeout(left if self._idle is None else min(left, self._idle))

    def _after_read(self, size: int) -> None:
        if size and self._deadline is None:  # a request's first bytes: its deadline starts now
            self._deadline = time.monotonic() + self._request_timeout

    def _read_timed_out(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:  # the request's deadline
            self._timed_out = True

    def recv_into(self, buffer, *args, **kwargs):
        self._before_read()
        try:
            size = super().recv_into(buffer, *args, **kwargs)
        except TimeoutError:
            self._read_timed_out()
            raise
        self._after_read(size)
        return size

    def recv(self, *args, **kwargs):
        self._before_read()
        try:
            data = super().recv(*args, **kwargs)
        except TimeoutError:
            self._read_timed_out()
            raise
        self._after_read(len(data))
        return data

    def sendall(self, data, *args, **kwargs):
        self.settimeout(self._write_timeout)
        return super().sendall(data, *args, **kwargs)

    def request_done(self) -> None:
        """The request was read and answered: the connection waits for the next one."""
        self._deadline = None


def leave_input_unread(connection) -> None:
    """The answer on ``connection`` goes before its request's body was read: that input is read and
    dropped when the connection closes (:meth:`EndpointServer.shutdown_request`)."""
    if isinstance(connection, _Deadlines):
        connection._unread_input = True


class _DeadlineSocket(_Deadlines, socket.socket):
    """A plain accepted connection with request deadlines."""


class _DeadlineSSLSocket(_Deadlines, ssl.SSLSocket):
    """A TLS accepted connection with request deadlines (``SSLContext.sslsocket_class``)."""


def _wait_for(sock, want_write: bool, timeout: float) -> None:
    """Block until ``sock`` is readable (or writable), at most ``timeout`` seconds (poll: fine
    for descriptors above FD_SETSIZE)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT if want_write else select.POLLIN)
        poller.poll(max(0, int(timeout * 1000)) + 1)
    else:  # pragma: no cover - platforms without poll
        select.select([] if want_write else [sock], [sock] if want_write else [], [], timeout)


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
    None), served by ``handler``. ``state_path`` is the sandbox the handlers answer from (None: they
    answer from elsewhere, as the OCSP responder), ``live`` the state as all endpoints of one
    ``--serve`` see it."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple, handler, *, name: str, state_path: str | None = None, live=None, tls=None,
                 debug: bool = False, log=None, request_log: bool = True,
                 handshake_timeout: float = HANDSHAKE_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT,
                 max_connections: int | None = None):
        self.name = name
        self.state_path = state_path
        self.live = live  # the shared view of the state (tls.LiveState), for handlers that read it
        self.tls = tls
        self.debug = debug
        self._log_fn = log or (lambda message: None)
        self.request_log = request_log
        self.handshake_timeout = handshake_timeout
        self.request_timeout = request_timeout
        self.idle_timeout = getattr(handler, "timeout", None) or IDLE_TIMEOUT
        self.max_connections = max_connections or connection_cap()
        self.connections_accepted = 0
        self.connections_refused = 0
        self.requests_served = 0
        self._counts = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition()
        self._slots = threading.Condition()
        self._saturated = False
        self._connections: set = set()  # being served now (each has a thread): closed by server_close
        infos = socket.getaddrinfo(address[0] or None, address[1], type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        self.address_family = infos[0][0]
        super().__init__(infos[0][4][:2], handler)

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    def log(self, message: str) -> None:
        """A debugging detail (only with --debug); it may quote a request line: escaped."""
        if self.debug:
            self._log_fn(f"debug: {self.name}: {escape(message)}")

    def log_request_line(self, request, client_address, method: str, path: str, status, elapsed_ms: float) -> None:
        """The one line a request leaves in the log."""
        if not self.request_log:
            return
        version = request.version() if isinstance(request, ssl.SSLSocket) else "plain"
        timing = f" ({elapsed_ms:.1f} ms)" if self.debug else ""
        shown = escape(path[:200]).replace(" ", "\\x20")  # one word: the client chose every character
        self._log_fn(f"{self.name} {peer(client_address)} {version} {escape(method[:40])} {shown} {status or '-'}{timing}")

    def log_connection(self, client_address, what: str) -> None:
        """A connection that ended before any request (a refused handshake, a timeout)."""
        if self.request_log:
            self._log_fn(f"{self.name} {peer(client_address)} {escape(what)}")

    def server_bind(self):  # skip HTTPServer's reverse DNS lookup (socket.getfqdn): slow offline
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def get_request(self):
        """Accept, count, refuse beyond ``max_connections``, and wrap with the TLS context current
        at this moment (no I/O here)."""
        try:
            sock, addr = self.socket.accept()
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self._out_of_descriptors(err)
            raise
        with self._counts:
            self.connections_accepted += 1
        if len(self._connections) >= self.max_connections:  # only this thread adds them: no race upwards
            self._refuse(sock, addr)
            raise ConnectionRefusedError(errno.ECONNREFUSED, "too many connections")  # BaseServer: next one
        if self._saturated:
            self._saturated = False
            self.log_connection(addr, f"accepting connections again ({self.connections_refused} refused "
                                      f"while {self.max_connections} were open)")
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):  # answers are small: no Nagle delay
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is None:
                return _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach()), addr
            context = self.tls.current()
            if context.sslsocket_class is not _DeadlineSSLSocket:
                context.sslsocket_class = _DeadlineSSLSocket  # documented: wrap_socket returns this class
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr
        except BaseException:
            sock.close()
            raise

    def _refuse(self, sock, addr) -> None:
        """One connection too many: closed at once (a reset, no TLS), logged once per episode."""
        with self._counts:
            self.connections_refused += 1
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset
        except OSError:
            pass
        sock.close()
        if not self._saturated:
            self._saturated = True
            self.log_connection(addr, f"refused: {self.max_connections} connections already open "
                                      "(more are refused until some close)")

    def _out_of_descriptors(self, err: OSError) -> None:
        """accept() found no free descriptor: the listener stays readable, so retrying at once would
        spin. Wait (bounded) for a connection of ours to close instead."""
        self.log(f"cannot accept: {err.strerror or err}; pausing")
        with self._slots:
            self._slots.wait(_ACCEPT_PAUSE)

    def process_request(self, request, client_address):
        """Count the connection, then serve it in its own thread (as ThreadingMixIn does)."""
        with self._slots:
            self._connections.add(request)
        try:
            thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                      daemon=True, name=f"rladmin-{self.name}-conn")
            thread.start()
        except BaseException:
            self._closed_one(request)
            raise  # BaseServer closes the connection

    def _closed_one(self, request) -> None:
        with self._slots:
            self._connections.discard(request)
            self._slots.notify_all()

    def server_close(self):
        """Close the listener, and end the connections still open (their threads see EOF)."""
        super().server_close()
        with self._slots:
            connections = list(self._connections)
        for connection in connections:
            try:
                socket.socket.shutdown(connection, socket.SHUT_RDWR)  # the descriptor, not TLS's shutdown
            except OSError:
                pass

    @property
    def connections_open(self) -> int:
        return len(self._connections)

    def _handshake(self, request: ssl.SSLSocket) -> None:
        """The whole TLS handshake within ``handshake_timeout`` seconds, however slowly the peer
        sends: non-blocking steps, waiting (poll) only for the time left."""
        deadline = time.monotonic() + self.handshake_timeout
        request.settimeout(0.0)
        while True:
            try:
                request.do_handshake()
                return
            except ssl.SSLWantReadError:
                want_write = False
            except ssl.SSLWantWriteError:
                want_write = True
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout(f"not finished within {self.handshake_timeout:g} s")
            _wait_for(request, want_write, left)

    def process_request_thread(self, request, client_address):
        """In the connection's own thread: the TLS handshake (one deadline), then HTTP (one
        deadline per request)."""
        try:
            if isinstance(request, ssl.SSLSocket):
                try:
                    self._handshake(request)
                except Exception as err:  # an old TLS version, an unknown CA, a reset, a timeout
                    reason = "timed out" if isinstance(err, TimeoutError) else short_reason(err)
                    self.log_connection(client_address, f"TLS handshake failed: {reason}")
                    return
            if isinstance(request, _Deadlines):
                request._idle = self.idle_timeout
                request._request_timeout = self.request_timeout
                request._deadline = time.monotonic() + self.request_timeout  # the first request: from now
            self.finish_request(request, client_address)
            if getattr(request, "_timed_out", False):
                self.log_connection(client_address, f"closed: a request was not complete within "
                                                    f"{self.request_timeout:g} s")
        except Exception as err:  # a reset or timeout mid-request
            self.log(f"{peer(client_address)}: connection ended: {short_reason(err)}")
        finally:
            try:
                self.shutdown_request(request)
            finally:
                self._closed_one(request)

    def shutdown_request(self, request):
        """Close; after an answer sent before the body was read (a 413 to a client uploading
        without ``Expect: 100-continue``), stop sending first and drop what the client still sends,
        bounded in time and bytes: closing with unread input makes the kernel answer a reset,
        and the client may lose the answer it was sent."""
        if getattr(request, "_unread_input", False):
            try:
                socket.socket.shutdown(request, socket.SHUT_WR)  # the descriptor: the answer is complete
                deadline, left = time.monotonic() + LINGER_TIMEOUT, LINGER_BYTES
                while left > 0:
                    wait = deadline - time.monotonic()
                    if wait <= 0 or not select.select([request], [], [], wait)[0]:
                        break
                    data = socket.socket.recv(request, min(left, 65536))  # raw bytes, dropped unread
                    if not data:
                        break
                    left -= len(data)
            except OSError:
                pass
        super().shutdown_request(request)

    def handle_error(self, request, client_address):  # no tracebacks on the terminal
        self.log(f"{peer(client_address)}: {short_reason(sys.exc_info()[1])}")

    # bookkeeping used by the handlers
    def request_started(self) -> int:
        with self._counts:
            self.requests_served += 1
        with self._idle:
            self._inflight += 1
        return self.connections_accepted

    def request_finished(self, connection) -> None:
        """The handler answered a request on ``connection`` (its ``self.connection``)."""
        if isinstance(connection, _Deadlines):  # answered: the next request gets a deadline of its own
            connection.request_done()
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout=timeout)
