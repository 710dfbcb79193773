"""Helpers shared by the server fuzz, concurrency, fault and secrets tests.

The ``--serve`` subprocess itself is started with test_server.start_server (reused, not copied);
this module adds what those tests need on top: a server per test module, raw TLS clients, the
RS error-body check, a misbehaving test-only listener (never answers / resets), line-by-line
reading of a subprocess's output with a deadline, and a scanner for private-key material.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

from rladmin_py.sandbox.store import ca_path_for
from test_server import Served, start_server  # noqa: F401  (re-exported)



# -- a server per module --------------------------------------------------------------------------
def serve_copy(template: Path, directory: Path, *extra: str) -> Served:
    """A private copy of the session's template sandbox, served (HOME and XDG dirs inside ``directory``)."""
    sandbox = directory / "sandbox" / "sandbox.json"
    sandbox.parent.mkdir(mode=0o700, parents=True)
    shutil.copy2(template, sandbox)
    os.chmod(sandbox, 0o600)
    shutil.copy2(ca_path_for(str(template)), ca_path_for(str(sandbox)))
    home = directory / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state")}
    return start_server(sandbox, *extra, env=env, log_dir=directory)


def client_context(ca_cert: str, *, check_hostname: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_cert)
    ctx.check_hostname = check_hostname
    return ctx


def auth_header(served: Served, password: str | None = None) -> str:
    token = f"{served.user}:{served.password if password is None else password}".encode()
    return "Basic " + base64.b64encode(token).decode()


def rs_error_body(body) -> bool:
    """An RS error body: exactly ``{"error_code": str, "description"|"message": str}``, both
    non-empty (the certificate requests say ``description``, the others ``message``)."""
    text = error_text(body) if isinstance(body, dict) else None
    return (isinstance(body, dict) and len(body) == 2 and "error_code" in body
            and isinstance(body["error_code"], str) and body["error_code"] and isinstance(text, str) and text)


def error_text(body: dict):
    """The text of an RS error body, under whichever key its route documents."""
    return body.get("description", body.get("message"))


def request(served: Served, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            *, timeout: float = 10, context: ssl.SSLContext | None = None):
    """One authenticated request on a new connection: (status, decoded JSON or None)."""
    conn = http.client.HTTPSConnection("127.0.0.1", served.port, timeout=timeout,
                                       context=context or client_context(served.ca_cert))
    try:
        hdrs = {"Authorization": auth_header(served)}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None)
    finally:
        conn.close()


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (Python's json accepts them; JSON does not)."""
    def refuse(name):
        raise ValueError(f"{name} in the state file")

    return json.loads(text, parse_constant=refuse)


# -- reading a subprocess's output as it comes ------------------------------------------------------
class LineReader:
    """Lines from a pipe, each waited for with a deadline (select), never a sleep."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buffer = b""
        self.eof = False

    def readline(self, timeout: float = 30) -> str | None:
        """The next line, or None at end of file; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if self.eof:
                if self.buffer:
                    line, self.buffer = self.buffer, b""
                    return line.decode("utf-8", "replace")
                return None
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no output line within {timeout} s"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                if chunk:
                    self.buffer += chunk
                else:
                    self.eof = True
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace") + "\n"


# -- a misbehaving server (test-only) ------------------------------------------------------------------
class FaultServer:
    """A listener on 127.0.0.1 that answers the first ``answer`` HTTP requests with 200, then misbehaves.

    ``mode``: ``"hang"`` reads the request and never answers (the connection stays open);
    ``"reset"`` closes with SO_LINGER 0 (a TCP RST); ``"close"`` closes cleanly (a FIN, no TLS
    close_notify). With ``tls`` False nothing is ever spoken:
    the raw TCP connection hangs or is reset at once (before any TLS handshake).
    """

    def __init__(self, mode: str, *, answer: int = 0, cert: str | None = None, key: str | None = None,
                 tls: bool = True):
        assert mode in ("hang", "reset", "close")
        self.mode, self.answer, self.tls = mode, answer, tls
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.answered = 0
        self.connections = 0
        self.misbehaved = threading.Event()
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _misbehave(self, sock):
        self.misbehaved.set()
        if self.mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        elif self.mode == "close":
            if not isinstance(sock, ssl.SSLSocket):  # SSLSocket.shutdown would drop the TLS layer first
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        # "hang": keep the socket open and say nothing, until stop()

    def _serve(self, raw: socket.socket):
        try:
            if not self.tls:  # TCP only: hang or reset before any TLS
                self._misbehave(raw)
                return
            raw.settimeout(30)
            sock = self.ctx.wrap_socket(raw, server_side=True)
            self._open.append(sock)
            reader = sock.makefile("rb")
            while not self._stop.is_set():
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline(65537)
                    if not line:
                        return
                    head += line
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m:
                    reader.read(int(m.group(1)))
                if self.answered >= self.answer:
                    self._misbehave(sock)  # wrap_socket took over raw's descriptor
                    return
                self.answered += 1
                body = json.dumps({"name": "fault.example", "min_data_TLS_version": "1.2"}).encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
        except OSError:
            return

    def stop(self):
        self._stop.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept() (close does not)
        except OSError:
            pass
        self.listener.close()
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass
        self._thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# -- private-key material --------------------------------------------------------------------------------
KEY_MARKER = "PRIVATE KEY-----"


def key_needles(*pems: str, min_length: int = 16) -> list[str]:
    """What betrays a private key: the PEM marker and every base64 body line of each key."""
    needles = {KEY_MARKER}
    for pem in pems:
        if not pem:
            continue
        for line in pem.splitlines():
            line = line.strip()
            if line and not line.startswith("-----") and ":" not in line and len(line) >= min_length:
                needles.add(line)
    return sorted(needles)


def scan_for(needles, *, texts: dict[str, str] | None = None, roots=(), allowed=()) -> list[str]:
    """Where any needle occurs: in the named texts, and in every file under ``roots`` except ``allowed``."""
    allowed = {os.path.realpath(p) for p in allowed}
    found = []
    for name, text in (texts or {}).items():
        for needle in needles:
            if needle in text:
                found.append(f"{name}: {needle[:40]}")
    for root in roots:
        for directory, _, files in os.walk(root):
            for fname in files:
                path = os.path.join(directory, fname)
                if os.path.realpath(path) in allowed or os.path.islink(path):
                    continue
                try:
                    data = open(path, "rb").read().decode("latin-1")
                except OSError:
                    continue
                for needle in needles:
                    if needle in data:
                        found.append(f"{path}: {needle[:40]}")
    return found


def run_console(argv: list[str], *, env: dict, input: bytes = b"", timeout: float = 120, umask: int = -1):
    """The console script with an explicit environment: (returncode, stdout, stderr)."""
    from conftest import console_script

    proc = subprocess.run([console_script(), *argv], input=input, capture_output=True, env=env, timeout=timeout,
                          umask=umask)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
