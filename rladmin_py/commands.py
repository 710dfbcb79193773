"""One plain function per command: (context, parsed arguments) -> Result.

Handlers compute; :mod:`rladmin_py.render` turns a Result into rladmin-style text or JSON.
The grammar names the handler of each form; :data:`HANDLERS` maps those names to functions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from . import cluster_settings, paths
from .backends import BackendError, CertificateUpdate, NotSupported
from .context import Context


class CommandFailed(BackendError):
    """A command refused on this machine, before anything was sent (exit 1)."""


@dataclass
class Result:
    """What a command produced. ``kind`` picks the renderer; ``data`` is JSON-able; ``remarks``
    are words the text rendering adds beside a field (never part of the JSON)."""

    kind: str
    data: Any = None
    json: bool = False  # the command's own --json (as in `cluster certificate show --json`)
    remarks: dict = field(default_factory=dict)


#: What the sandbox cannot do of a setting it stores (said wherever the setting is shown).
SANDBOX_REMARKS = {"data_cipher_suites_tls_1_3": "stored, not enforced by the sandbox: Python's ssl cannot restrict "
                                                 "TLS 1.3 suites"}
#: Names the sandbox adds to the certificates it generates, so that clients here can verify them.
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


# -- cluster config / info ----------------------------------------------------------------------
def cluster_config(ctx: Context, args: dict) -> Result:
    changes = cluster_settings.rest_changes(args["params"])
    _check_ciphers(ctx, changes)
    if ctx.options.dry_run:
        return Result("dry_run", {"method": "PUT", "path": "/v1/cluster", "body": changes})
    ctx.backend.update_cluster(changes)
    return Result("cluster_config", {"changed": changes})


def _check_ciphers(ctx: Context, changes: dict) -> None:
    """Refuse cipher settings the cluster could not use before anything is sent (the current
    minimum versions and lists decide what a change leaves usable)."""
    from . import ciphers

    touched = set(changes) & (set(ciphers.PLANES) | set(ciphers.PLANES.values()) | {"data_cipher_suites_tls_1_3"})
    if not touched or (ctx.backend.kind == "sandbox" and not ctx.options.dry_run):
        return  # the sandbox refuses them itself, with the same checker
    problems = ciphers.problems(ctx.backend.get_cluster() if ciphers.needs_cluster(changes) else {}, changes)
    if problems:
        raise CommandFailed(f"{problems[0]}; nothing was changed", error_code="invalid_ciphers")


def info_cluster(ctx: Context, args: dict) -> Result:
    remarks = SANDBOX_REMARKS if ctx.backend.kind == "sandbox" else {}
    return Result("info_cluster", ctx.backend.get_cluster(), remarks=dict(remarks))


# -- certificates -------------------------------------------------------------------------------
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
        names = ", ".join(b.name for b in bundles)
        if not ctx.confirm(f"Replace the {names} certificate on every node of {ctx.backend.target}?"):
            raise CommandFailed("cancelled: nothing was changed", error_code="cancelled")
    nodes = ctx.backend.replace_certificates(updates)
    return Result("certificate_set", {"files": files, "nodes": nodes, "certificates": summaries})


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
        for c in out:
            added = [n for n in LOOPBACK_NAMES if n in c["sans"]]
            if added:
                remarks[c["name"]] = (f"{' and '.join(added)}: added by the sandbox so that clients on this machine "
                                      "can verify it (RS names only the cluster)")
    return Result("certificate_show", out, remarks=remarks)


# -- sandbox-only and local commands ------------------------------------------------------------
def _sandbox(ctx: Context, what: str):
    backend = ctx.backend
    if backend.kind != "sandbox":
        raise NotSupported(f"'{what}' works only on the local sandbox, not on {backend.target}",
                           error_code="sandbox_only")
    return backend


def sandbox_reset(ctx: Context, args: dict) -> Result:
    backend = _sandbox(ctx, "sandbox reset")
    if ctx.confirm is not None and not ctx.options.yes:
        if not ctx.confirm(f"Recreate the sandbox at {backend.path} from scratch (new certificates, password and settings)?"):
            raise CommandFailed("cancelled: nothing was changed", error_code="cancelled")
    state = backend.reset()
    return Result("sandbox_reset", {"path": backend.path, "ca_cert": backend.ca_cert_path,
                                    "cluster": state["cluster"]["name"]})


def sandbox_node(ctx: Context, args: dict) -> Result:
    backend = _sandbox(ctx, "sandbox node")
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


def _practice_sandbox(ctx: Context) -> str | None:
    """The sandbox state file to name in README.txt's commands (None: the default one, or not a sandbox)."""
    if ctx.live_target:
        return None
    try:
        backend = ctx.backend
    except BackendError:
        return None
    path = getattr(backend, "path", None)
    if getattr(backend, "kind", None) != "sandbox" or not path:
        return None
    path = os.path.abspath(path)
    return None if path == os.path.abspath(paths.sandbox_state()) else path


def sandbox_make_certs(ctx: Context, args: dict) -> Result:
    from .certificates import practice

    try:
        written = practice.write_practice_certs(args["directory"], args.get("fqdn") or _practice_fqdn(ctx),
                                                sandbox=_practice_sandbox(ctx))
    except OSError as err:
        raise CommandFailed(f"{args['directory']}: cannot write practice certificates: {err.strerror}") from None
    return Result("make_certs", written)


# -- shell commands -----------------------------------------------------------------------------
def help_(ctx: Context, args: dict) -> Result:
    from .language import helptext

    words = args.get("words", "").split()
    try:
        return Result("help", helptext.help_for(words))
    except LookupError as err:
        raise CommandFailed(str(err), error_code="no_such_command") from None


def exit_(ctx: Context, args: dict) -> Result:
    return Result("exit")


HANDLERS: dict[str, Callable[[Context, dict], Result]] = {
    "cluster_config": cluster_config,
    "info_cluster": info_cluster,
    "certificate_set": certificate_set,
    "certificate_set_internal": certificate_set_internal,
    "certificate_show": certificate_show,
    "sandbox_reset": sandbox_reset,
    "sandbox_node": sandbox_node,
    "sandbox_make_certs": sandbox_make_certs,
    "help": help_,
    "exit": exit_,
}


def run(ctx: Context, command) -> Result:
    """Dispatch a parsed :class:`~rladmin_py.language.syntax.Command` to its handler."""
    result = HANDLERS[command.handler](ctx, command.args)
    if command.args.get("json"):
        result.json = True
    return result
