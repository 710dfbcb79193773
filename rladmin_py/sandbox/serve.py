"""``rladmin-py --sandbox PATH --serve [HOST:]PORT``: start the sandbox's endpoints, say where
they are, log each connection and request, and stop everything on Ctrl-C or SIGTERM (the
database server process too; it also dies with us on SIGKILL, see :mod:`.database`)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading

from ..backends import EXIT_CONNECTION, EXIT_OK, EXIT_USAGE, BackendError
from .rest_api import LEGACY_ENV
from .tls import TLSSetupProblem
from ..terminal import escape


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); the host defaults to 127.0.0.1."""
    text = (text or "").strip()
    m = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z0-9]+)\]:(\d+)", text)
    if m:
        host, port = m.group(1), m.group(2)
    elif re.fullmatch(r"\d+", text):
        host, port = "127.0.0.1", text
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or ":" in host:
            raise ValueError(f"--serve takes [HOST:]PORT (e.g. 9443, 127.0.0.1:0 or [::1]:9443), not {text!r}")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"--serve: port {number} is out of range (0-65535; 0 picks a free port)")
    return host, number


def display_host(host: str) -> str:
    """The host local clients should use (the sandbox's certificates name localhost and 127.0.0.1)."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host


def main(args, printer) -> int:
    """Serve until Ctrl-C or SIGTERM; exit 0 then."""
    from ..safefiles import disable_core_dumps
    from .limits import raise_open_file_limit

    disable_core_dumps()  # this process holds every private key of the sandbox
    raise_open_file_limit()  # room for every endpoint's connections (each refuses beyond its share)
    from .cluster import SandboxCluster
    from .endpoints import NOT_SERVED, Endpoints, PortBusy

    for flag, given in (("--cluster", getattr(args, "cluster", None)), ("--profile", getattr(args, "profile", None))):
        if given:
            printer.error(f"--serve serves the local sandbox; it cannot be combined with {flag} (see rladmin-py --help)")
            return EXIT_USAGE
    if getattr(args, "words", None) or getattr(args, "file", None):
        printer.error("--serve runs no commands: give either --serve or a command/script (see rladmin-py --help)")
        return EXIT_USAGE
    try:
        host, port = parse_address(args.serve)
    except ValueError as err:
        printer.error(str(err))
        return EXIT_USAGE
    legacy = os.environ.get(LEGACY_ENV, "").strip().lower()
    legacy = None if legacy in ("", "0", "false", "no", "off") else ("405" if legacy == "405" else "404")

    cluster = SandboxCluster(getattr(args, "sandbox", None))
    damaged = (f"the sandbox state file {cluster.path} is damaged; run 'rladmin-py --sandbox {cluster.path} sandbox "
               "reset' (it keeps the damaged file aside)")
    try:
        state = cluster.ensure()
        user, password = cluster.credentials()
        if not isinstance(state.get("cluster"), dict) or not isinstance(state.get("certificates"), dict):
            raise KeyError("cluster")
    except BackendError as err:
        printer.error(err.message)
        return err.exit_code
    except (KeyError, TypeError, AttributeError, ValueError) as err:  # valid JSON, not a sandbox's shape
        cluster.close()
        printer.error(f"{damaged} ({type(err).__name__}: {err})")
        return EXIT_CONNECTION

    lock = threading.Lock()

    def log(message: str) -> None:
        with lock:
            printer.err.write(escape(message) + "\n")  # request lines and peers are untrusted
            printer.err.flush()

    endpoints = Endpoints(cluster.path, host, port, legacy=legacy, debug=bool(getattr(args, "debug", False)), log=log,
                          request_log=not getattr(args, "quiet", False))
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            endpoints.open()
            shown = display_host(host)
            ports = dict(endpoints.ports)
            if endpoints.database_off is not None:
                del ports["database"]
            cluster.set_served_ports(ports, host=shown)
            ca_cert = cluster.write_trust()
        except PortBusy as err:
            printer.error(str(err))
            return EXIT_CONNECTION
        except TLSSetupProblem as err:
            printer.error(str(err))
            return EXIT_CONNECTION
        except BackendError as err:
            printer.error(err.message)
            return err.exit_code
        except socket.gaierror as err:
            printer.error(f"cannot listen on {host}:{port}: unknown host ({err.strerror})")
            return EXIT_CONNECTION
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            printer.error(f"{damaged} ({type(err).__name__}: {err})")
            return EXIT_CONNECTION
        finally:
            cluster.close()
        urls = endpoints.urls(shown)
        endpoints.start()
        _announce(printer, args, urls, user, password, ca_cert, cluster.path, state["cluster"].get("name", ""),
                  endpoints.database_off, NOT_SERVED)
        if legacy:
            log(f"note: {LEGACY_ENV} is set: PUT /v1/cluster/certificates answers {legacy}, as on RS before 7.22.2")
        if endpoints.database_off:
            log(f"note: the database endpoint is off: {endpoints.database_off}")
        if host in ("", "0.0.0.0", "::"):
            log("note: listening on every interface; the sandbox certificates name only localhost and 127.0.0.1")
        elif host not in ("127.0.0.1", "localhost", "::1"):
            log(f"note: the sandbox's certificates name only localhost and 127.0.0.1, not {host}: clients "
                "that verify them must connect by one of those names, or use -k")
        while not stop.wait(0.5):
            pass
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        endpoints.close()
        try:
            cluster.stop_serving()
        except BackendError:
            pass
        finally:
            cluster.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log(f"stopped serving {urls['api']} and the other endpoints ({endpoints.connections_accepted} connections, "
        f"{endpoints.requests_served} requests)")
    return EXIT_OK


def _announce(printer, args, urls: dict, user: str, password: str, ca_cert: str, path: str, name: str,
              database_off: str | None, not_served: str) -> None:
    """What clients need, once every endpoint accepts connections: one JSON line, or text lines."""
    if getattr(args, "json", False):
        printer.out.write(json.dumps({"url": urls["api"], "user": user, "password": password, "ca_cert": ca_cert,
                                      "endpoints": urls}) + "\n")
        printer.out.flush()
        return
    http = urls["http"] or "off (http_support is disabled; cluster config http_support enabled opens it)"
    database = (f"{urls['database']} (proxy certificate; tls_mode as GET /v1/bdbs/1 shows)" if urls["database"]
                else f"off: {database_off}")
    url = urls["api"]
    printer.out.write(
        f"Serving the sandbox {path} as the RS cluster {name}\n"
        f"  url:                 {url}   (REST API, api certificate)\n"
        f"  Cluster Manager UI:  {urls['cm']}   (cm certificate)\n"
        f"  plain-HTTP REST API: {http}\n"
        f"  metrics exporter:    {urls['metrics_exporter']}   (metrics_exporter certificate)\n"
        f"  database db:1:       {database}\n"
        + (f"  OCSP responder:      {urls['ocsp_responder']}   (practice CAs of sandbox make-certs)\n"
           if urls.get("ocsp_responder") else "")
        + f"  user:                {user}\n"
        f"  password:            {password}\n"
        f"  ca_cert:             {ca_cert}   (the certificates served now, to trust)\n"
        f"  not served:          {not_served}\n"
        f"Try:\n"
        f"  curl --cacert {ca_cert} -u '{user}:<password>' {url}/v1/cluster\n"
        f"  REDIS_ENTERPRISE_PASSWORD=<password> rladmin-py --cluster {url} --user {user} --ca-cert {ca_cert} "
        f"info cluster\n"
        f"Press Ctrl-C to stop.\n")
    printer.out.flush()
