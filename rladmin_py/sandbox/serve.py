"""``rladmin-py --sandbox PATH --serve [HOST:]PORT``: start the sandbox's endpoints, say where
they are, and stop cleanly on Ctrl-C or SIGTERM."""
from __future__ import annotations

import json
import os
import re
import signal
import socket

from ..backends import EXIT_CONNECTION, EXIT_OK, EXIT_USAGE, BackendError
from .rest_api import LEGACY_ENV, STOP_GRACE, SandboxHTTPSServer
from .tls import TLSSetupProblem


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


def display_url(host: str, port: int) -> str:
    """The URL local clients should use (the sandbox's api certificate names localhost and 127.0.0.1)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class _Stop(Exception):
    """SIGTERM: leave serve_forever."""


def main(args, printer) -> int:
    """Serve until Ctrl-C or SIGTERM; exit 0 then."""
    from .cluster import SandboxCluster

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

    backend = SandboxCluster(getattr(args, "sandbox", None))
    try:
        state = backend.ensure()
        user, password = backend.credentials()
        if not os.path.exists(backend.ca_cert_path):
            backend.store.write_ca(state)  # removed by hand: the clients need it
    except BackendError as err:
        printer.error(err.message)
        return err.exit_code
    finally:
        backend.close()

    def log(message: str) -> None:
        printer.err.write(message + "\n")
        printer.err.flush()

    try:
        server = SandboxHTTPSServer((host, port), backend.path, legacy=legacy, debug=bool(getattr(args, "debug", False)),
                                    log=log)
    except TLSSetupProblem as err:
        printer.error(str(err))
        return EXIT_CONNECTION
    except BackendError as err:
        printer.error(err.message)
        return err.exit_code
    except socket.gaierror as err:
        printer.error(f"cannot listen on {host}:{port}: unknown host ({err.strerror})")
        return EXIT_CONNECTION
    except OSError as err:
        printer.error(f"cannot listen on {host}:{port}: {err.strerror or err}")
        return EXIT_CONNECTION

    bound_host, bound_port = server.server_address[:2]
    url = display_url(host if host not in ("", "0.0.0.0", "::") else bound_host, bound_port)

    def on_term(signum, frame):
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, on_term)  # before the URL is printed: a client may stop us at once
    try:
        _announce(printer, args, url, user, password, backend.ca_cert_path, backend.path)
        if legacy:
            log(f"note: {LEGACY_ENV} is set: PUT /v1/cluster/certificates answers {legacy}, as on RS before 7.22.2")
        if host in ("", "0.0.0.0", "::"):
            log("note: listening on every interface; the sandbox certificates name only localhost and 127.0.0.1")
        elif host not in ("127.0.0.1", "localhost"):
            log(f"note: the sandbox's api certificate names only localhost and 127.0.0.1, not {host}: clients "
                "that verify it must connect by one of those names, or use -k")
        server.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.socket.close()  # refuse new connections at once
        if not server.wait_idle(STOP_GRACE):
            log("warning: stopped with requests still in progress")
        server.server_close()
        signal.signal(signal.SIGTERM, previous)
    log(f"stopped serving {url} ({server.connections_accepted} connections, {server.requests_served} requests)")
    return EXIT_OK


def _announce(printer, args, url: str, user: str, password: str, ca_cert: str, path: str) -> None:
    """What clients need, once the server accepts connections: one JSON line, or a few text lines."""
    if getattr(args, "json", False):
        printer.out.write(json.dumps({"url": url, "user": user, "password": password, "ca_cert": ca_cert}) + "\n")
    else:
        printer.out.write(
            f"Serving the sandbox {path} as the RS REST API\n"
            f"  url:       {url}\n"
            f"  user:      {user}\n"
            f"  password:  {password}\n"
            f"  ca_cert:   {ca_cert}\n"
            f"Try:\n"
            f"  curl --cacert {ca_cert} -u '{user}:<password>' {url}/v1/cluster\n"
            f"  REDIS_ENTERPRISE_PASSWORD=<password> rladmin-py --cluster {url} --user {user} --ca-cert {ca_cert} "
            f"info cluster\n"
            f"Press Ctrl-C to stop.\n")
    printer.out.flush()
