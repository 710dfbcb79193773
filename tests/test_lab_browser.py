"""The ``ca-signed`` lab in a real browser (issue 16): headless Chromium (Debian's ``chromium``)
loads the Cluster Manager UI of a running ``--serve`` by the cluster's name. Before the lab's
reference solution it meets a certificate error; after it, the page with the cluster's name,
trusting the lab CA only because ``ca.pem`` is in the browser's NSS store (``certutil``): the
same page in a browser whose NSS store is empty still fails.

The browser is driven over the DevTools protocol on ``--remote-debugging-pipe`` (fds 3 and 4,
NUL-separated JSON), with the standard library only. What is asserted is what the protocol
reports: ``Page.navigate``'s ``errorText`` (the code Chromium's interstitial shows), the
document's response with its TLS details, and the text of the page the frame ended up on.
Each browser gets a fresh profile and HOME, resolves only the cluster's name (to loopback),
uses no proxy, and is stopped (its whole process group) before the test ends.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rladmin_py.labs import catalog
from test_labs import _solve
from test_server import start_server

CHROMIUM = shutil.which("chromium")
CERTUTIL = shutil.which("certutil")

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)"),
    pytest.mark.skipif(CERTUTIL is None, reason="certutil is not installed (Debian: apt-get install libnss3-tools)"),
]

#: how long one browser may take to start, load the page and report it
VISIT_SECONDS = 30
#: how long a browser may take to exit once asked to (then it is killed)
STOP_SECONDS = 10


# -- the NSS store a browser trusts ----------------------------------------------------------------
def nss_home(home: Path, ca_pem: Path | None = None) -> Path:
    """``home`` with ``.pki/nssdb`` (what Chromium on Linux reads as the user's trust store),
    empty, or trusting ``ca_pem`` to identify web sites (``-t "C,,"``)."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    _certutil("-N", "-d", f"sql:{db}", "--empty-password")
    if ca_pem is not None:
        _certutil("-A", "-d", f"sql:{db}", "-n", "Lab Root CA", "-t", "C,,", "-i", str(ca_pem))
    listed = _certutil("-L", "-d", f"sql:{db}")
    rows = [line.split() for line in listed.splitlines()[4:] if line.strip()]  # after the header
    assert rows == ([["Lab", "Root", "CA", "C,,"]] if ca_pem is not None else []), listed
    return home


def _certutil(*args: str) -> str:
    r = subprocess.run([CERTUTIL, *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


# -- a headless Chromium on a DevTools pipe ---------------------------------------------------------
@dataclass
class Visit:
    """What the browser reported for one navigation."""

    error: str | None  # Page.navigate's errorText, e.g. net::ERR_CERT_AUTHORITY_INVALID
    href: str  # where the frame ended up (chrome-error://chromewebdata/ for an error page)
    title: str
    text: str  # document.body.innerText
    h1: str
    response: dict = field(default_factory=dict)  # Network.responseReceived for the document, if any


class Browser:
    """``chromium --headless --remote-debugging-pipe`` with its own HOME and profile."""

    def __init__(self, home: Path, profile: Path, log: Path, resolve: str):
        self.log = log
        cmd = [CHROMIUM, "--headless", "--disable-gpu", f"--user-data-dir={profile}",
               f"--host-resolver-rules=MAP {resolve} 127.0.0.1, MAP * ~NOTFOUND",  # nothing else resolves
               "--no-proxy-server", "--no-first-run", "--no-default-browser-check", "--disable-sync",
               "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
               "--disable-extensions", "--password-store=basic", "--remote-debugging-pipe", "about:blank"]
        if os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local" / "share"))
        # Chromium reads commands on fd 3 and writes answers on fd 4: the child's ends are moved
        # above 10 first so that placing them on 3 and 4 cannot overwrite one with the other.
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        child_in = fcntl.fcntl(to_browser, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser)
        os.close(from_browser)

        def on_fds_3_and_4():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        try:
            with open(log, "wb") as out:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                             pass_fds=(3, 4), preexec_fn=on_fds_3_and_4, start_new_session=True)
        except BaseException:
            os.close(self._out)
            os.close(self._in)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    # the protocol
    def _write(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data):]

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"chromium said nothing more within {VISIT_SECONDS} s; log: {self._log()}")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 16)
                if not chunk:
                    raise AssertionError(f"chromium closed its DevTools pipe (exit {self.proc.poll()}); "
                                         f"log: {self._log()}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, *, session: str | None = None,
             deadline: float) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write(message)
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                assert "error" not in answer, (method, answer)
                return answer["result"]
            self.events.append(answer)

    def wait_event(self, method: str, start: int, deadline: float, match=lambda params: True) -> int:
        """The index in :attr:`events` of the first ``method`` event from ``start`` on that matches."""
        index = start
        while True:
            while index < len(self.events):
                event = self.events[index]
                if event.get("method") == method and match(event.get("params", {})):
                    return index
                index += 1
            self.events.append(self._read(deadline))

    # a page
    def visit(self, url: str) -> Visit:
        """Navigate the browser's tab to ``url`` and report what it ended up showing."""
        deadline = time.monotonic() + VISIT_SECONDS
        targets = self.call("Target.getTargets", deadline=deadline)["targetInfos"]
        tab = next(t["targetId"] for t in targets if t["type"] == "page")
        session = self.call("Target.attachToTarget", {"targetId": tab, "flatten": True},
                            deadline=deadline)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", session=session, deadline=deadline)
        start = len(self.events)
        nav = self.call("Page.navigate", {"url": url}, session=session, deadline=deadline)
        # the tab's own frame commits (the page, or the error page), then its load event fires
        committed = self.wait_event("Page.frameNavigated", start, deadline,
                                    lambda p: p["frame"]["id"] == nav["frameId"] and not p["frame"].get("parentId"))
        self.wait_event("Page.loadEventFired", committed, deadline)
        seen = self.call("Runtime.evaluate", {"returnByValue": True, "expression":
                         "[location.href, document.title, document.body ? document.body.innerText : '',"
                         " (document.querySelector('h1') || {}).textContent || '']"},
                         session=session, deadline=deadline)["result"]["value"]
        response = next((e["params"]["response"] for e in self.events[start:]
                         if e.get("method") == "Network.responseReceived"
                         and e["params"].get("loaderId") == nav["loaderId"] and e["params"].get("type") == "Document"),
                        {})
        return Visit(nav.get("errorText"), *seen, response=response)

    def stop(self) -> int:
        """Ask the browser to close (Browser.close), kill its process group if it has not exited
        in time, and see every helper of it exit too."""
        try:
            try:
                if self.proc.poll() is None:
                    self._write({"id": 0, "method": "Browser.close"})
            except OSError:  # it closed its end already
                pass
            try:
                code = self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the leader is not reaped yet: the group is ours
                self.proc.wait(timeout=STOP_SECONDS)
                raise AssertionError(f"chromium did not exit within {STOP_SECONDS} s of Browser.close") from None
        finally:
            os.close(self._out)
            os.close(self._in)
            left = _wait_for_session_to_end(self.proc.pid, time.monotonic() + STOP_SECONDS)
        assert not left, f"chromium left processes behind (killed now): {left}"
        return code

    def _log(self) -> str:
        text = self.log.read_text(errors="replace")
        return "\n".join(line for line in text.splitlines() if "dbus" not in line)[-3000:]

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_for_session_to_end(sid: int, deadline: float) -> list[int]:
    """Wait (until ``deadline``) for the processes still in the session the browser was started
    in (``start_new_session``: its helpers, winding down when it exited); those still running
    then are killed and returned. Each is held by a pidfd, readable once it has exited."""
    fds = {}
    try:
        for pid in _session_members(sid):
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:  # gone meanwhile
                continue
            fds[fd] = pid
            if _session_of(pid) != sid:  # the pid was reused meanwhile: not ours
                del fds[fd]
                os.close(fd)
        waiting = set(fds)
        while waiting and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(waiting), [], [], left)
            waiting -= set(ready)
        for fd in waiting:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        return sorted(fds[fd] for fd in waiting)
    finally:
        for fd in fds:
            os.close(fd)


def _session_members(sid: int) -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and _session_of(int(entry)) == sid]


def _session_of(pid: int) -> int | None:
    """The session id of a running process (None once it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state, _ppid, _pgrp, session = fh.read().rsplit(b")", 1)[1].split()[:4]
    except (OSError, ValueError):
        return None
    return None if state in (b"Z", b"X") else int(session)


def visit(url: str, home: Path, tmp_path: Path, label: str, resolve: str) -> Visit:
    """One fresh browser (own HOME, own profile: no cache, no remembered decisions) on ``url``."""
    with Browser(home, tmp_path / f"profile-{label}", tmp_path / f"chromium-{label}.log", resolve) as browser:
        return browser.visit(url)


# -- the lab ---------------------------------------------------------------------------------------
def test_ca_signed_in_chromium_trusting_the_lab_ca_through_nss(rladmin, sandbox_path, tmp_path):
    lab = catalog.get("ca-signed")
    r = rladmin("-y", "--json", "lab", "start", lab.name)
    assert r.returncode == 0, r.stderr
    directory = Path(json.loads(r.stdout)["directory"])
    name = json.loads(sandbox_path.read_text())["cluster"]["name"]
    assert name and name.count(".") >= 1, name

    trusting = nss_home(tmp_path / "browser-home", directory / "ca.pem")
    untrusting = nss_home(tmp_path / "browser-home-empty-nss")

    server = start_server(sandbox_path)
    try:
        port = int(server.endpoints["cm"].rsplit(":", 1)[1])
        url = f"https://{name}:{port}/"

        before = visit(url, trusting, tmp_path, "before", name)
        _solve(rladmin, sandbox_path, lab)  # the running --serve serves new certificates to new connections
        after = visit(url, trusting, tmp_path, "after", name)
        without_ca = visit(url, untrusting, tmp_path, "after-empty-nss", name)
    finally:
        assert server.stop() == 0, server.log()

    # before: the self-signed cm certificate; Chromium shows its interstitial, not the page
    assert before.error == "net::ERR_CERT_AUTHORITY_INVALID", before
    assert before.href.startswith("chrome-error://"), before
    assert "NET::ERR_CERT_AUTHORITY_INVALID" in before.text, before
    assert f"Cluster {name}" not in before.text and not before.response, before

    # after: the lab's certificate, trusted through the NSS store; the page shows the cluster
    assert after.error is None, after
    assert after.href == url and after.response.get("status") == 200, after
    assert after.h1 == f"Cluster {name}" and after.title.startswith(name), after
    assert after.response.get("securityState") == "secure", after.response
    tls = after.response["securityDetails"]
    assert tls["subjectName"] == name and tls["issuer"] == "Lab Intermediate CA", tls
    assert name in tls["sanList"], tls

    # the same page in a browser whose NSS store is empty: the trust above came from ca.pem in NSS
    assert without_ca.error == "net::ERR_CERT_AUTHORITY_INVALID", without_ca
    assert without_ca.href.startswith("chrome-error://") and f"Cluster {name}" not in without_ca.text, without_ca
