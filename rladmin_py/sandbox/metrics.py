"""The metrics exporter endpoint: certificate expiry per node, as Prometheus text, over HTTPS
with the ``metrics_exporter`` certificate.

Names and labels as https://redis.io/docs/latest/operate/rs/security/certificates/monitor-certificates/
gives them: ``GET /`` (v1) ``node_cert_expiration_seconds``, ``GET /v2`` ``node_cert_expires_in_seconds``,
labels ``cluster``, ``logical_name``, ``node``, ``path``; the value is the seconds left until the
certificate each node holds expires (a node that was down during a rotation keeps the old one).
"""
from __future__ import annotations

import datetime as dt
import re

from .rest_api import Page, RestHandler

METRICS = {"v1": "node_cert_expiration_seconds", "v2": "node_cert_expires_in_seconds"}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(state: dict, version: str = "v1", now: dt.datetime | None = None) -> str:
    """The text a scrape of the exporter answers, for one state of the sandbox."""
    now = now or dt.datetime.now(dt.timezone.utc)
    metric = METRICS[version]
    cluster = _label(str(state["cluster"].get("name", "")))
    lines = [f"# HELP {metric} Seconds until the certificate expires, per node and certificate.",
             f"# TYPE {metric} gauge"]
    for uid, records in sorted(state.get("node_certificates", {}).items(), key=lambda item: int(item[0])):
        for name, record in sorted(records.items()):
            not_after = dt.datetime.strptime(record["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
            seconds = (not_after - now).total_seconds()
            lines.append(f'{metric}{{cluster="{cluster}",logical_name="{_label(name)}",node="{_label(uid)}",'
                         f'path="/etc/opt/redislabs/{_label(name)}_cert.pem"}} {seconds:.1f}')
    return "\n".join(lines) + "\n"


class MetricsHandler(RestHandler):
    """``GET /`` and ``GET /v2``; no login, as the exporter asks none by default."""

    requires_auth = False

    def get_v1(self, raw):
        return 200, Page(exposition(self.server.live.current(), "v1").encode(), CONTENT_TYPE)

    def get_v2(self, raw):
        return 200, Page(exposition(self.server.live.current(), "v2").encode(), CONTENT_TYPE)


MetricsHandler.routes = [(re.compile(r"/"), {"GET": MetricsHandler.get_v1}),
                         (re.compile(r"/v2"), {"GET": MetricsHandler.get_v2})]
