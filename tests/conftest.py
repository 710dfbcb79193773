"""Shared fixtures: isolated environments, fast sandbox copies, the console script, certificates."""
from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rladmin_py.certificates import making as certgen
from rladmin_py.backends.sandbox import SandboxBackend
from rladmin_py.sandbox.store import ca_path_for

# Ctrl-C reaches the processes the tests start and interrupt, even when the suite itself was started
# from a background job (which starts with SIGINT ignored, and passes that on to every child).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def console_script() -> str:
    """The installed ``rladmin-py`` next to this interpreter (the venv CI installed into)."""
    candidate = Path(sys.executable).parent / "rladmin-py"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("rladmin-py")
    assert found, "rladmin-py is not installed: pip install '.[test]'"
    return found


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test touches the real home: XDG dirs and HOME point into the test's temp dir."""
    home = tmp_path / "home"
    home.mkdir()
    for var, sub in (("HOME", ""), ("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_STATE_HOME", ".local/state")):
        monkeypatch.setenv(var, str(home / sub) if sub else str(home))
    for var in ("REDIS_ENTERPRISE_URL", "REDIS_ENTERPRISE_USER", "REDIS_ENTERPRISE_PASSWORD",
                "REDIS_ENTERPRISE_CA_CERT", "REDIS_ENTERPRISE_INSECURE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def sandbox_template(tmp_path_factory) -> Path:
    """One sandbox made per test session (key generation is slow); tests get copies."""
    path = tmp_path_factory.mktemp("template") / "sandbox.json"
    backend = SandboxBackend(str(path))
    backend.ensure()
    backend.close()
    return path


@pytest.fixture
def sandbox_path(tmp_path, sandbox_template) -> Path:
    """A fresh sandbox of this test's own (a copy of the session template), 0600."""
    path = tmp_path / "sandbox" / "sandbox.json"
    path.parent.mkdir(mode=0o700)
    shutil.copy2(sandbox_template, path)
    os.chmod(path, 0o600)
    shutil.copy2(ca_path_for(str(sandbox_template)), ca_path_for(str(path)))
    return path


@pytest.fixture
def sandbox(sandbox_path):
    backend = SandboxBackend(str(sandbox_path))
    yield backend
    backend.close()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def rladmin(sandbox_path):
    """Run the console script on this test's sandbox: rladmin(*words, input=..., sandbox=True)."""

    def run(*argv: str, input: str | bytes | None = None, sandbox: bool = True, env: dict | None = None,
            timeout: float = 120) -> Run:
        cmd = [console_script()]
        if sandbox:
            cmd += ["--sandbox", str(sandbox_path)]
        cmd += list(argv)
        full_env = dict(os.environ, **(env or {}))
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(cmd, input=data if data is not None else b"", capture_output=True, env=full_env,
                              timeout=timeout)
        return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))

    return run


@dataclass
class CertFiles:
    cert: Path
    key: Path
    issued: certgen.Issued


@functools.lru_cache(maxsize=None)
def rsa_key(n: int = 0):
    """The n-th RSA 2048 key of the test session (key generation is slow: tests share them)."""
    return certgen.new_key("rsa")


@functools.lru_cache(maxsize=None)
def ec_key(n: int = 0):
    """The n-th P-256 key of the test session."""
    return certgen.new_key("ec")


@functools.lru_cache(maxsize=None)
def _test_cas() -> tuple[certgen.Issued, certgen.Issued]:
    """A root and an intermediate CA, made once per test session (RSA key generation is slow)."""
    root = certgen.make_ca("Test Root CA", org="rladmin-py tests")
    return root, certgen.make_ca("Test Intermediate CA", issuer=root, org="rladmin-py tests")


class CertFactory:
    """Writes certificates made with cryptography into a directory; one CA per factory."""

    def __init__(self, directory: Path, fqdn: str = "cluster.sandbox.local"):
        self.dir = directory
        self.fqdn = fqdn
        self.root, self.intermediate = _test_cas()
        self._n = 0

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.dir / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def leaf(self, *, sans=None, chain: bool = True, **kw) -> CertFiles:
        """A valid certificate for the sandbox's FQDN, issued by the intermediate; chain leaf-first."""
        self._n += 1
        issued = certgen.make_leaf(self.fqdn, sans if sans is not None else certgen.cluster_sans(self.fqdn),
                                   kw.pop("issuer", self.intermediate), **kw)
        body = issued.cert_pem + (self.intermediate.cert_pem + self.root.cert_pem if chain else "")
        cert = self.write(f"leaf{self._n}.pem", body)
        key = self.write(f"leaf{self._n}.key", issued.key_pem)
        return CertFiles(cert, key, issued)

    def expired(self) -> CertFiles:
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
        return self.leaf(not_before=start, days=30)


@pytest.fixture
def certfactory(tmp_path) -> CertFactory:
    directory = tmp_path / "certs"
    directory.mkdir()
    return CertFactory(directory)
