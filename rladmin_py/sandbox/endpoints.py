"""Every endpoint the sandbox serves, opened, run and stopped together (rs-tls.md section 6).

| endpoint | certificate | TLS settings | RS default port |
|---|---|---|---|
| REST API | ``api`` | control plane | 9443 (``cnm_https_port``) |
| Cluster Manager UI | ``cm`` | control plane | 8443 (``cm_port``) |
| REST API over plain HTTP, while ``http_support`` is enabled | none | none | 8080 (``cnm_http_port``) |
| metrics exporter | ``metrics_exporter`` | control plane [guess] | 8070 |
| database endpoint ``db:1`` | ``proxy`` | data plane | 12000 |

Not served: ``syncer`` (no Replica Of peer), the discovery service (sentinel), internode
encryption.

Also, when the state registers one (``ocsp_responder``, written by ``sandbox make-certs``), the
OCSP responder the practice certificates name (:mod:`.ocsp_responder`): always on 127.0.0.1 and
on the state's port, since that URL is inside the certificates. It is a convenience, not an RS
endpoint: a port it cannot have is one warning line, and the rest serves on.

All endpoints read one :class:`~.tls.LiveState`: a change any process writes to the state file
(a shell, a REST ``PUT``, curl) is in force for the next connection on every endpoint; a
watcher applies the one change that is not about connections, ``http_support``, within a
fraction of a second. Connections already open keep what they negotiated.

Everything is bound before anything serves: a busy port is one error naming it, and nothing is
left running.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field

from .httpserver import EndpointServer
from .metrics import MetricsHandler
from .rest_api import STOP_GRACE, SandboxHTTPSServer
from .tls import EndpointTLS, LiveState
from .ui import UIHandler

#: Where each endpoint listens when the REST API is given a port number (RS's defaults).
RS_PORTS = {"cm": 8443, "http": 8080, "metrics_exporter": 8070, "database": 12000}
NOT_SERVED = "syncer (no Replica Of peer), the discovery service (sentinel), internode encryption"
LABELS = {"api": "REST API", "cm": "Cluster Manager UI", "http": "plain-HTTP REST API",
          "metrics_exporter": "metrics exporter", "database": "database endpoint db:1"}
WATCH_INTERVAL = 0.2  # seconds between looks at http_support


def _ocsp_port(state: dict | None) -> int | None:
    """The OCSP responder port a state registers (cryptography is imported only when there is one)."""
    if not isinstance(state, dict) or not state.get("ocsp_responder"):
        return None
    from .ocsp_responder import port_of

    return port_of(state)


class PortBusy(Exception):
    """An endpoint cannot listen where it must: the message names the endpoint, host and port."""


@dataclass
class Endpoints:
    """The endpoints of one sandbox on one host. ``port`` 0: every endpoint an ephemeral port;
    otherwise the REST API on ``port`` and the others on RS's defaults."""

    state_path: str
    host: str = "127.0.0.1"
    port: int = 0
    legacy: str | None = None
    debug: bool = False
    log: object = None  # a callable taking one line
    request_log: bool = True
    servers: dict = field(default_factory=dict)
    database_off: str | None = None  # why there is no database endpoint

    def __post_init__(self):
        self._log = self.log or (lambda line: None)
        self.live = LiveState(self.state_path, log=self._debug)
        self.ports = {name: (self.port if name == "api" else 0 if self.port == 0 else RS_PORTS[name])
                      for name in LABELS}
        self._threads: list[threading.Thread] = []
        self._http_lock = threading.Lock()
        self._stop = threading.Event()
        self._redis = None
        self._database = None
        self._data_dir: str | None = None
        self._retired = [0, 0]  # connections and requests of servers already closed
        self._ocsp = None  # an ocsp_responder.OCSPResponder while one runs
        self._ocsp_refused: int | None = None  # the port last warned about

    def _debug(self, message: str) -> None:
        if self.debug:
            self._log(f"debug: {message}")

    # -- opening -----------------------------------------------------------------------------------
    def _bind(self, name: str, make):
        try:
            return make((self.host, self.ports[name]))
        except OSError as err:
            where = f"[{self.host}]:{self.ports[name]}" if ":" in self.host else f"{self.host}:{self.ports[name]}"
            raise PortBusy(f"cannot listen on {where} for the {LABELS[name]}: {err.strerror or err}") from None

    def _web(self, name: str, handler, cert_name: str | None):
        def make(address):
            tls = None
            if cert_name is not None:
                tls = EndpointTLS(self.live, cert_name, "control", log=self._debug)
                tls.load()
            return EndpointServer(address, handler, name=name, state_path=self.state_path, live=self.live, tls=tls,
                                  debug=self.debug, log=self._log, request_log=self.request_log)
        return make

    def _rest(self, name: str, plain: bool):
        def make(address):
            return SandboxHTTPSServer(address, self.state_path, legacy=self.legacy, debug=self.debug, log=self._log,
                                      live=self.live, plain=plain, name=name, request_log=self.request_log)
        return make

    def open(self) -> None:
        """Bind every endpoint and start the database server; on any failure, undo it all."""
        try:
            state = self.live.load()
            self.servers["api"] = self._bind("api", self._rest("api", plain=False))
            self.servers["cm"] = self._bind("cm", self._web("cm", UIHandler, "cm"))
            self.servers["metrics_exporter"] = self._bind("metrics_exporter",
                                                          self._web("metrics_exporter", MetricsHandler,
                                                                    "metrics_exporter"))
            http = self._bind("http", self._rest("http", plain=True))
            self.ports["http"] = http.server_address[1]
            if state["cluster"].get("http_support", True):
                self.servers["http"] = http
            else:
                http.server_close()  # the port refuses connections until http_support is enabled
            for name, server in self.servers.items():
                self.ports[name] = server.server_address[1]
            self._open_database()
            self._open_ocsp(state)
        except BaseException:
            self.close()
            raise

    def _open_database(self) -> None:
        from . import database

        binary, why = database.find_server()
        if binary is None:
            self.database_off = why
            return
        self.data_tls = EndpointTLS(self.live, "proxy", "data", alpn=(), log=self._debug)
        self.data_tls.load()
        self._data_dir = tempfile.mkdtemp(prefix="rladmin-py-db-")  # 0700, removed at stop
        self._redis = database.RedisServer(self._data_dir, binary=binary)
        try:
            self._redis.start()
        except database.DatabaseError as err:
            self.database_off = f"the Redis-protocol server did not start ({err})"
            self._redis = None
            return
        self._database = database.DatabaseEndpoint(self._redis.socket_path, self._database_context, host=self.host,
                                                   port=self.ports["database"], log=self._database_log)
        try:
            self._database.start()
        except database.EndpointError as err:
            where = str(err).split(": ", 1)[-1]
            raise PortBusy(f"cannot listen on {self._where('database')} for the {LABELS['database']}: {where}") from None
        self.ports["database"] = self._database.address[1]

    def _open_ocsp(self, state: dict | None) -> None:
        """Run the OCSP responder where the state says (a new port: moved; none: stopped)."""
        wanted = _ocsp_port(state)
        running = self._ocsp
        if running is not None and running.port == wanted:
            return
        if running is not None:
            self._ocsp = None
            self.ports.pop("ocsp_responder", None)
            running.close()
        if wanted is None or wanted == self._ocsp_refused:
            return
        from .ocsp_responder import OCSPResponder, issuers_of

        responder = OCSPResponder(lambda: issuers_of(self.live.current()), port=wanted,
                                  log=self._log if self.request_log else None)
        try:
            responder.start()
        except OSError as err:
            self._ocsp_refused = wanted
            self._log(f"warning: cannot listen on 127.0.0.1:{wanted} for the OCSP responder "
                      f"({err.strerror or err}); OCSP queries of the practice certificates will fail")
            return
        self._ocsp = responder
        self.ports["ocsp_responder"] = responder.port

    def _where(self, name: str) -> str:
        return f"[{self.host}]:{self.ports[name]}" if ":" in self.host else f"{self.host}:{self.ports[name]}"

    def _database_context(self):
        """The TLS context of a new database connection: None (plain) unless ``tls_mode`` is enabled."""
        bdbs = self.live.current().get("bdbs") or [{}]
        return self.data_tls.current() if bdbs[0].get("tls_mode") == "enabled" else None

    def _database_log(self, line: str) -> None:
        if self.request_log:
            self._log(f"database {line.removeprefix('connection from ')}")

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> None:
        for server in list(self.servers.values()):
            self._serve(server)
        watcher = threading.Thread(target=self._watch, name="rladmin-serve-watch", daemon=True)
        watcher.start()
        self._threads.append(watcher)

    def _serve(self, server) -> None:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25},
                                  name=f"rladmin-serve-{server.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch(self) -> None:
        """Open or close the plain-HTTP port as ``http_support`` says (new connections only), and
        start the OCSP responder when ``sandbox make-certs`` registers one while serving."""
        while not self._stop.wait(WATCH_INTERVAL):
            state = self.live.current()
            with self._http_lock:
                if not self._stop.is_set() and _ocsp_port(state) != (self._ocsp.port if self._ocsp else None):
                    self._open_ocsp(state)
                    if self._ocsp is not None:
                        self._log(f"the OCSP responder answers on {self._ocsp.url}")
            wanted = bool(state and state["cluster"].get("http_support", True))
            with self._http_lock:
                running = self.servers.get("http")
                if wanted and running is None and not self._stop.is_set():
                    try:
                        server = self._rest("http", plain=True)((self.host, self.ports["http"]))
                    except OSError as err:
                        self._log(f"warning: http_support is enabled but {self._where('http')} is busy "
                                  f"({err.strerror or err}); trying again")
                        continue
                    self.servers["http"] = server
                    self._serve(server)
                    self._log(f"http_support enabled: the plain-HTTP REST API answers on http://{self._where('http')}")
                elif not wanted and running is not None:
                    del self.servers["http"]
                    self._close(running)
                    self._log(f"http_support disabled: {self._where('http')} refuses new connections")

    # -- stopping ----------------------------------------------------------------------------------
    def _close(self, server) -> None:
        server.shutdown()
        server.server_close()
        self._retire(server)

    def _retire(self, server) -> None:
        self._retired[0] += server.connections_accepted
        self._retired[1] += server.requests_served

    def close(self) -> None:
        """Stop everything: the listeners, the connections, the database server and its files."""
        self._stop.set()
        with self._http_lock:
            servers, self.servers = dict(self.servers), {}
            ocsp, self._ocsp = self._ocsp, None
        running = [s for s in servers.values() if any(t.name == f"rladmin-serve-{s.name}" for t in self._threads)]
        stoppers = [threading.Thread(target=s.shutdown) for s in running]  # every loop ends at once
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for server in servers.values():
            server.socket.close()  # refuse new connections, everywhere
        for server in running:
            if not server.wait_idle(STOP_GRACE):
                self._log(f"warning: the {LABELS.get(server.name, server.name)} stopped with requests in progress")
        for server in servers.values():
            server.server_close()
            self._retire(server)
        if ocsp is not None:
            ocsp.close()
        if self._database is not None:
            self._database.stop()
            self._database = None
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        for thread in self._threads:
            thread.join(timeout=5)
        self.live.close()

    # -- what clients need -------------------------------------------------------------------------
    def urls(self, display_host: str) -> dict:
        """``endpoints`` of the start-up line: each served endpoint's URL (None: not served now)."""
        def where(name):
            return f"[{display_host}]:{self.ports[name]}" if ":" in display_host else f"{display_host}:{self.ports[name]}"

        return {
            "api": f"https://{where('api')}",
            "cm": f"https://{where('cm')}",
            "http": f"http://{where('http')}" if "http" in self.servers else None,
            "metrics_exporter": f"https://{where('metrics_exporter')}",
            "database": where("database") if self._database is not None else None,
            **({"ocsp_responder": self._ocsp.url} if self._ocsp is not None else {}),
        }

    @property
    def connections_accepted(self) -> int:
        return self._retired[0] + sum(s.connections_accepted for s in self.servers.values())

    @property
    def requests_served(self) -> int:
        return self._retired[1] + sum(s.requests_served for s in self.servers.values())
