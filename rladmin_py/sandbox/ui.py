"""The Cluster Manager UI endpoint: where a browser meets the ``cm`` certificate.

A small read-only HTML page over HTTPS (``cm_port``, control-plane TLS settings): the cluster's
name, its nodes, and each certificate with subject, issuer, expiry and days left. It shows only
what the certificates themselves make public, so it asks for no login (the real UI does). Every
value is HTML-escaped: certificate fields are untrusted text.
"""
from __future__ import annotations

import datetime as dt
import html
import re

from .rest_api import Page, RestHandler


def page(state: dict, now: dt.datetime | None = None) -> bytes:
    """The HTML of the page for one state of the sandbox."""
    from ..certificates import checks

    now = now or dt.datetime.now(dt.timezone.utc)
    e = html.escape
    name = state["cluster"].get("name", "")
    node_rows = "".join(f"<tr><td>node:{e(str(n.get('uid')))}</td><td>{e(str(n.get('addr', '')))}</td>"
                        f"<td>{e(str(n.get('status', '')))}</td></tr>" for n in state.get("nodes", []))
    cert_rows = []
    for cert_name in sorted(state.get("certificates", {})):
        pem = state["certificates"][cert_name].get("cert", "")
        try:
            leaf = checks.leaf_of(pem, f"the {cert_name} certificate")
        except checks.CertificateProblem as err:
            cert_rows.append(f"<tr><td>{e(cert_name)}</td><td colspan=4>unreadable: {e(err.message)}</td></tr>")
            continue
        left = (leaf.not_valid_after_utc - now).days
        cert_rows.append(f"<tr><td>{e(cert_name)}</td><td>{e(leaf.subject.rfc4514_string())}</td>"
                         f"<td>{e(leaf.issuer.rfc4514_string())}</td>"
                         f"<td>{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC</td>"
                         f"<td class='{'warn' if left < 30 else 'ok'}'>{left}</td></tr>")
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(name)} - Cluster Manager (rladmin-py sandbox)</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}.warn{{color:#b00;font-weight:bold}}</style></head>
<body><h1>Cluster {e(name)}</h1>
<p>rladmin-py sandbox: a read-only view of the simulated cluster, served with its <code>cm</code> certificate.</p>
<h2>Nodes</h2><table><tr><th>node</th><th>address</th><th>status</th></tr>{node_rows}</table>
<h2>Certificates</h2><table><tr><th>name</th><th>subject</th><th>issuer</th><th>expires</th><th>days left</th></tr>
{''.join(cert_rows)}</table></body></html>
"""
    return text.encode("utf-8")


class UIHandler(RestHandler):
    """GET / is the page; anything else an RS-style error."""

    requires_auth = False

    def get_page(self, raw):
        live = self.server.live
        return 200, Page(page(live.current()), "text/html; charset=utf-8")


UIHandler.routes = [(re.compile(r"/"), {"GET": UIHandler.get_page})]
