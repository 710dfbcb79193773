"""The sandbox's OCSP responder holds slow and surplus clients as every ``--serve`` endpoint does
(:class:`rladmin_py.sandbox.httpserver.EndpointServer`): a request has one deadline however its
bytes trickle in, and connections beyond the cap are closed at once, while a real client is
answered. The responder runs in this process and is stopped in a ``finally``; waits are reads
with deadlines (which also pace the drip) or the server's own condition, never sleeps.
"""
from __future__ import annotations

import select
import socket

from conftest import _test_cas, rsa_key
from rladmin_py.certificates import making as certgen, ocsp
from rladmin_py.sandbox.ocsp_responder import OCSPResponder
from test_hardening_network import _drip

FQDN = "cluster.sandbox.local"
SLACK = 4.0  # what a loaded CI machine may add to a deadline


def _started(**limits) -> tuple[OCSPResponder, list[str], str]:
    """A responder answering GOOD for one leaf of the tests' intermediate; (it, its log, the chain)."""
    _, inter = _test_cas()
    log: list[str] = []
    issued: list[str] = []

    def issuers() -> list[dict]:
        return [{"certificate": inter.cert_pem, "key": inter.key_pem, "revoked": {}, "issued": issued}]

    responder = OCSPResponder(issuers, log=log.append, **limits)
    responder.start()
    leaf = certgen.make_leaf(FQDN, [FQDN], inter, key=rsa_key(), ocsp_url=responder.url)
    issued.append(str(leaf.cert.serial_number))
    return responder, log, leaf.cert_pem + inter.cert_pem


def test_a_dripping_request_is_held_no_longer_than_its_deadline():
    """A header line a second: closed by the request's deadline (1 s here), not kept for as long
    as the bytes keep coming (the handler's per-read timeout is 10 s)."""
    responder, log, chain = _started(request_timeout=1.0)
    sock = socket.create_connection(("127.0.0.1", responder.port), timeout=5)
    try:
        lines = [b"POST / HTTP/1.0\r\n"] + [f"X-Drip-{i}: x\r\n".encode() for i in range(80)]
        seconds = _drip(sock, lines, limit=1.0 + SLACK + 6)
        answer = ocsp.query(chain, timeout=5)
    finally:
        sock.close()
        responder.close()
    assert seconds is not None and seconds < 1.0 + SLACK, seconds
    assert answer["status"] == "GOOD"
    assert any(line.startswith("ocsp_responder 127.0.0.1:") and line.endswith("closed: a request was not complete "
                                                                              "within 1 s") for line in log), log


def test_connections_beyond_the_cap_are_refused_at_once():
    """Three connections to a responder that may hold two: the third is closed at once, the two
    are held; once they go, a real query is answered."""
    responder, log, chain = _started(max_connections=2)
    server = responder._server
    held = [socket.create_connection(("127.0.0.1", responder.port), timeout=5) for _ in range(2)]
    try:
        try:  # the refusal may come so fast that it ends the connect itself (a busy machine)
            held.append(socket.create_connection(("127.0.0.1", responder.port), timeout=5))
            held[2].settimeout(5)
            surplus = held[2].recv(1)
        except ConnectionResetError:
            surplus = b""
        poller = select.poll()
        for sock in held[:2]:
            poller.register(sock, select.POLLIN)
        still_open = poller.poll(0) == []  # nothing to read, no end of file: the first two are held
        for sock in held:
            sock.close()
        with server._slots:  # the server's own condition, notified as each connection ends
            assert server._slots.wait_for(lambda: server.connections_open == 0, timeout=5)
        answer = ocsp.query(chain, timeout=5)
    finally:
        for sock in held:
            sock.close()
        responder.close()
    assert surplus == b"" and still_open
    assert answer["status"] == "GOOD"
    assert any(line.endswith("refused: 2 connections already open (more are refused until some close)")
               for line in log), log
