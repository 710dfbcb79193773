"""TLS as the sandbox serves it: server contexts built from the cluster's certificates and
settings, rebuilt for new connections whenever the state file changes.

The key reaches OpenSSL through an anonymous memory file where the platform has one: it never
touches a disk, not even when the process is killed mid-build.
"""
from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import threading

_TLS_VERSIONS = {
    "1": ssl.TLSVersion.TLSv1, "1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3,
}


class TLSSetupProblem(Exception):
    """The sandbox's api certificate or key cannot be served."""


def build_context(cert_pem: str, key_pem: str, min_version: str | None, ciphers: str | None,
                  key_dir: str | None = None) -> ssl.SSLContext:
    """A server context for the api certificate (chain) and key, with the cluster's TLS minimum."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS.get(str(min_version or "1.2"), ssl.TLSVersion.TLSv1_2)
    ctx.set_alpn_protocols(["http/1.1"])
    if ciphers:
        try:  # BoringSSL names mostly match OpenSSL's; keep the defaults if OpenSSL disagrees
            ctx.set_ciphers(str(ciphers))
        except (ssl.SSLError, ValueError):  # ValueError: a NUL character in the cipher string
            pass
    with _pem_files(cert_pem, key_pem, key_dir) as (cert_file, key_file):
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as err:
            raise TLSSetupProblem(f"the sandbox's api certificate or key cannot be used for TLS ({err.reason or err})") from None
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


class TLSContexts:
    """The TLS context for new connections, rebuilt when the sandbox's TLS settings change.

    Checked on every accepted connection: a ``stat`` of the state file, and a re-read only when
    it changed (every write replaces the file, so its inode and mtime change).
    """

    def __init__(self, state_path: str, log=lambda message: None):
        self.state_path = state_path
        self._log = log
        self._stamp = None
        self._material = None
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self.builds = 0

    def _stat(self):
        st = os.stat(self.state_path)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read_material(self):
        from .cluster import SandboxCluster

        backend = SandboxCluster(self.state_path)
        try:
            certs, cluster = backend.get_certificates(), backend.get_cluster()
        finally:
            backend.close()
        if not certs.get("api_cert") or not certs.get("api_key"):
            raise TLSSetupProblem("the sandbox holds no api certificate and key")
        return (certs["api_cert"], certs["api_key"], cluster.get("min_control_TLS_version"),
                cluster.get("control_cipher_suites"))

    def load(self) -> ssl.SSLContext:
        """Build the first context; raises :class:`TLSSetupProblem` or BackendError."""
        with self._lock:
            stamp = self._stat()
            material = self._read_material()
            self._context = build_context(*material, key_dir=os.path.dirname(self.state_path))
            self._material, self._stamp = material, stamp
            self.builds += 1
            return self._context

    def current(self) -> ssl.SSLContext:
        """The context for a new connection; never raises (keeps the last good one)."""
        with self._lock:
            try:
                stamp = self._stat()
                if stamp != self._stamp:
                    material = self._read_material()
                    if material != self._material:
                        self._context = build_context(*material, key_dir=os.path.dirname(self.state_path))
                        self._material = material
                        self.builds += 1
                        self._log(f"TLS settings changed: serving the current api certificate, "
                                  f"minimum TLS {material[2] or '1.2'}")
                    self._stamp = stamp
            except Exception as err:  # a half-edited or removed state: keep serving the last good TLS
                self._log(f"keeping the previous TLS settings: {getattr(err, 'message', None) or err}")
            return self._context


