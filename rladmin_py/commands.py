"""One plain function per command: (context, parsed arguments) -> Result.

Handlers compute; :mod:`rladmin_py.render` turns a Result into rladmin-style text or JSON.
The grammar names the handler of each form; :data:`HANDLERS` maps those names to functions.
"""
from __future__ import annotations

import os
from typing import Callable

from . import cluster_settings, paths
from .backends import AuthenticationFailed, BackendError, CertificateUpdate, ConnectionProblem
from .context import Context
from .results import Cancelled, CommandFailed, Result  # noqa: F401  (re-exported: commands.Result, commands.CommandFailed)


#: What the sandbox cannot do of a setting it stores (said wherever the setting is shown).
SANDBOX_REMARKS = {"data_cipher_suites_tls_1_3": "stored, not enforced by the sandbox: Python's ssl cannot restrict "
                                                 "TLS 1.3 suites"}


# -- cluster config / info ----------------------------------------------------------------------
def cluster_config(ctx: Context, args: dict) -> Result:
    """Each parameter on the route the documentation gives it (the cluster object first); every
    value was checked by the grammar, and cipher lists here, before the first request."""
    routes = cluster_settings.split_changes(args["params"])
    changes = routes.get(cluster_settings.CLUSTER, {})
    _check_ciphers(ctx, changes)
    requests = [{"method": "PUT", "path": cluster_settings.ROUTE_PATHS[r], "body": body} for r, body in routes.items()]
    if ctx.options.dry_run:
        return Result("dry_run", requests[0] if len(requests) == 1 else {"requests": requests})
    cluster, done = None, []
    for route, body in routes.items():
        try:
            if route == cluster_settings.CLUSTER:
                cluster = ctx.backend.update_cluster(body)
            elif route == cluster_settings.SERVICES:
                ctx.backend.update_services(body)
            else:
                ctx.backend.update_auditing(body)
        except BackendError as err:
            if done:  # say what is already in force: the routes are separate requests on RS too
                err.message = f"{err.message} (already applied: {', '.join(done)})"
            raise
        done.append(f"PUT {cluster_settings.ROUTE_PATHS[route]}")
    seen = _verify_after(ctx, planes=_planes_touched(changes), cluster=cluster)
    return Result("cluster_config", {"changed": changes,
                                     **{r: b for r, b in routes.items() if r != cluster_settings.CLUSTER},
                                     **_verification(seen)})


# -- cluster ocsp -------------------------------------------------------------------------------
#: ``cluster ocsp config <parameter>``: how rladmin words each value. Only the recovery_frequency
#: line is documented (https://redis.io/docs/latest/operate/rs/references/cli-utilities/rladmin/cluster/ocsp/);
#: [guess] the others follow its pattern.
OCSP_LINES = {
    "ocsp_functionality": "OCSP functionality is {}",
    "query_frequency": "Query frequency of the OCSP server is {} seconds",
    "recovery_frequency": "Recovery frequency of the OCSP server is {} seconds",
    "recovery_max_tries": "Recovery max tries of the OCSP server is {}",
    "response_timeout": "Response timeout of the OCSP server is {} seconds",
    "responder_url": "Responder URL of the OCSP server is {}",
}


def ocsp_config_show(ctx: Context, args: dict) -> Result:
    name = args["parameter"]
    value = ctx.backend.get_ocsp().get(name)
    return Result("ocsp_config", {"parameter": name, "value": value})


def ocsp_config_set(ctx: Context, args: dict) -> Result:
    (name, value), = args["params"].items()
    body = {name: cluster_settings.to_rest(name, value, "ocsp_config")}
    if ctx.options.dry_run:
        return Result("dry_run", {"method": "PUT", "path": "/v1/ocsp", "body": body})
    ctx.backend.update_ocsp(body)
    return Result("ocsp_set", {"parameter": name, "value": body[name]})


def _proxy_chain(ctx: Context) -> str:
    pem = ctx.backend.get_certificates().get("proxy_cert")
    if not pem:
        raise CommandFailed("the cluster holds no proxy certificate", error_code="not_found")
    return pem


def ocsp_certificate_compatible(ctx: Context, args: dict) -> Result:
    from .certificates import ocsp

    url = ocsp.responder_url(_proxy_chain(ctx))
    if not url:
        raise CommandFailed("the proxy certificate has no OCSP URI (no Authority Information Access extension "
                            "naming an OCSP responder): OCSP cannot check it; install a proxy certificate from a CA "
                            "that publishes one", error_code="no_responder_url")
    return Result("ocsp_compatible", {"responder_url": url})


def ocsp_status(ctx: Context, args: dict) -> Result:
    status = ctx.backend.get_ocsp_status()
    if not status.get("cert_status"):
        raise CommandFailed("no OCSP status is cached yet: run 'cluster ocsp test_certificate' (with "
                            "ocsp_functionality enabled, the answer is cached)", error_code="no_ocsp_status")
    return Result("ocsp_status", status)


def ocsp_test(ctx: Context, args: dict) -> Result:
    return Result("ocsp_test", ctx.backend.test_ocsp())


# -- status and info ----------------------------------------------------------------------------
def status(ctx: Context, args: dict) -> Result:
    backend = ctx.backend
    section = args.get("section")
    data = {"cluster": backend.get_cluster(), "nodes": backend.get_nodes(), "bdbs": backend.get_bdbs(),
            "shards": backend.get_shards() if section in (None, "shards", "endpoints") else [],
            "sections": [section] if section else ["nodes", "databases", "endpoints", "shards"],
            "extra_all": args.get("status_extra") == "all", "issues_only": bool(args.get("issues_only"))}
    return Result("status", data)


def info_node(ctx: Context, args: dict) -> Result:
    nodes = ctx.backend.get_nodes()
    if args.get("node") is not None:
        nodes = [n for n in nodes if n.get("uid") == args["node"]]
        if not nodes:
            raise CommandFailed(f"node {args['node']} does not exist", error_code="node_not_found")
    return Result("info_node", nodes)


def info_db(ctx: Context, args: dict) -> Result:
    bdbs, wanted = ctx.backend.get_bdbs(), args.get("db")
    if wanted:
        uid = wanted[3:] if wanted.startswith("db:") else None
        bdbs = [b for b in bdbs if (str(b.get("uid")) == uid if uid is not None else b.get("name") == wanted)]
        if not bdbs:
            raise CommandFailed(f"no database {wanted} (give db:<id> or the database's name)", error_code="db_not_exist")
    return Result("info_db", {"bdbs": bdbs, "cluster": ctx.backend.get_cluster()})


# -- certificate upkeep (REST requests rladmin has no command for) --------------------------------
def certificate_rotate(ctx: Context, args: dict) -> Result:
    name = args.get("certificate_name")
    if ctx.options.dry_run:
        return Result("dry_run", {"method": "POST", "path": "/v1/cluster/certificates/rotate",
                                  "body": {"name": name} if name else {}})
    if ctx.confirm is not None and not ctx.options.yes:
        if not ctx.confirm(f"Regenerate the {name + ' certificate' if name else 'internal certificates'} on every node of "
                           f"{_cluster_named(ctx)}?"):
            raise Cancelled()
    nodes = ctx.backend.rotate_certificates(name)
    return Result("certificate_rotate", {"name": name, "nodes": nodes})


def certificate_delete(ctx: Context, args: dict) -> Result:
    name = args["certificate_name"]
    if ctx.options.dry_run:
        return Result("dry_run", {"method": "DELETE", "path": f"/v1/cluster/certificates/{name}", "body": None})
    if ctx.confirm is not None and not ctx.options.yes:
        if not ctx.confirm(f"Delete the {name} certificate from {_cluster_named(ctx)}?"):
            raise Cancelled()
    ctx.backend.delete_certificate(name)
    return Result("certificate_delete", {"name": name})


def _check_ciphers(ctx: Context, changes: dict) -> None:
    """Refuse cipher settings the cluster could not use before anything is sent (the current
    minimum versions and lists decide what a change leaves usable)."""
    from . import ciphers

    if not set(changes) & ciphers.FIELDS or (ctx.backend.kind == "sandbox" and not ctx.options.dry_run):
        return  # the sandbox refuses them itself, with the same checker
    problems = ciphers.problems(ctx.backend.get_cluster() if ciphers.needs_cluster(changes) else {}, changes)
    if problems:
        raise CommandFailed(f"{problems[0]}; nothing was changed", error_code="invalid_ciphers")


def info_cluster(ctx: Context, args: dict) -> Result:
    """The cluster object and its policy (``GET /v1/cluster/policy``), where rladmin reads them."""
    remarks = SANDBOX_REMARKS if ctx.backend.kind == "sandbox" else {}
    cluster = ctx.backend.get_cluster()
    try:
        policy = ctx.backend.get_policy()
    except BackendError as err:
        if isinstance(err, (AuthenticationFailed, ConnectionProblem)):
            raise
        ctx.note(f"warning: the cluster policy could not be read ({err.message}): its lines are left out")
        policy = {}
    return Result("info_cluster", {"cluster": cluster, "policy": policy}, remarks=dict(remarks))


# -- certificates -------------------------------------------------------------------------------
def _cluster_named(ctx: Context) -> str:
    """How a confirmation names the cluster: its name, and where it is (the sandbox, or its URL)."""
    backend = ctx.backend
    name = backend.get_cluster().get("name") or "?"
    return f"the cluster {name} ({'the local sandbox' if backend.kind == 'sandbox' else backend.target})"


def _checked_bundle(ctx: Context, name: str, cert_path: str, key_path: str | None, cluster: dict, current: dict):
    from .certificates import checks as certs

    try:
        bundle = certs.prepare_files(name, cert_path, key_path, current_key_pem=current.get(f"{name}_key"),
                                     fqdn=certs.fqdn_of(cluster))
    except certs.CertificateProblem as err:
        raise CommandFailed(err.message, error_code=err.error_code) from None
    for note in bundle.notes:
        ctx.note(f"note: {note}")
    if bundle.warnings and ctx.options.strict:
        raise CommandFailed(f"{bundle.warnings[0]} (refused: --strict)", error_code="strict")
    for warning in bundle.warnings:
        ctx.note(f"warning: {warning}")
    return bundle


def _replace(ctx: Context, bundles, files: list[dict]) -> Result:
    from .certificates import checks as certs

    updates = [CertificateUpdate(b.name, b.certificate_pem, b.key_pem) for b in bundles]
    summaries = [certs.summary(b.name, b.leaf) for b in bundles]
    if ctx.options.dry_run:
        body = {"certificates": [{"name": u.name, "certificate": u.certificate, **({"key": "<redacted>"} if u.key else {})}
                                 for u in updates]}
        return Result("certificate_dry_run", {"method": "PUT", "path": "/v1/cluster/certificates", "body": body,
                                              "certificates": summaries})
    if ctx.confirm is not None and not ctx.options.yes:
        names = " and ".join(b.name for b in bundles)
        what = f"{names} certificate{'s' if len(bundles) > 1 else ''}"
        if not ctx.confirm(f"Replace the {what} on every node of {_cluster_named(ctx)}?"):
            raise Cancelled()
    nodes = ctx.backend.replace_certificates(updates)
    seen = _verify_after(ctx, certificates={u.name: u.certificate for u in updates})
    return Result("certificate_set", {"files": files, "nodes": nodes, "certificates": summaries,
                                      **_verification(seen)})


def certificate_set(ctx: Context, args: dict) -> Result:
    name = args["certificate_name"]
    cluster, current = ctx.backend.get_cluster(), ctx.backend.get_certificates()
    bundle = _checked_bundle(ctx, name, args["certificate_file"], args.get("key_file"), cluster, current)
    files = [{"name": name, "what": "certificate", "path": args["certificate_file"]}]
    if args.get("key_file") or bundle.key_pem:  # a key inside the certificate file is sent as the key
        files.append({"name": name, "what": "key", "path": args.get("key_file") or args["certificate_file"]})
    return _replace(ctx, [bundle], files)


def certificate_set_internal(ctx: Context, args: dict) -> Result:
    """The internal form (RS 7.22.2+): both internode pairs in one request; all four files required."""
    cluster, current = ctx.backend.get_cluster(), ctx.backend.get_certificates()
    pairs = [("data_internode_encryption", "dpine"), ("ccs_internode_encryption", "cpine")]
    bundles, files = [], []
    for name, prefix in pairs:
        cert_path, key_path = args[f"{prefix}_certificate_file"], args[f"{prefix}_key_file"]
        bundles.append(_checked_bundle(ctx, name, cert_path, key_path, cluster, current))
        files += [{"name": name, "what": "certificate", "path": cert_path},
                  {"name": name, "what": "key", "path": key_path}]
    return _replace(ctx, bundles, files)


def certificate_show(ctx: Context, args: dict) -> Result:
    from .certificates import checks as certs

    wanted = args.get("certificate_name")
    out = certs.summaries(ctx.backend.get_certificates(), wanted, on_problem=lambda m: ctx.note(f"warning: {m}"))
    if wanted and not out:
        raise CommandFailed(f"the cluster holds no {wanted} certificate", error_code="not_found")
    remarks = {}
    if ctx.backend.kind == "sandbox":
        from .sandbox.cluster import LOOPBACK_NAMES  # what the sandbox adds to the certificates it generates

        for c in out:
            added = [n for n in LOOPBACK_NAMES if n in c["sans"]]
            if added:
                remarks[c["name"]] = (f"{' and '.join(added)}: added by the sandbox so that clients on this machine "
                                      "can verify it (RS names only the cluster)")
    return Result("certificate_show", out, remarks=remarks)


# -- verify tls -----------------------------------------------------------------------------------
VERIFY_SECONDS = 10.0  # a cluster may take a moment to reload a certificate


def _endpoints(ctx: Context, *, fresh: bool = True) -> list:
    """The endpoints to probe; ``fresh=False``: as found earlier in this session (a check after
    a change costs the cluster no extra request per command)."""
    from . import verify

    if fresh or "endpoints" not in ctx.found:
        backend = ctx.backend
        get_bdbs = getattr(backend, "get_bdbs", None)
        ctx.found["endpoints"] = verify.endpoints(backend, backend.get_cluster(), get_bdbs() if get_bdbs else [])
    return ctx.found["endpoints"]


def _trust(ctx: Context):
    from . import verify

    backend = ctx.backend
    ca_cert = ctx.options.ca_cert or getattr(backend, "ca_cert", None) or getattr(backend, "ca_cert_path", None)
    return verify.trust_context(ca_cert, bool(getattr(backend, "insecure", False)))


def verify_tls(ctx: Context, args: dict) -> Result:
    from . import verify

    wanted = args.get("tls_endpoint")
    found = _endpoints(ctx)
    if ctx.backend.kind == "sandbox" and not found:
        raise CommandFailed("the sandbox is not being served, so no endpoint can be checked on the wire: start "
                            f"rladmin-py --sandbox {ctx.backend.path} --serve 127.0.0.1:0 in another terminal",
                            error_code="not_served")
    chosen = [e for e in found if not wanted or e.name == wanted or (wanted == "database" and e.name.startswith("db:"))]
    if not chosen:
        raise CommandFailed(f"the cluster has no {wanted} endpoint to check (no database with TLS enabled?)",
                            error_code="no_endpoint")
    cluster, held, trust = ctx.backend.get_cluster(), ctx.backend.get_certificates(), _trust(ctx)
    rows = [verify.probe(e, cluster, held, trust=trust).as_dict() for e in chosen]
    reachable = [r for r in rows if r["status"] != verify.UNREACHABLE]
    bad = not reachable or any(r["status"] != verify.OK for r in reachable)
    return Result("verify_tls", {"rows": rows, "ok": not bad}, exit_code=1 if bad else 0)


def _planes_touched(changes: dict) -> set:
    from . import verify

    return {plane for plane, fields in verify.PLANES.items() if set(fields) & set(changes)}


def _verification(seen) -> dict:
    """What the check after a change saw, for the command's JSON document (nothing when it did
    not run: --no-verify, a dry run, a script, which checks once at its end)."""
    from dataclasses import asdict

    return {} if seen is None else {"verification": asdict(seen)}


def _verify_after(ctx: Context, *, certificates: dict | None = None, planes: set | None = None,
                  cluster: dict | None = None, quiet: bool = False):
    """After a change: check on the wire that the endpoints it touches follow (new connections,
    for up to 10 s), one line each; returns what it saw (:class:`.verify.Followed`, None when it
    did not check). Never changes the command's result, except with --strict."""
    from . import verify

    if ctx.options.no_verify or not (certificates or planes):
        return
    if not ctx.options.verify_lines:  # a script: one check at its end, for everything it changed
        deferred = ctx.found.setdefault("deferred", {"certificates": {}, "planes": set()})
        deferred["certificates"].update(certificates or {})
        deferred["planes"] |= planes or set()
        return
    try:
        found = _endpoints(ctx, fresh=False)
    except BackendError as err:
        ctx.note(f"warning: not verified on the wire: {err.message}")
        return
    if not found:  # an unserved sandbox: nothing is served, nothing to verify
        return
    if planes and not (isinstance(cluster, dict) and cluster):
        cluster = ctx.backend.get_cluster()
    outcome = verify.followed(found, certificates=certificates, planes=planes, cluster=cluster,
                              seconds=VERIFY_SECONDS)
    if not quiet:
        for line in outcome.verified:
            ctx.note(f"verified: {line}")
        for line in outcome.not_reachable:
            ctx.note(f"note: {line}")
    for failure in outcome.failures:
        ctx.note(f"warning: {failure}")
    if outcome.failures and ctx.options.strict:
        raise CommandFailed(f"the change was applied but is not served yet ({outcome.failures[0]}; refused: "
                            "--strict)", error_code="not_verified")
    return outcome


def verify_deferred(ctx: Context) -> None:
    """At the end of a script: the check on the wire of everything it changed (warnings only)."""
    deferred = ctx.found.pop("deferred", None)
    if deferred:
        ctx.options.verify_lines, shown = True, ctx.options.verify_lines
        try:
            _verify_after(ctx, certificates=deferred["certificates"], planes=deferred["planes"], quiet=True)
        finally:
            ctx.options.verify_lines = shown


# -- sandbox-only and local commands ------------------------------------------------------------


def sandbox_reset(ctx: Context, args: dict) -> Result:
    backend = ctx.sandbox("sandbox reset")
    if ctx.confirm is not None and not ctx.options.yes:
        if not ctx.confirm(f"Recreate the sandbox at {backend.path} from scratch (new certificates, password and settings)?"):
            raise Cancelled()
    state = backend.reset()
    if getattr(backend, "set_aside", None):
        ctx.note(f"note: the unreadable state file was kept as {backend.set_aside} (it may hold keys: remove it "
                 "when you no longer need it)")
    return Result("sandbox_reset", {"path": backend.path, "ca_cert": backend.ca_cert_path,
                                    "cluster": state["cluster"]["name"]})


def sandbox_node(ctx: Context, args: dict) -> Result:
    backend = ctx.sandbox("sandbox node")
    node = backend.set_node_state(args["node"], args["node_state"] == "up")
    return Result("sandbox_node", {"uid": node["uid"], "status": node["status"]})


def _practice_fqdn(ctx: Context) -> str:
    """The sandbox cluster's name (its FQDN); the default name when the target is not a sandbox."""
    from .certificates import practice

    if ctx.live_target:  # never open a live cluster (and prompt for a password) for local files
        return practice.DEFAULT_FQDN
    try:
        backend = ctx.backend
        if getattr(backend, "kind", None) == "sandbox":
            return backend.get_cluster().get("name") or practice.DEFAULT_FQDN
    except BackendError:
        pass
    return practice.DEFAULT_FQDN


def _local_sandbox(ctx: Context):
    """The sandbox backend a local command works beside, or None (a live target is never opened)."""
    if ctx.live_target:
        return None
    try:
        backend = ctx.backend
    except BackendError:
        return None
    return backend if getattr(backend, "kind", None) == "sandbox" else None


def _practice_sandbox(ctx: Context) -> str | None:
    """The sandbox state file to name in README.txt's commands (None: the default one, or not a sandbox)."""
    backend = _local_sandbox(ctx)
    path = getattr(backend, "path", None)
    if not path:
        return None
    path = os.path.abspath(path)
    return None if path == os.path.abspath(paths.sandbox_state()) else path


def _ocsp_registrar(ctx: Context):
    """On a sandbox, practice CAs are registered with its OCSP responder (served by --serve)."""
    backend = _local_sandbox(ctx)
    if backend is None:
        return None
    from .sandbox import ocsp_responder

    return ocsp_responder.registrar(backend)


def sandbox_make_certs(ctx: Context, args: dict) -> Result:
    from .certificates import practice

    try:
        written = practice.write_practice_certs(args["directory"], args.get("fqdn") or _practice_fqdn(ctx),
                                                sandbox=_practice_sandbox(ctx), register_ocsp=_ocsp_registrar(ctx))
    except OSError as err:
        raise CommandFailed(f"{args['directory']}: cannot write practice certificates: {err.strerror}") from None
    return Result("make_certs", written)


# -- shell commands -----------------------------------------------------------------------------
def help_(ctx: Context, args: dict) -> Result:
    from .language import helptext

    if "words" not in args:  # ``?``: every form, with its usage
        return Result("help", helptext.form_list())
    words = args["words"].split()
    try:
        return Result("help", helptext.help_for(words))
    except LookupError as err:
        raise CommandFailed(str(err), error_code="no_such_command") from None


def exit_(ctx: Context, args: dict) -> Result:
    return Result("exit")


HANDLERS: dict[str, Callable[[Context, dict], Result]] = {
    "cluster_config": cluster_config,
    "info_cluster": info_cluster,
    "info_node": info_node,
    "info_db": info_db,
    "status": status,
    "ocsp_config_show": ocsp_config_show,
    "ocsp_config_set": ocsp_config_set,
    "ocsp_certificate_compatible": ocsp_certificate_compatible,
    "ocsp_status": ocsp_status,
    "ocsp_test": ocsp_test,
    "certificate_rotate": certificate_rotate,
    "certificate_delete": certificate_delete,
    "certificate_set": certificate_set,
    "certificate_set_internal": certificate_set_internal,
    "certificate_show": certificate_show,
    "sandbox_reset": sandbox_reset,
    "sandbox_node": sandbox_node,
    "sandbox_make_certs": sandbox_make_certs,
    "verify_tls": verify_tls,
    "help": help_,
    "exit": exit_,
}


def _lab(name: str) -> Callable[[Context, dict], Result]:
    """``lab <name>``: the training labs' handlers, imported only when a lab command runs."""
    def handler(ctx: Context, args: dict) -> Result:
        from .labs import commands as lab_commands

        return getattr(lab_commands, name)(ctx, args)

    handler.__name__ = f"lab_{name}"
    return handler


HANDLERS.update({f"lab_{name}": _lab(name) for name in ("list", "start", "status", "hint", "check", "stop")})


def run(ctx: Context, command) -> Result:
    """Dispatch a parsed :class:`~rladmin_py.language.syntax.Command` to its handler."""
    result = HANDLERS[command.handler](ctx, command.args)
    if command.args.get("json"):
        result.json = True
    return result
