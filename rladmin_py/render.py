"""Result -> rladmin-style text, or JSON. Rendering never computes and never talks to a cluster.

Text rendering never writes a string of a result raw: certificate fields, file names and a live
cluster's names and values come from elsewhere, so every string in the data (and in the remarks)
goes through :func:`rladmin_py.terminal.escape` before a renderer sees it (:func:`_escaped`).
JSON output is the data exactly (``json.dumps`` escapes control characters itself).
"""
from __future__ import annotations

import json

from . import cluster_settings
from .commands import Result
from .terminal import escape

#: The TLS lines: this tool's addition (rladmin's ``info cluster`` shows none).
INFO_TLS = (
    "min_control_TLS_version", "min_data_TLS_version", "min_sentinel_TLS_version", "sentinel_tls_mode",
    "control_cipher_suites", "control_cipher_suites_tls_1_3", "data_cipher_list", "data_cipher_suites_tls_1_3",
    "sentinel_cipher_suites", "sentinel_cipher_suites_tls_1_3", "encrypt_pkeys",
)


def _info_cluster(data: dict, remarks: dict) -> str:
    """rladmin's layout first (layouts.py), then this tool's TLS lines under their own heading."""
    cluster = data["cluster"]  # escaped already, as every result's data (text())
    lines = [_layouts().info_cluster_text(cluster, data.get("policy") or None)]
    lines.append("rladmin-py additions (not shown by rladmin):")
    lines.append(f"    name: {cluster.get('name', '')}")
    for key in INFO_TLS:
        if key in cluster:
            remark = f" ({remarks[key]})" if key in remarks else ""
            lines.append(f"    {key}: {cluster_settings.from_rest(cluster[key])}{remark}")
    return "\n".join(lines)


def _ocsp_status_lines(status: dict) -> list[str]:
    """The documented block (``OCSP certificate status is: REVOKED`` and the response's times):
    the OCSP client's own formatting, which takes the REST ocsp_status object too."""
    from .certificates.ocsp import format_status

    return format_status(status)


def _ocsp_config(data: dict) -> str:
    from .commands import OCSP_LINES

    value = data["value"]
    shown = cluster_settings.from_rest(value) if isinstance(value, bool) else value if value not in (None, "") else "(none)"
    return OCSP_LINES[data["parameter"]].format(shown)


def _status(data: dict, as_data: bool = False):
    """``status`` as rladmin's tables (layouts.status_text), or the same tables as data (--json)."""
    layout = _layouts().status_data if as_data else _layouts().status_text
    return layout(data["cluster"], data["nodes"], data["bdbs"], data["shards"], sections=tuple(data["sections"]),
                  extra_all=data["extra_all"], issues_only=data["issues_only"])


def _certificate_set(data: dict) -> str:
    lines = [f"Set {f['name']} {f['what']} to contents of file {f['path']}" for f in data["files"]]
    if data.get("nodes"):
        nodes = ", ".join(f"node:{n['uid']}" for n in data["nodes"])
        lines.append(f"Updated on every node ({nodes})")
    return "\n".join(lines)


def _certificate_table(items: list[dict], remarks: dict) -> str:
    blocks = []
    for c in items:
        days = c["days_left"]
        state = "EXPIRED" if days < 0 else f"{days} days left"
        blocks.append("\n".join([
            f"{c['name']}:",
            f"   subject:     {c['subject']}",
            f"   issuer:      {c['issuer']}",
            f"   SANs:        {', '.join(c['sans']) or '(none)'}",
            f"   not after:   {c['not_after']} ({state})",
            f"   key:         {c['key_type']} {c['key_size']} bits",
            f"   SHA-256:     {c['sha256']}",
        ] + ([f"   note:        {remarks[c['name']]}"] if c["name"] in remarks else [])))
    return "\n".join(blocks)


def _dry_run(data: dict) -> str:
    """The request a dry run would send: the certificates' summaries and the request line escaped,
    the body as JSON (``json.dumps`` escapes every control character in it)."""
    lines = []
    for c in _escaped(data.get("certificates", [])):
        lines.append(f"Would replace {c['name']}: {c['subject']}, SANs {', '.join(c['sans']) or '(none)'}, "
                     f"expires {c['not_after']} ({c['days_left']} days), {c['key_type']} {c['key_size']}, "
                     f"SHA-256 {c['sha256']}")
    for request in data.get("requests") or [data]:
        lines.append(f"Dry run, nothing changed. Would send: {escape(request['method'])} {escape(request['path'])}")
        if request["body"] is not None:
            lines.append(json.dumps(request["body"], indent=2))
    return "\n".join(lines)


def _make_certs(data: dict) -> str:
    lines = [f"Wrote practice certificates for {data['fqdn']} into {data['directory']}:"]
    width = max(len(f["file"]) for f in data["files"])
    lines += [f"   {f['file'].ljust(width)}  {f['purpose']}" for f in data["files"]]
    return "\n".join(lines)


def _verify_tls(data: dict) -> str:
    lines, counts = [], {}
    for r in data["rows"]:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        lines.append(f"{r['endpoint']}  {r['address']}  {r['status']}")
        served = r.get("served")
        if served:
            same = "the cluster's" if served["sha256"] == r.get("expected_sha256") else "NOT the cluster's"
            lines.append(f"   certificate: {r['certificate']}: served CN {served['cn']}, SHA-256 "
                         f"{served['sha256'][:16]}..., {served['days_left']} days left ({same}); {served['tls_version']}")
        if r.get("chain"):
            name = "" if r.get("name_match") is None else ", name matches" if r["name_match"] else ", name does NOT match"
            lines.append(f"   chain:       {r['chain']}{name}")
        mv = r.get("min_version") or {}
        if mv and mv.get("below") != "not applicable":
            lines.append(f"   minimum TLS: {mv['configured']} configured; below it: {mv['below']}")
        if r.get("cipher_outside") and r["cipher_outside"] != "not applicable":
            lines.append(f"   ciphers:     a TLS 1.2 cipher outside the configured list: {r['cipher_outside']}")
        lines += [f"   problem:     {p}" for p in r.get("problems", ())]
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    lines.append(f"verify tls: {summary}" + ("" if data["ok"] else " (not all reachable endpoints are OK)"))
    return "\n".join(lines)


#: Renderers that also take the result's remarks.
WITH_REMARKS = {"info_cluster": _info_cluster, "certificate_show": _certificate_table}
TEXT = {
    "lab": lambda d: "\n".join(d["text"]),  # the labs' own lines (rladmin_py/labs), each escaped; JSON below
    "cluster_config": lambda d: "Cluster configured successfully",
    "certificate_set": _certificate_set,
    "certificate_dry_run": _dry_run,
    "dry_run": _dry_run,
    "sandbox_reset": lambda d: f"Sandbox reset: new cluster {d['cluster']} at {d['path']} (certificates to trust: "
                               f"{d['ca_cert']})",
    "sandbox_node": lambda d: f"node:{d['uid']} is {'up' if d['status'] == 'active' else 'down'}",
    "make_certs": _make_certs,
    "verify_tls": _verify_tls,
    "ocsp_config": _ocsp_config,
    "ocsp_set": lambda d: "",  # rladmin prints nothing; the next read shows the value
    "ocsp_compatible": lambda d: f"Success. OCSP URI is {d['responder_url']}",
    "ocsp_status": lambda d: "\n".join(_ocsp_status_lines(d)),
    "ocsp_test": lambda d: "Initiating a query to OCSP server\n..." + "\n".join(_ocsp_status_lines(d)),
    "status": _status,
    "info_node": lambda d: "\n".join(_layouts().info_node_text(n) for n in d),
    "info_db": lambda d: "\n".join(_layouts().info_db_text(b, d["cluster"]) for b in d["bdbs"]),
    "certificate_rotate": lambda d: f"Rotated the {d['name'] or 'internal'} certificates" + (
        " on " + ", ".join(f"node:{n['uid']}" for n in d["nodes"]) if d["nodes"] else ""),
    "certificate_delete": lambda d: f"Deleted the {d['name']} certificate",
    "help": lambda d: d,
    "exit": lambda d: "",
}


def _escaped(value):
    """``value`` with every string in it (dictionary keys too, at any depth) escaped for the terminal."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


#: Renderers given the data as it is: help is this tool's own text (lines and all), and a dry run
#: shows its request body as JSON (exact, and escaped by json.dumps); both escape the rest themselves.
RAW_DATA = frozenset({"help", "dry_run", "certificate_dry_run"})


def text(result: Result) -> str:
    data = result.data if result.kind in RAW_DATA else _escaped(result.data)
    if result.kind in WITH_REMARKS:
        return WITH_REMARKS[result.kind](data, _escaped(result.remarks))
    return TEXT[result.kind](data)


#: Results that are lists, and the key that holds each in its document: every document is an
#: object, so that warnings can join it (issue 15) and ``.ok`` reads the same on every line.
LISTS_IN = {"certificate_show": "certificates", "info_node": "nodes"}


def document(result: Result) -> dict:
    """The command's one JSON document, an object (the printer adds its warnings and writes it
    on one line, easy to consume line by line)."""
    data = result.data
    if result.kind in LISTS_IN:
        data = {LISTS_IN[result.kind]: data}
    elif result.kind == "cluster_config":
        data = {"status": "ok", "changed": data["changed"],
                **({"verification": data["verification"]} if "verification" in data else {})}
    elif result.kind == "certificate_set":
        data = {"status": "ok", **data}
    elif result.kind == "help":
        data = {"help": data}
    elif result.kind == "lab":
        data = data["json"]
    elif result.kind == "info_cluster":  # the cluster object as GET /v1/cluster gives it, and its policy
        data = {**data["cluster"], "policy": data["policy"]}
    elif result.kind == "status":
        data = _status(data, as_data=True)
    elif result.kind == "info_db":
        data = {"bdbs": data["bdbs"]}
    return data


def _layouts():
    from . import layouts

    return layouts


def render(result: Result) -> str:
    """The result as text (``exit``: nothing); as JSON, it is :func:`document`."""
    return "" if result.kind == "exit" else text(result)
