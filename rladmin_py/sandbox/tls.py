"""TLS as the sandbox serves it: server contexts built from the cluster's certificates and
settings, rebuilt for new connections whenever the state file changes, whoever changed it.

Each endpoint serves one certificate under the settings of its plane (rs-tls.md section 6):
the control plane (REST API, Cluster Manager UI, and the metrics exporter [guess: RS does not
document which minimum the exporter follows]) takes ``min_control_TLS_version`` and
``control_cipher_suites``; the data plane (database endpoints) ``min_data_TLS_version`` and
``data_cipher_list``. Python's ``ssl`` cannot restrict TLS 1.3 suites, so
``data_cipher_suites_tls_1_3`` is stored and shown but not enforced (``info cluster`` says so).

The key reaches OpenSSL through an anonymous memory file where the platform has one: it never
touches a disk, not even when the process is killed mid-build.
"""
from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import threading

from ..ciphers import PLANES
from ..verify import TLS_VERSIONS


class TLSSetupProblem(Exception):
    """A certificate or key of the sandbox cannot be served."""


def build_context(cert_pem: str, key_pem: str, min_version: str | None, ciphers: str | None,
                  key_dir: str | None = None, *, name: str = "api", alpn: tuple[str, ...] = ("http/1.1",)
                  ) -> ssl.SSLContext:
    """A server context for a certificate (chain) and key, with its plane's TLS minimum and ciphers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS.get(str(min_version or "1.2"), ssl.TLSVersion.TLSv1_2)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if ciphers:
        try:  # BoringSSL names mostly match OpenSSL's; keep the defaults if OpenSSL disagrees
            ctx.set_ciphers(str(ciphers))
        except (ssl.SSLError, ValueError):  # ValueError: a NUL character in the cipher string
            pass
    with _pem_files(cert_pem, key_pem, key_dir) as (cert_file, key_file):
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as err:
            raise TLSSetupProblem(f"the sandbox's {name} certificate or key cannot be used for TLS "
                                  f"({err.reason or err})") from None
    return ctx


@contextlib.contextmanager
def _pem_files(cert_pem: str, key_pem: str, key_dir: str | None):
    """Paths ``ssl`` can load the certificate and key from (it reads only files).

    On Linux, anonymous memory files (``memfd_create``) reached through ``/proc/self/fd``: the key
    never touches a disk, not even when the process is killed mid-build. Elsewhere, a private
    directory beside the state file (which holds the same key), removed at once.
    """
    fds: list[int] = []
    try:
        try:
            for text in (cert_pem, key_pem):
                fd = os.memfd_create("rladmin-py-tls", getattr(os, "MFD_CLOEXEC", 0))
                fds.append(fd)
                with os.fdopen(os.dup(fd), "w", encoding="utf-8") as fh:
                    fh.write(text)
            paths = tuple(f"/proc/self/fd/{fd}" for fd in fds)
            usable = all(os.path.exists(path) for path in paths)
        except (AttributeError, OSError):
            usable = False
        if usable:
            yield paths
            return
    finally:
        for fd in fds:
            os.close(fd)
    try:
        tmp = tempfile.TemporaryDirectory(prefix=".tls-", dir=key_dir)
    except OSError:
        tmp = tempfile.TemporaryDirectory(prefix="rladmin-py-tls-")
    with tmp as directory:
        cert_file, key_file = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        for path, text in ((cert_file, cert_pem), (key_file, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        yield cert_file, key_file


class LiveState:
    """The sandbox's state as the endpoints see it, shared by them all: the store's shared,
    read-only view (:meth:`.store.StateStore.view`), so a use costs a ``stat`` and the state is
    parsed again only when the file changed, whoever changed it."""

    def __init__(self, state_path: str, log=lambda message: None):
        from .cluster import SandboxCluster

        self.path = state_path
        self._cluster = SandboxCluster(state_path)
        self._log = log
        self._state: dict | None = None
        self._lock = threading.Lock()
        self.reads = 0  # how many different states were handed out

    def _take(self, state: dict) -> dict:
        if state is not self._state:
            self._state = state
            self.reads += 1
        return state

    def load(self) -> dict:
        """The state now; raises BackendError when it cannot be read (used at start-up)."""
        with self._lock:
            return self._take(self._cluster.ensure())

    def current(self) -> dict:
        """The state for a new connection; never raises (keeps the last good one, also when the
        file was removed: nothing is created behind the operator's back)."""
        with self._lock:
            try:
                state = self._cluster.store.peek()
                if state is None:
                    raise FileNotFoundError(f"no sandbox state file at {self.path}")
                self._take(state)
            except Exception as err:  # a removed or unreadable state: keep serving the last good one
                self._log(f"keeping the previous sandbox state: {getattr(err, 'message', None) or err}")
            return self._state

    def close(self) -> None:
        self._cluster.close()


class EndpointTLS:
    """The TLS context of one endpoint: its certificate, under its plane's settings."""

    def __init__(self, live: LiveState, cert_name: str, plane: str, *, alpn: tuple[str, ...] = ("http/1.1",),
                 log=lambda message: None):
        self.live = live
        self.cert_name = cert_name
        self.plane = plane
        self.alpn = alpn
        self._log = log
        self._material = None
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self.builds = 0

    def _material_of(self, state: dict):
        pair = state["certificates"].get(self.cert_name) or {}
        if not pair.get("cert") or not pair.get("key"):
            raise TLSSetupProblem(f"the sandbox holds no {self.cert_name} certificate and key")
        version_field, cipher_field = PLANES[self.plane]
        return pair["cert"], pair["key"], state["cluster"].get(version_field), state["cluster"].get(cipher_field)

    def _build(self, material) -> ssl.SSLContext:
        return build_context(*material, key_dir=os.path.dirname(self.live.path), name=self.cert_name, alpn=self.alpn)

    def load(self) -> ssl.SSLContext:
        """Build the first context; raises :class:`TLSSetupProblem` or BackendError."""
        with self._lock:
            material = self._material_of(self.live.load())
            self._context = self._build(material)
            self._material = material
            self.builds += 1
            return self._context

    def current(self) -> ssl.SSLContext:
        """The context for a new connection; never raises (keeps the last good one)."""
        with self._lock:
            try:
                material = self._material_of(self.live.current())
                if material != self._material:
                    self._context = self._build(material)
                    self._material = material
                    self.builds += 1
                    self._log(f"TLS settings changed: serving the current {self.cert_name} certificate, "
                              f"minimum TLS {material[2] or '1.2'}")
            except Exception as err:  # a half-edited state: keep serving the last good TLS
                self._log(f"keeping the previous TLS settings: {getattr(err, 'message', None) or err}")
            return self._context
