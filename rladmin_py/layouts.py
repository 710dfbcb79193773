"""rladmin's documented output layouts, rendered from REST-shaped objects.

Pure functions: no I/O, no backend, standard library only. Every function takes the objects the
REST API returns (``GET /v1/cluster``, ``/v1/cluster/policy``, ``/v1/nodes``, ``/v1/bdbs``,
``/v1/shards``) as plain dicts and returns text (or JSON-able data) in the layout the Redis
Software documentation shows:

* ``status`` and ``status nodes|databases|endpoints|shards``:
  https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/status/
* ``info cluster``, ``info db``, ``info node``:
  https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/info/

A few values rladmin prints have no field on the documented REST objects (a node's hostname,
role and free memory, a shard's used memory, ...). For those this module reads the field names
listed in ``FIELDS_READ`` below; a sandbox can store them on its objects, a live cluster's
objects simply lack them and the cell shows what rladmin shows for an unknown value (``-`` or
``N/A``).
"""
from __future__ import annotations

import math

STATUS_DOC = "https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/status/"
INFO_DOC = "https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/info/"

#: The sections of ``status``, in the order rladmin prints them (STATUS_DOC, "status" example).
SECTIONS = ("nodes", "databases", "endpoints", "shards")
SECTION_TITLES = {"nodes": "CLUSTER NODES:", "databases": "DATABASES:", "endpoints": "ENDPOINTS:",
                  "shards": "SHARDS:"}

#: Columns of each section, then the columns ``extra all`` shows (STATUS_DOC, the tables under
#: "Returns" and the ``rladmin status extra all`` example). ``extra all`` does not append its
#: node columns: MASTERS SLAVES OVERBOOKING_DEPTH come after HOSTNAME and SHA RACK-ID after
#: VERSION, as the example prints them.
NODE_COLUMNS = ("NODE:ID", "ROLE", "ADDRESS", "EXTERNAL_ADDRESS", "HOSTNAME", "SHARDS", "CORES",
                "FREE_RAM", "PROVISIONAL_RAM", "VERSION", "STATUS")
NODE_COLUMNS_EXTRA = ("NODE:ID", "ROLE", "ADDRESS", "EXTERNAL_ADDRESS", "HOSTNAME", "MASTERS", "SLAVES",
                      "OVERBOOKING_DEPTH", "SHARDS", "CORES", "FREE_RAM", "PROVISIONAL_RAM", "VERSION", "SHA",
                      "RACK-ID", "STATUS")
DB_COLUMNS = ("DB:ID", "NAME", "TYPE", "STATUS", "SHARDS", "PLACEMENT", "REPLICATION", "PERSISTENCE",
              "ENDPOINT")
DB_COLUMNS_EXTRA = DB_COLUMNS + ("EXEC_STATE", "EXEC_STATE_MACHINE", "BACKUP_PROGRESS",
                                 "MISSING_BACKUP_TIME", "REDIS_VERSION")
ENDPOINT_COLUMNS = ("DB:ID", "NAME", "ID", "NODE", "ROLE", "SSL")
ENDPOINT_COLUMNS_EXTRA = ENDPOINT_COLUMNS + ("WATCHDOG_STATUS",)
SHARD_COLUMNS = ("DB:ID", "NAME", "ID", "NODE", "ROLE", "SLOTS", "USED_MEMORY", "STATUS")
SHARD_COLUMNS_EXTRA = ("DB:ID", "NAME", "ID", "NODE", "ROLE", "SLOTS", "USED_MEMORY", "BACKUP_PROGRESS",
                       "RAM_FRAG", "WATCHDOG_STATUS", "STATUS")

#: What each function reads, object by object ("*" marks fields that are not on the documented
#: REST object: rladmin gets them elsewhere, a sandbox stores them under these names).
FIELDS_READ = {
    "status: cluster": ("name", "*failures_per_minute"),
    "status: node": ("uid", "addr", "external_addr", "shard_count", "shard_list", "max_redis_servers",
                     "cores", "total_memory", "software_version", "rack_id", "status",
                     "*role", "*hostname", "*free_memory", "*provisional_memory",
                     "*total_provisional_memory", "*overbooking_depth", "*sha", "*last_seen_ago"),
    "status: bdb": ("uid", "name", "type", "status", "shards_count", "shards_placement", "replication",
                    "data_persistence", "port", "endpoints[].uid", "endpoints[].dns_name",
                    "endpoints[].port", "endpoints[].proxy_policy", "endpoints[].exclude_proxies",
                    "endpoints[].include_proxies", "proxy_policy", "endpoint_node", "tls_mode",
                    "version", "redis_version", "backup", "backup_progress", "last_backup_time",
                    "*exec_state", "*exec_state_machine"),
    "status: shard": ("uid", "bdb_uid", "node_uid", "role", "assigned_slots", "status", "detailed_status",
                      "redis_info.used_memory", "redis_info.used_memory_rss", "backup.progress",
                      "*used_memory"),
    "info cluster: policy": ("repl_diskless", "shards_overbooking", "default_non_sharded_proxy_policy",
                             "default_sharded_proxy_policy", "default_shards_placement",
                             "default_fork_evict_ram", "default_provisioned_redis_version",
                             "redis_migrate_node_threshold", "redis_migrate_node_threshold_p",
                             "redis_provision_node_threshold", "redis_provision_node_threshold_p",
                             "max_simultaneous_backups", "slave_ha", "slave_ha_grace_period",
                             "slave_ha_cooldown_period", "slave_ha_bdb_cooldown_period",
                             "parallel_shards_upgrade", "show_internals", "expose_hostnames_for_all_suffixes",
                             "login_lockout_threshold", "login_lockout_duration",
                             "login_lockout_counter_reset_after", "default_concurrent_restore_actions",
                             "endpoint_rebind_propagation_grace_time", "data_internode_encryption",
                             "redis_upgrade_policy", "db_conns_auditing", "failure_detection_sensitivity",
                             "watchdog_profile"),
    "info cluster: cluster": ("slave_ha", "slave_ha_grace_period", "slave_ha_cooldown_period",
                              "slave_ha_bdb_cooldown_period", "default_non_sharded_proxy_policy",
                              "default_sharded_proxy_policy", "http_support", "upgrade_mode",
                              "cm_session_timeout_minutes", "cm_port", "cnm_http_port", "cnm_https_port",
                              "bigstore_driver"),
    "info node: node": ("uid", "addr", "external_addr", "recovery_path", "max_redis_servers",
                        "max_listeners", "*quorum_only"),
    "info db: bdb": ("uid", "name", "slave_buffer", "repl_backlog_size", "master_persistence", "maxclients",
                     "conns", "conns_type", "sched_policy", "max_aof_file_size", "max_aof_load_time",
                     "sync_dedicated_threads", "max_client_pipeline", "max_pipelined", "max_connections",
                     "oss_cluster", "oss_cluster_api_preferred_ip_type", "gradual_src_mode",
                     "gradual_src_max_sources", "gradual_sync_mode", "gradual_sync_max_shards_per_source",
                     "slave_ha", "mkms", "oss_sharding", "mtls_allow_weak_hashing", "mtls_allow_outdated_certs",
                     "data_internode_encryption", "proxy_policy", "db_conns_auditing", "syncer_mode",
                     "*client_buffer_limits", "*pubsub_buffer_limits", "*proxy_client_buffer_limits",
                     "*proxy_slave_buffer_limits", "*proxy_pubsub_buffer_limits", "*repl_timeout",
                     "*repl_diskless"),
    "info db: cluster": ("slave_ha",),
}

#: ENDPOINTS is the one table rladmin spreads over the terminal's width (see ``_fill_table``).
TERMINAL_WIDTH = 80


# --- values ---------------------------------------------------------------------------------

_UNITS = (("TB", 1024 ** 4), ("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024))


def format_size(value) -> str:
    """Bytes the way rladmin prints them: binary units, at most two decimals, no trailing zeros,
    never below KB (``2.08MB``, ``11.4GB``, ``4GB``, ``0KB``, ``-51.33MB``). Derived from the
    examples on STATUS_DOC and INFO_DOC (``repl_backlog: 1.02MB (1073741 bytes)``: 1073741 / 2**20
    = 1.024, so the units are binary)."""
    if value is None or isinstance(value, bool):
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(value)
    unit, size = next(((u, s) for u, s in _UNITS if abs(number) >= s), _UNITS[-1])
    text = f"{number / size:.2f}".rstrip("0").rstrip(".")
    return f"{'0' if text in ('-0', '') else text}{unit}"


def _size_and_bytes(value) -> str:
    """``0KB (0 bytes)``, ``1.02MB (1073741 bytes)`` (INFO_DOC)."""
    return f"{format_size(value)} ({int(value)} bytes)"


def _switch(value) -> str:
    """rladmin's words for a boolean (INFO_DOC: ``repl_diskless: enabled``)."""
    if isinstance(value, bool):
        return "enabled" if value else "disabled"
    return str(value)


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --- tables ---------------------------------------------------------------------------------

def _compact_table(columns, rows) -> list[str]:
    """rladmin's table: every column as wide as its widest cell (the title included), left-aligned,
    one space between columns, every cell padded, the last one too. This is byte for byte the
    ``CLUSTER NODES``, ``DATABASES`` and ``SHARDS`` tables of the ``rladmin status extra all``
    example on STATUS_DOC (its ``OK    `` keeps the padding of the last column), the
    ``rladmin status nodes`` example of .../rladmin/node/addr/ and the empty ``CLUSTER NODES``
    table of ``rladmin status issues_only`` in .../databases/connect/troubleshooting-guide/."""
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    return [" ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in [list(columns)] + rows]


def _fill_table(columns, rows, width: int = TERMINAL_WIDTH) -> list[str]:
    """The ENDPOINTS table: rladmin spreads it over the terminal. Each column but the last gets
    floor((widest + 1) * (W + 1) / sum(widest + 1)) characters, the last one the rest of the W
    columns (W the terminal width, at least what the cells need); every line is padded to W.
    This reproduces, with W = 80, the ``rladmin status endpoints`` example on STATUS_DOC, the
    ``status endpoints db db:6`` examples of .../rladmin/migrate/ and the ``include 3`` example of
    .../rladmin/bind/ exactly (their last lines lost their trailing blanks in the docs)."""
    need = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    total = sum(n + 1 for n in need)
    line_width = max(width, total)
    widths = [max(n + 1, (n + 1) * (line_width + 1) // total) for n in need[:-1]]
    widths.append(max(need[-1], line_width - sum(widths)))
    return ["".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in [list(columns)] + rows]


# --- the rows of each section ---------------------------------------------------------------

def _nodes_by_uid(nodes) -> dict[int, dict]:
    return {_int(n.get("uid")): n for n in nodes}


def _master_uid(nodes) -> int | None:
    """The cluster's master node: a node whose ``role`` says so (not on the REST node object; a
    sandbox stores it), else the node with the lowest uid."""
    for node in nodes:
        if node.get("role") == "master":
            return _int(node.get("uid"))
    return min((_int(n.get("uid")) for n in nodes), default=None)


def _node_ok(node: dict | None) -> bool:
    return node is None or node.get("status", "active") == "active"


def _node_status(node: dict) -> str:
    """``OK`` for an active node; ``DOWN, last seen 33s ago`` (.../rladmin/node/addr/) for a down
    one (the ``last seen`` part when the node carries ``last_seen_ago``, seconds); other REST
    statuses (decommissioning, provisioning) upper-cased."""
    status = node.get("status", "active")
    if status == "active":
        return "OK"
    if status == "down":
        seen = node.get("last_seen_ago")
        return f"DOWN, last seen {int(seen)}s ago" if isinstance(seen, (int, float)) else "DOWN"
    return str(status).upper()


def _node_row(node, shards, master, current, extra) -> dict:
    uid = _int(node.get("uid"))
    on_node = [s for s in shards if _int(s.get("node_uid")) == uid]
    if "shard_count" in node:
        count = _int(node["shard_count"])
    elif "shard_list" in node:
        count = len(node["shard_list"])
    else:
        count = len(on_node)
    down = node.get("status") == "down"
    free = "-" if down or node.get("free_memory") is None else format_size(node["free_memory"])
    available = ("-" if down or node.get("provisional_memory") is None
                 else format_size(node["provisional_memory"]))
    total_prov = node.get("total_provisional_memory")
    external = node.get("external_addr") or []
    row = {
        "NODE:ID": f"{'*' if current is not None and uid == current else ''}node:{uid}",
        "ROLE": node.get("role") or ("master" if uid == master else "slave"),
        "ADDRESS": str(node.get("addr", "")),
        "EXTERNAL_ADDRESS": ",".join(str(a) for a in external) if isinstance(external, list) else str(external),
        "HOSTNAME": str(node.get("hostname", "")),
        "SHARDS": f"{count}/{_int(node.get('max_redis_servers'))}",
        "CORES": str(node.get("cores", "")),
        "FREE_RAM": f"{free}/{format_size(node.get('total_memory'))}",
        "PROVISIONAL_RAM": f"{available}/{format_size(total_prov)}",
        "VERSION": str(node.get("software_version", "")),
        "STATUS": _node_status(node),
    }
    if extra:
        depth = node.get("overbooking_depth", node.get("provisional_memory"))
        row.update({
            "MASTERS": str(sum(1 for s in on_node if s.get("role") == "master")),
            "SLAVES": str(sum(1 for s in on_node if s.get("role") == "slave")),
            # STATUS_DOC: "Memory available to create new shards ..."; the example shows the
            # node's available provisional memory there.
            "OVERBOOKING_DEPTH": "-" if depth is None else format_size(depth),
            "SHA": str(node.get("sha") or "-"),
            "RACK-ID": str(node.get("rack_id") or "-"),
        })
    return row


def _endpoint_address(bdb: dict, cluster: dict) -> str:
    """``redis-11103.cluster.local:11103`` (STATUS_DOC): the endpoint's DNS name and port, which RS
    names ``redis-<port>.<cluster fqdn>``."""
    endpoints = bdb.get("endpoints") or [{}]
    port = endpoints[0].get("port", bdb.get("port", 0))
    dns = endpoints[0].get("dns_name") or f"redis-{port}.{cluster.get('name', '')}"
    return f"{dns}:{port}"


def _db_row(bdb, cluster, extra) -> dict:
    row = {
        "DB:ID": f"db:{bdb.get('uid')}",
        "NAME": str(bdb.get("name", "")),
        "TYPE": str(bdb.get("type", "redis")),
        "STATUS": str(bdb.get("status", "active")),
        "SHARDS": str(bdb.get("shards_count", 1)),
        "PLACEMENT": str(bdb.get("shards_placement", "dense")),
        "REPLICATION": _switch(bool(bdb.get("replication", False))),
        "PERSISTENCE": str(bdb.get("data_persistence", "disabled")),
        "ENDPOINT": _endpoint_address(bdb, cluster),
    }
    if extra:
        progress = bdb.get("backup_progress")
        row.update({
            "EXEC_STATE": str(bdb.get("exec_state") or "N/A"),
            "EXEC_STATE_MACHINE": str(bdb.get("exec_state_machine") or "N/A"),
            "BACKUP_PROGRESS": f"{progress}%" if bdb.get("backup") and progress is not None else "N/A",
            "MISSING_BACKUP_TIME": "N/A",
            "REDIS_VERSION": str(bdb.get("version") or bdb.get("redis_version") or "N/A"),
        })
    return row


def _endpoint_nodes(bdb, endpoint, shards, nodes) -> list[int]:
    """The nodes whose proxy serves an endpoint, by its proxy policy (STATUS_DOC, ENDPOINTS ROLE:
    "single, all-master-shards, or all-nodes"), then ``include_proxies`` / ``exclude_proxies``
    (proxy uid = node uid, as in .../rladmin/bind/)."""
    policy = endpoint.get("proxy_policy") or bdb.get("proxy_policy") or "single"
    uid = _int(bdb.get("uid"))
    masters = sorted({_int(s.get("node_uid")) for s in shards
                      if _int(s.get("bdb_uid")) == uid and s.get("role") == "master"})
    everyone = sorted(_int(n.get("uid")) for n in nodes)
    if policy == "all-nodes":
        chosen = everyone
    elif policy == "all-master-shards":
        chosen = masters or everyone[:1]
    elif bdb.get("endpoint_node") is not None:
        chosen = [_int(bdb["endpoint_node"])]
    else:
        chosen = masters[:1] or everyone[:1]
    included = [_int(p) for p in endpoint.get("include_proxies") or []]
    excluded = {_int(p) for p in endpoint.get("exclude_proxies") or []}
    return [n for n in sorted(set(chosen) | set(included)) if n not in excluded]


def _endpoint_role(bdb, endpoint) -> str:
    """``all-nodes -2``, ``all-master-shards +3`` (.../rladmin/bind/): the policy, then the
    excluded and included proxies."""
    policy = endpoint.get("proxy_policy") or bdb.get("proxy_policy") or "single"
    marks = [f"-{p}" for p in endpoint.get("exclude_proxies") or []]
    marks += [f"+{p}" for p in endpoint.get("include_proxies") or []]
    return " ".join([policy] + marks)


def _endpoint_rows(bdb, shards, nodes, extra) -> list[tuple[dict, bool]]:
    by_uid = _nodes_by_uid(nodes)
    out = []
    for endpoint in bdb.get("endpoints") or [{"uid": f"{bdb.get('uid')}:1"}]:
        for node_uid in _endpoint_nodes(bdb, endpoint, shards, nodes):
            row = {
                "DB:ID": f"db:{bdb.get('uid')}",
                "NAME": str(bdb.get("name", "")),
                "ID": f"endpoint:{endpoint.get('uid', str(bdb.get('uid')) + ':1')}",
                "NODE": f"node:{node_uid}",
                "ROLE": _endpoint_role(bdb, endpoint),
                # The brief and STATUS_DOC ("SSL: Is SSL enabled"): Yes when the database
                # requires TLS from clients (tls_mode "enabled"); "replica_ssl" is TLS on the
                # replication link only.
                "SSL": "Yes" if bdb.get("tls_mode") == "enabled" else "No",
            }
            healthy = _node_ok(by_uid.get(node_uid))
            if extra:
                row["WATCHDOG_STATUS"] = "OK" if healthy else "DOWN"
            out.append((row, healthy))
    return out


def _shard_status(shard: dict) -> str:
    detailed = shard.get("detailed_status")
    if shard.get("status", "active") == "active" and detailed in (None, "ok"):
        return "OK"
    if detailed not in (None, "ok"):
        return str(detailed).upper()
    return str(shard.get("status")).upper()


def _shard_row(shard, bdbs_by_uid, extra) -> dict:
    bdb = bdbs_by_uid.get(_int(shard.get("bdb_uid")), {})
    info = shard.get("redis_info") or {}
    used = shard.get("used_memory", info.get("used_memory"))
    row = {
        "DB:ID": f"db:{shard.get('bdb_uid')}",
        "NAME": str(bdb.get("name", "")),
        "ID": f"redis:{shard.get('uid')}",
        "NODE": f"node:{shard.get('node_uid')}",
        "ROLE": str(shard.get("role", "")),
        "SLOTS": str(shard.get("assigned_slots", "")),
        "USED_MEMORY": "N/A" if used is None else format_size(used),
        "STATUS": _shard_status(shard),
    }
    if extra:
        rss = info.get("used_memory_rss")
        progress = (shard.get("backup") or {}).get("progress")
        row.update({
            "BACKUP_PROGRESS": "N/A" if progress is None else f"{progress}%",
            # STATUS_DOC: "RAM fragmentation caused by deleted data or expired keys": what the
            # shard holds beyond its data (negative values appear in real outputs).
            "RAM_FRAG": "N/A" if rss is None or used is None else format_size(float(rss) - float(used)),
            "WATCHDOG_STATUS": "OK" if _shard_status(shard) == "OK" else _shard_status(shard),
        })
    return row


def _ordered(row: dict, columns) -> list[str]:
    return [row[c] for c in columns]


def _check_sections(sections) -> tuple[str, ...]:
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown status section {unknown[0]!r}: expected one of {', '.join(SECTIONS)}")
    return tuple(s for s in SECTIONS if s in sections)  # always in rladmin's order


def _tables(cluster, nodes, bdbs, shards, sections, extra_all, issues_only, current_node):
    """{section: (columns, [row dict, ...])}, rows sorted as rladmin lists them (by uid)."""
    nodes = sorted(nodes or [], key=lambda n: _int(n.get("uid")))
    bdbs = sorted(bdbs or [], key=lambda b: _int(b.get("uid")))
    shards = sorted(shards or [], key=lambda s: (_int(s.get("bdb_uid")), _int(s.get("uid"))))
    master = _master_uid(nodes)
    out = {}
    for section in _check_sections(sections):
        if section == "nodes":
            columns = NODE_COLUMNS_EXTRA if extra_all else NODE_COLUMNS
            rows = [_node_row(n, shards, master, current_node, extra_all) for n in nodes]
            rows = [r for r in rows if not issues_only or r["STATUS"] != "OK"]
        elif section == "databases":
            columns = DB_COLUMNS_EXTRA if extra_all else DB_COLUMNS
            rows = [_db_row(b, cluster, extra_all) for b in bdbs]
            rows = [r for r in rows if not issues_only or r["STATUS"] != "active"]
        elif section == "endpoints":
            columns = ENDPOINT_COLUMNS_EXTRA if extra_all else ENDPOINT_COLUMNS
            rows = [r for b in bdbs for r, healthy in _endpoint_rows(b, shards, nodes, extra_all)
                    if not issues_only or not healthy]
        else:
            columns = SHARD_COLUMNS_EXTRA if extra_all else SHARD_COLUMNS
            by_uid = {_int(b.get("uid")): b for b in bdbs}
            rows = [_shard_row(s, by_uid, extra_all) for s in shards]
            rows = [r for r in rows if not issues_only or r["STATUS"] != "OK"]
        out[section] = (columns, rows)
    return out


def _cluster_block(cluster, nodes) -> dict | None:
    """The ``CLUSTER:`` block of ``rladmin status extra all`` (STATUS_DOC). The documentation shows
    it only there: ``rladmin status issues_only`` (troubleshooting guide) and every plain
    ``rladmin status`` it prints start with ``CLUSTER NODES:``. Failure rates (per minute, over 1,
    15 and 60 minutes) are not on the REST cluster object: read from ``failures_per_minute``."""
    nodes = sorted(nodes or [], key=lambda n: _int(n.get("uid")))
    master = _master_uid(nodes)
    if master is None:
        return None
    addr = next((n.get("addr", "") for n in nodes if _int(n.get("uid")) == master), "")
    rates = list(cluster.get("failures_per_minute") or [0, 0, 0])[:3]
    rates += [0] * (3 - len(rates))
    return {"status": "OK", "master": master, "master_address": addr, "health": "OK",
            "failures_per_minute": rates}


def _cluster_lines(block: dict) -> list[str]:
    r = block["failures_per_minute"]
    return ["CLUSTER:",
            f"{block['status']}. Cluster master: {block['master']} ({block['master_address']})",
            f"Cluster health: {block['health']}, {r!r}",
            f"failures/minute - avg1 {float(r[0]):.2f}, avg15 {float(r[1]):.2f}, avg60 {float(r[2]):.2f}."]


def status_text(cluster: dict, nodes: list[dict], bdbs: list[dict], shards: list[dict], *,
                sections=SECTIONS, extra_all: bool = False, issues_only: bool = False,
                current_node: int | None = None, width: int = TERMINAL_WIDTH) -> str:
    """``rladmin status [extra all] [issues_only]`` and ``rladmin status <section> ...`` (STATUS_DOC).

    ``sections``: any of ``nodes databases endpoints shards`` (printed in that order, each as its
    title line then its table, a blank line between). ``extra_all`` adds the documented extra
    columns and, for the whole ``status``, the ``CLUSTER:`` block. ``issues_only`` keeps the rows
    whose status is not OK (titles and column headers stay, as the troubleshooting guide shows).
    ``current_node`` is marked ``*node:N``. ``width`` is the terminal width the ENDPOINTS table is
    spread over (rladmin measures the terminal; 80 reproduces the documented examples)."""
    tables = _tables(cluster, nodes, bdbs, shards, sections, extra_all, issues_only, current_node)
    blocks = []
    if extra_all and set(tables) == set(SECTIONS):
        block = _cluster_block(cluster, nodes)
        if block:
            blocks.append(_cluster_lines(block))
    for section, (columns, rows) in tables.items():
        cells = [_ordered(r, columns) for r in rows]
        lines = _fill_table(columns, cells, width) if section == "endpoints" else _compact_table(columns, cells)
        blocks.append([SECTION_TITLES[section]] + lines)
    return "\n\n".join("\n".join(b) for b in blocks)


def status_data(cluster: dict, nodes: list[dict], bdbs: list[dict], shards: list[dict], *,
                sections=SECTIONS, extra_all: bool = False, issues_only: bool = False,
                current_node: int | None = None, width: int = TERMINAL_WIDTH) -> dict:
    """The same tables as JSON-able data, for ``--json``: ``{"nodes": [...], "databases": [...],
    "endpoints": [...], "shards": [...]}`` (only the sections asked for; lower-case section keys),
    each row an object keyed by rladmin's column titles (``NODE:ID``, ``FREE_RAM``, ...: the names
    ``status ... sort <column_titles>`` takes), in column order, holding the cells exactly as
    ``status_text`` prints them (the current node's ``NODE:ID`` is ``*node:N`` there too). With
    ``extra_all`` on the whole status, ``"cluster"`` holds the ``CLUSTER:`` block: ``status``,
    ``master`` (node uid), ``master_address``, ``health``, ``failures_per_minute`` (3 numbers).
    ``width`` is accepted for symmetry with ``status_text`` and changes nothing here."""
    del width
    tables = _tables(cluster, nodes, bdbs, shards, sections, extra_all, issues_only, current_node)
    out: dict = {}
    if extra_all and set(tables) == set(SECTIONS):
        block = _cluster_block(cluster, nodes)
        if block:
            out["cluster"] = block
    for section, (columns, rows) in tables.items():
        out[section] = [{c: r[c] for c in columns} for r in rows]
    return out


# --- info -----------------------------------------------------------------------------------

def _watchdog_profile(policy: dict, cluster: dict):
    """``watchdog profile: local-network`` (INFO_DOC). The policy field is now
    ``failure_detection_sensitivity`` (high, previously local-network; low, previously cloud:
    .../rest-api/objects/cluster_settings/); rladmin's line keeps the old label and words."""
    for source in (policy, cluster):
        if source.get("watchdog_profile") is not None:
            return source["watchdog_profile"]
    for source in (policy, cluster):
        value = source.get("failure_detection_sensitivity")
        if value is not None:
            return {"high": "local-network", "low": "cloud"}.get(value, value)
    return None


#: ``info cluster``: (label, field, where to look, format), in the order and spelling of the
#: example on INFO_DOC. "policy" fields are on the cluster policy object (GET /v1/cluster/policy,
#: https://redis.io/docs/latest/operate/rs/references/rest-api/objects/cluster_settings/); some
#: of them are mirrored read-only on the cluster object (slave_ha*, default_*_proxy_policy), which
#: is read when the policy lacks them. "cluster" fields are on the cluster object
#: (https://redis.io/docs/latest/operate/rs/references/rest-api/objects/cluster/).
INFO_CLUSTER_KEYS = (
    ("repl_diskless", "repl_diskless", "policy", "switch"),
    ("shards_overbooking", "shards_overbooking", "policy", "switch"),
    ("default_non_sharded_proxy_policy", "default_non_sharded_proxy_policy", "both", "text"),
    ("default_sharded_proxy_policy", "default_sharded_proxy_policy", "both", "text"),
    ("default_shards_placement", "default_shards_placement", "policy", "text"),
    ("default_fork_evict_ram", "default_fork_evict_ram", "policy", "switch"),
    ("default_provisioned_redis_version", "default_provisioned_redis_version", "policy", "text"),
    ("redis_migrate_node_threshold", "redis_migrate_node_threshold", "policy", "bytes"),
    ("redis_migrate_node_threshold_percent", "redis_migrate_node_threshold_p", "policy", "percent"),
    ("redis_provision_node_threshold", "redis_provision_node_threshold", "policy", "bytes"),
    ("redis_provision_node_threshold_percent", "redis_provision_node_threshold_p", "policy", "percent"),
    ("max_simultaneous_backups", "max_simultaneous_backups", "policy", "text"),
    ("slave_ha", "slave_ha", "both", "switch"),
    ("slave_ha_grace_period", "slave_ha_grace_period", "both", "text"),
    ("slave_ha_cooldown_period", "slave_ha_cooldown_period", "both", "text"),
    ("slave_ha_bdb_cooldown_period", "slave_ha_bdb_cooldown_period", "both", "text"),
    ("parallel_shards_upgrade", "parallel_shards_upgrade", "policy", "text"),
    ("show_internals", "show_internals", "policy", "switch"),
    ("expose_hostnames_for_all_suffixes", "expose_hostnames_for_all_suffixes", "policy", "switch"),
    ("login_lockout_threshold", "login_lockout_threshold", "policy", "text"),
    ("login_lockout_duration", "login_lockout_duration", "policy", "text"),
    ("login_lockout_counter_reset_after", "login_lockout_counter_reset_after", "policy", "text"),
    ("default_concurrent_restore_actions", "default_concurrent_restore_actions", "policy", "text"),
    ("endpoint_rebind_propagation_grace_time", "endpoint_rebind_propagation_grace_time", "policy", "text"),
    ("data_internode_encryption", "data_internode_encryption", "policy", "switch"),
    ("redis_upgrade_policy", "redis_upgrade_policy", "policy", "text"),
    ("db_conns_auditing", "db_conns_auditing", "policy", "switch"),
    ("watchdog profile", "failure_detection_sensitivity", "policy", "watchdog"),
    ("http support", "http_support", "cluster", "switch"),
    ("upgrade mode", "upgrade_mode", "cluster", "switch"),
    ("cm_session_timeout_minutes", "cm_session_timeout_minutes", "cluster", "text"),
    ("cm_port", "cm_port", "cluster", "text"),
    ("cnm_http_port", "cnm_http_port", "cluster", "text"),
    ("cnm_https_port", "cnm_https_port", "cluster", "text"),
    ("bigstore_driver", "bigstore_driver", "cluster", "text"),
)

#: The labels in order: what ``info cluster`` prints (INFO_DOC).
INFO_CLUSTER_LABELS = tuple(label for label, *_ in INFO_CLUSTER_KEYS)


def _lookup(field: str, where: str, policy: dict, cluster: dict):
    # The percent thresholds: the policy object names them *_p; accept the rladmin spelling too.
    aliases = (field, field[:-2] + "_percent") if field.endswith("_p") else (field,)
    sources = {"policy": (policy,), "cluster": (cluster,), "both": (policy, cluster)}[where]
    for source in sources:
        for name in aliases:
            if source.get(name) is not None:
                return source[name]
    return None


def info_cluster_lines(cluster: dict, policy: dict | None = None) -> list[tuple[str, str]]:
    """(label, value) for each line ``info cluster`` prints, in order. A key whose field is absent
    is skipped: the documentation never shows an unset value here (every line of its example has
    one), and printing a guess would be a wrong answer rather than a missing one."""
    policy = policy or {}
    out = []
    for label, field, where, kind in INFO_CLUSTER_KEYS:
        value = (_watchdog_profile(policy, cluster) if kind == "watchdog"
                 else _lookup(field, where, policy, cluster))
        if value is None:
            continue
        if kind == "switch":
            text = _switch(value)
        elif kind == "bytes":
            text = _size_and_bytes(value) if not isinstance(value, str) else value
        elif kind == "percent":
            text = f"{value} (%)"
        else:
            text = str(value)
        out.append((label, text))
    return out


def info_cluster_text(cluster: dict, policy: dict | None = None) -> str:
    """``rladmin info cluster`` (INFO_DOC): ``Cluster configuration:`` then ``    key: value``."""
    return "\n".join(["Cluster configuration:"] +
                     [f"    {label}: {value}" for label, value in info_cluster_lines(cluster, policy)])


def info_node_text(node: dict) -> str:
    """``rladmin info node <id>`` (INFO_DOC)::

        Command Output: node:3
            address: 198.51.100.17
            external addresses: N/A
            ...

    ``quorum only`` is not on the REST node object (``rladmin tune node ... quorum_only``); read
    from ``quorum_only`` when present, else ``disabled`` (RS's default)."""
    external = node.get("external_addr") or []
    if isinstance(external, list):
        external = ",".join(str(a) for a in external)
    lines = [f"Command Output: node:{node.get('uid')}",
             f"    address: {node.get('addr', 'N/A')}",
             f"    external addresses: {external or 'N/A'}",
             f"    recovery path: {node.get('recovery_path') or 'N/A'}",
             f"    quorum only: {_switch(bool(node.get('quorum_only', False)))}",
             f"    max redis servers: {node.get('max_redis_servers', 'N/A')}",
             f"    max listeners: {node.get('max_listeners', 'N/A')}"]
    return "\n".join(lines)


def _buffer_limits(value) -> str | None:
    """``1GB (hard limit)/512MB (soft limit) in 30 seconds`` (INFO_DOC) from
    ``{"hard": bytes, "soft": bytes, "seconds": n}``; a string is printed as it is."""
    if value is None:
        return None
    if isinstance(value, dict):
        return (f"{format_size(value.get('hard', 0))} (hard limit)/{format_size(value.get('soft', 0))} "
                f"(soft limit) in {value.get('seconds', 0)} seconds")
    return str(value)


def _repl_backlog(value) -> str | None:
    """REST ``repl_backlog_size``: ``auto`` or bytes -> ``1.02MB (1073741 bytes)`` (INFO_DOC)."""
    if value is None:
        return None
    if isinstance(value, str) and not value.isdigit():
        return value
    return _size_and_bytes(int(value))


def info_db_text(bdb: dict, cluster: dict) -> str:
    """``rladmin info db db:<id>`` (INFO_DOC): ``db:1 [database1]:`` then ``    key: value`` in
    the documented order. Values from the REST bdb object
    (https://redis.io/docs/latest/operate/rs/references/rest-api/objects/bdb/); the lines rladmin
    takes from elsewhere (buffer limits, ``repl_timeout``, ``repl_diskless``) read the fields of
    the same name when the bdb carries them. Absent fields are skipped, except ``repl_diskless``
    (``default``: the database follows the cluster) and ``slave_ha`` (the cluster's value marked
    ``(cluster)`` when the database has none of its own, ``(database)`` otherwise)."""
    b = bdb
    if b.get("slave_ha") is not None:
        slave_ha = f"{_switch(bool(b['slave_ha']))} (database)"
    elif cluster.get("slave_ha") is not None:
        slave_ha = f"{_switch(bool(cluster['slave_ha']))} (cluster)"
    else:
        slave_ha = None
    repl_diskless = b.get("repl_diskless")
    seconds = lambda v: None if v is None else f"{v} seconds"  # noqa: E731
    switch = lambda v: None if v is None else _switch(v)  # noqa: E731
    plain = lambda v: None if v is None else str(v)  # noqa: E731
    size = lambda v: None if v is None else format_size(v)  # noqa: E731
    items = (
        ("client_buffer_limits", _buffer_limits(b.get("client_buffer_limits"))),
        ("slave_buffer", plain(b.get("slave_buffer"))),
        ("pubsub_buffer_limits", _buffer_limits(b.get("pubsub_buffer_limits"))),
        ("proxy_client_buffer_limits", _buffer_limits(b.get("proxy_client_buffer_limits"))),
        ("proxy_slave_buffer_limits", _buffer_limits(b.get("proxy_slave_buffer_limits"))),
        ("proxy_pubsub_buffer_limits", _buffer_limits(b.get("proxy_pubsub_buffer_limits"))),
        ("repl_backlog", _repl_backlog(b.get("repl_backlog_size"))),
        ("repl_timeout", seconds(b.get("repl_timeout"))),
        ("repl_diskless", "default" if repl_diskless in (None, "default") else _switch(repl_diskless)),
        ("master_persistence", switch(b.get("master_persistence"))),
        ("maxclients", plain(b.get("maxclients"))),
        ("conns", plain(b.get("conns"))),
        ("conns_type", plain(b.get("conns_type"))),
        ("sched_policy", plain(b.get("sched_policy"))),
        ("max_aof_file_size", size(b.get("max_aof_file_size"))),
        ("max_aof_load_time", seconds(b.get("max_aof_load_time"))),
        ("dedicated_replicaof_threads", plain(b.get("sync_dedicated_threads"))),
        ("max_client_pipeline", plain(b.get("max_client_pipeline"))),
        ("max_shard_pipeline", plain(b.get("max_pipelined"))),
        ("max_connections", plain(b.get("max_connections"))),
        ("oss_cluster", switch(b.get("oss_cluster"))),
        ("oss_cluster_api_preferred_ip_type", plain(b.get("oss_cluster_api_preferred_ip_type"))),
        ("gradual_src_mode", plain(b.get("gradual_src_mode"))),
        ("gradual_src_max_sources", plain(b.get("gradual_src_max_sources"))),
        ("gradual_sync_mode", plain(b.get("gradual_sync_mode"))),
        ("gradual_sync_max_shards_per_source", plain(b.get("gradual_sync_max_shards_per_source"))),
        ("slave_ha", slave_ha),
        ("mkms", switch(b.get("mkms"))),
        ("oss_sharding", switch(b.get("oss_sharding"))),
        ("mtls_allow_weak_hashing", switch(b.get("mtls_allow_weak_hashing"))),
        ("mtls_allow_outdated_certs", switch(b.get("mtls_allow_outdated_certs"))),
        ("data_internode_encryption", switch(b.get("data_internode_encryption"))),
        ("proxy_policy", plain(b.get("proxy_policy"))),
        ("db_conns_auditing", switch(b.get("db_conns_auditing"))),
        ("syncer_mode", plain(b.get("syncer_mode"))),
    )
    return "\n".join([f"db:{b.get('uid')} [{b.get('name', '')}]:"] +
                     [f"    {label}: {value}" for label, value in items if value is not None])


# --- what a sandbox stores ------------------------------------------------------------------

#: Defaults for every field ``info cluster`` shows, split by the object that holds it. Values
#: are the ones of the ``rladmin info cluster`` example (INFO_DOC), which agree with the real
#: capture of GET /v1/cluster (slave_ha true, 600/3600/7200, http_support true, ports, speedb) and
#: with ``rladmin tune cluster``'s documented defaults (.../rladmin/tune/: slave_ha enabled, 600,
#: 3600, 7200, max_simultaneous_backups 4). Where the REST object pages say otherwise (the cluster
#: object page: slave_ha false, slave_ha_grace_period 900, slave_ha_bdb_cooldown_period 86400,
#: default_sharded_proxy_policy all-master-shards, http_support false) the example and the capture
#: win. default_provisioned_redis_version is the example's (and GET /v1/cluster/policy example's)
#: "6.0"; a sandbox that wants a version its nodes list in supported_database_versions may override.
SANDBOX_DEFAULTS = {
    "policy": {
        "repl_diskless": True,
        "shards_overbooking": False,
        "default_non_sharded_proxy_policy": "single",
        "default_sharded_proxy_policy": "single",
        "default_shards_placement": "dense",
        "default_fork_evict_ram": True,
        "default_provisioned_redis_version": "6.0",
        "redis_migrate_node_threshold": 0,
        "redis_migrate_node_threshold_p": 4,
        "redis_provision_node_threshold": 0,
        "redis_provision_node_threshold_p": 12,
        "max_simultaneous_backups": 4,
        "slave_ha": True,
        "slave_ha_grace_period": 600,
        "slave_ha_cooldown_period": 3600,
        "slave_ha_bdb_cooldown_period": 7200,
        "parallel_shards_upgrade": 0,
        "show_internals": False,
        "expose_hostnames_for_all_suffixes": False,
        "login_lockout_threshold": 5,
        "login_lockout_duration": 1800,
        "login_lockout_counter_reset_after": 900,
        "default_concurrent_restore_actions": 10,
        "endpoint_rebind_propagation_grace_time": 15,
        "data_internode_encryption": False,
        "redis_upgrade_policy": "major",
        "db_conns_auditing": False,
        "failure_detection_sensitivity": "high",  # printed "watchdog profile: local-network"
    },
    "cluster": {
        "slave_ha": True,
        "slave_ha_grace_period": 600,
        "slave_ha_cooldown_period": 3600,
        "slave_ha_bdb_cooldown_period": 7200,
        "default_non_sharded_proxy_policy": "single",
        "default_sharded_proxy_policy": "single",
        "http_support": True,
        "upgrade_mode": False,
        "cm_session_timeout_minutes": 15,
        "cm_port": 8443,
        "cnm_http_port": 8080,
        "cnm_https_port": 9443,
        "bigstore_driver": "speedb",
    },
}

_SLOTS = 16384
_SAMPLE_USED_MEMORY = 2181038  # 2.08MB, the shards of the ``status extra all`` example
_SAMPLE_RSS = _SAMPLE_USED_MEMORY + 4959764  # RAM_FRAG 4.73MB, as in the same example


def _slot_ranges(count: int) -> list[tuple[int, int]]:
    """16384 hash slots split the way redis-cli --cluster create splits them (and as RS shows
    them: ``0-5460``, ``5461-10922``, ``10923-16383`` for three shards; ``0-4095`` ... for four)."""
    per, cursor, first, out = _SLOTS / count, 0.0, 0, []
    for i in range(count):
        last = _SLOTS - 1 if i == count - 1 else min(_SLOTS - 1, int(cursor + per - 1 + 0.5))
        out.append((first, last))
        first, cursor = last + 1, cursor + per
    return out


def sample_shards(bdbs: list[dict], nodes: list[dict]) -> list[dict]:
    """Plausible REST shard objects (https://redis.io/docs/latest/operate/rs/references/rest-api/objects/shard/)
    for a sandbox that stores none: for each database, ``shards_count`` masters splitting the
    16384 hash slots evenly (``0-4095``, ``4096-8191``, ...) and, with ``replication``, one replica
    of each; shard uids count up across the cluster, each master followed by its replica (as the
    .../rladmin/migrate/ examples number them). ``dense`` placement puts a database's masters on
    one node and its replicas on the next; ``sparse`` spreads them round-robin. Placement ignores
    node status (shards do not move when a node goes down); a shard on a down node is
    ``status: inactive``, ``detailed_status: down``."""
    ordered = sorted(nodes or [], key=lambda n: _int(n.get("uid")))
    if not ordered:
        return []
    status_of = {_int(n.get("uid")): n.get("status", "active") for n in ordered}
    uids = [_int(n.get("uid")) for n in ordered]
    shards: list[dict] = []
    next_uid = 1
    for index, bdb in enumerate(sorted(bdbs or [], key=lambda b: _int(b.get("uid")))):
        count = max(1, _int(bdb.get("shards_count"), 1))
        sparse = bdb.get("shards_placement") == "sparse"
        home = index % len(uids)
        for i, (low, high) in enumerate(_slot_ranges(count)):
            roles = ("master", "slave") if bdb.get("replication") else ("master",)
            for r, role in enumerate(roles):
                slot = (home + (i * len(roles) + r if sparse else r)) % len(uids)
                node_uid = uids[slot]
                down = status_of[node_uid] == "down"
                shards.append({
                    "uid": str(next_uid),
                    "bdb_uid": _int(bdb.get("uid")),
                    "node_uid": str(node_uid),
                    "role": role,
                    "assigned_slots": f"{low}-{high}",
                    "status": "inactive" if down else "active",
                    "detailed_status": "down" if down else "ok",
                    "loading": {"status": "idle"},
                    "sync": {"status": "link_down" if down and role == "slave" else "idle"},
                    "backup": {"status": "succeeded"} if bdb.get("backup") else {},
                    "redis_info": {"used_memory": _SAMPLE_USED_MEMORY, "used_memory_rss": _SAMPLE_RSS},
                })
                next_uid += 1
    return shards
