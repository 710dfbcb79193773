"""What the Ansible collection ``redis.rs_tls`` runs: the shell's own code, as tasks.

The collection (``rladmin_py/ansible_collections/redis/rs_tls``) holds only the Ansible side
(argument specs, documentation, ``AnsibleModule``); every task here is made of what the shell
uses: the connection settings (:mod:`.backends.connection`: flags > environment > profile), the
REST backend (strict answers, read-backs), the certificate pre-flight checks, the grammar (a
``tls_settings`` dict is parsed as the ``cluster config`` line it stands for) and the probes of
:mod:`.verify`. This module never imports Ansible: the shell can be installed without it.

``rladmin-py-ansible`` (a console script) prints the line that makes Ansible find the collection.

Each task function takes the module's parameters and returns the result dict (``changed``,
``diff``, ``warnings``, data), or raises :class:`TaskFailed` with the shell's message.
"""
from __future__ import annotations

import os
import shlex
import sys
from contextlib import contextmanager
from dataclasses import asdict
from types import SimpleNamespace

COLLECTION = ("redis", "rs_tls")
#: What diff mode shows of a certificate (never key material).
DIFF_FIELDS = ("subject", "sans", "issuer", "not_after", "sha256")


class TaskFailed(Exception):
    """The task fails: ``message`` is the shell's one line; ``data`` goes into the result."""

    def __init__(self, message: str, **data):
        super().__init__(message)
        self.message = message
        self.data = data


# -- the collection on disk ------------------------------------------------------------------------
def collections_path() -> str:
    """The directory to put on Ansible's collections path (it holds ``ansible_collections/``)."""
    return os.path.dirname(os.path.abspath(__file__))


def collection_dir() -> str:
    return os.path.join(collections_path(), "ansible_collections", *COLLECTION)


def main(argv: list[str] | None = None) -> int:
    """``rladmin-py-ansible``: the line that makes Ansible find the collection."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="rladmin-py-ansible",
        description="Print the line that makes Ansible find the redis.rs_tls collection shipped with rladmin-py. "
                    "Default: a shell line (eval \"$(rladmin-py-ansible)\").")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--path", action="store_true", help="only the directory (for ANSIBLE_COLLECTIONS_PATH)")
    how.add_argument("--cfg", action="store_true", help="the ansible.cfg lines ([defaults] collections_path = ...)")
    args = parser.parse_args(argv)
    where = collections_path()
    if not os.path.isdir(collection_dir()):
        sys.stderr.write(f"error: the collection is missing from {collection_dir()} (reinstall rladmin-py)\n")
        return 1
    if args.path:
        print(where)
    elif args.cfg:
        print(f"[defaults]\ncollections_path = {where}:~/.ansible/collections:/usr/share/ansible/collections")
    else:
        quoted = shlex.quote(where)
        # Ansible's own default path stays after ours (setting the variable replaces it)
        print(f"export ANSIBLE_COLLECTIONS_PATH={quoted}"
              ':"${ANSIBLE_COLLECTIONS_PATH:-$HOME/.ansible/collections:/usr/share/ansible/collections}"')
    return 0


def preload() -> None:
    """Import what every task needs (the REST backend and its HTTP client, the certificate checks,
    the commands, the probes): the collection's action plugins call this in Ansible's controller
    process, once, so that the worker processes it forks for each host have it imported already.
    Nothing is read or connected here; OpenSSL initialises itself once (with the first TLS
    context a process makes: 2 ms that each worker would spend again)."""
    import ssl

    from . import commands, verify  # noqa: F401
    from .backends import connection, rest  # noqa: F401
    from .certificates import checks  # noqa: F401

    rest.preload()
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


# -- a session: the backend and a Context, as the shell builds them ---------------------------------------
class Session:
    """One task's connection: the REST backend, a command Context on it, and what it said."""

    def __init__(self, params: dict, *, dry_run: bool = False, strict: bool = False):
        from .backends import connection
        from .context import Context, Options

        self.warnings: list[str] = []
        self.notes: list[str] = []
        args = SimpleNamespace(cluster=params.get("url"), user=params.get("user"), ca_cert=params.get("ca_cert"),
                               insecure=params.get("validate_certs") is False, profile=params.get("profile"),
                               timeout=params.get("timeout"), sandbox=None, debug=False)
        env = dict(os.environ)
        if params.get("password"):
            env["REDIS_ENTERPRISE_PASSWORD"] = params["password"]  # the task's password wins, as a flag would
        if not connection.wants_live_cluster(args):
            raise TaskFailed("no cluster named: give url (https://HOST:9443) or profile")
        # never a prompt: a task has no terminal; a password inside the URL is refused
        target = connection.resolve(args, environ=env, prompt=None, confirm=lambda question: None)
        from .backends.rest import RestBackend

        self.backend = RestBackend(target.url, target.user, target.password, ca_cert=target.ca_cert,
                                   insecure=target.insecure, timeout=target.timeout, note=self.note)
        self.ctx = Context(open_backend=lambda: self.backend,
                           options=Options(yes=True, dry_run=dry_run, strict=strict, no_verify=True,
                                           ca_cert=target.ca_cert),
                           live_target=True, note=self.note)

    def note(self, text: str) -> None:
        text = str(text).rstrip("\n")
        if text.startswith("warning: "):
            self.warnings.append(text[len("warning: "):])
        else:
            self.notes.append(text[len("note: "):] if text.startswith("note: ") else text)

    def close(self) -> None:
        self.ctx.close()

    def said(self) -> dict:
        out = {"warnings": list(self.warnings)}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


#: How the shell's messages name its flags, and the task options that stand for them.
FLAG_OPTIONS = (("--ca-cert FILE", "ca_cert"), ("-k/--insecure", "validate_certs: false"), ("--strict", "strict: true"),
                ("--cluster URL", "url"), ("--user USER", "user"))


def for_tasks(message: str) -> str:
    """The shell's message, naming the task's options where it names the shell's flags."""
    for flag, option in FLAG_OPTIONS:
        message = message.replace(flag, option)
    return message


@contextmanager
def session(params: dict, **kw):
    """A :class:`Session`; every error of the shell's becomes :class:`TaskFailed` with its message."""
    from .backends import AuthenticationFailed, BackendError, ChangeInterrupted, PartialUpdate
    from .certificates.pem import CertificateProblem

    s = None
    try:
        s = Session(params, **kw)
        yield s
    except TaskFailed as err:
        if s is not None:
            for key, value in s.said().items():
                err.data.setdefault(key, value)
        raise
    except AuthenticationFailed as err:
        raise TaskFailed(err.message) from None  # that, and nothing else
    except PartialUpdate as err:
        message = err.message.replace("the command is safe to retry", "the task is safe to retry")
        if "safe to retry" not in message:
            message += "; the task is safe to retry"
        raise TaskFailed(message, error_code=err.error_code, status=err.status, retry_safe=True,
                         **(s.said() if s else {})) from None
    except BackendError as err:
        data = {"error_code": err.error_code} if err.error_code else {}
        if err.status:
            data["status"] = err.status
        if getattr(err, "maybe_applied", False):
            data["maybe_applied"] = True
        raise TaskFailed(err.message, **data, **(s.said() if s else {})) from None
    except CertificateProblem as err:
        raise TaskFailed(err.message, error_code=err.error_code, **(s.said() if s else {})) from None
    except ChangeInterrupted as err:
        raise TaskFailed(err.message, maybe_applied=True) from None
    finally:
        if s is not None:
            s.close()


# -- on the wire after a change (the probes of verify.py) ----------------------------------------------------
def _wait_seconds(params: dict) -> float:
    from . import commands

    seconds = params.get("verify_timeout")
    return float(seconds) if seconds else commands.VERIFY_SECONDS


def _endpoints(s: Session, cluster: dict | None = None) -> list:
    """The cluster's endpoints; ``cluster``: the cluster object already read (a certificate change
    leaves its name and ports as they were), else it is read."""
    from . import verify

    backend = s.backend
    return verify.endpoints(backend, cluster if cluster is not None else backend.get_cluster(), backend.get_bdbs())


def verify_change(s: Session, seconds: float, *, certificates: dict | None = None, planes: set | None = None,
                  cluster: dict | None = None) -> dict:
    """Whether the endpoints follow the change (verify.followed, the shell's check after a change);
    ``cluster``: the cluster object already read (a certificate change leaves its name and ports)."""
    from . import verify

    cluster = cluster if cluster is not None else s.backend.get_cluster()
    outcome = verify.followed(_endpoints(s, cluster), certificates=certificates, planes=planes, cluster=cluster,
                              seconds=seconds)
    return asdict(outcome)


def _after_change(s: Session, outcome: dict, result: dict, what: str) -> None:
    """Put the verification into the result; a failure fails the task (the change is in place)."""
    result["verification"] = {"verified": outcome["verified"], "not_reachable": outcome["not_reachable"]}
    s.warnings.extend(outcome["not_reachable"])
    if outcome["failures"]:
        raise TaskFailed(f"{what} was applied but is not served yet: {outcome['failures'][0]} (run the task again, "
                         "or check with the tls_verify module)", changed=True, verification=dict(
                             result["verification"], failures=outcome["failures"]),
                         **{k: v for k, v in result.items() if k not in ("changed", "verification")})


# -- certificate -----------------------------------------------------------------------------------------------
def _diff_view(summary: dict | None) -> dict:
    return {k: summary[k] for k in DIFF_FIELDS} if summary else {}


def certificate(params: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    """Replace one certificate when the cluster's differs (by SHA-256 of the leaf)."""
    name = params["name"]
    try:
        return _certificate(name, params, check_mode=check_mode, diff=diff)
    except TaskFailed as err:
        if err.data.get("retry_safe"):  # the cluster holds the new certificate already: a plain run sees no change
            err.message += ("; once every node is up, run it with force: true to send it again to the nodes that "
                            "missed it")
        raise


def _certificate(name: str, params: dict, *, check_mode: bool, diff: bool) -> dict:
    from . import commands
    from .backends import CertificateUpdate
    from .certificates import checks

    with session(params, dry_run=check_mode, strict=bool(params.get("strict"))) as s:
        backend = s.backend
        cluster, current = backend.get_cluster(), backend.get_certificates()
        try:
            bundle = commands._checked_bundle(s.ctx, name, params["certificate_file"], params.get("key_file"),
                                              cluster, current)
        except commands.CommandFailed as err:
            raise TaskFailed(err.message, error_code=err.error_code) from None
        new = checks.summary(name, bundle.leaf)
        held = checks.summaries(current, name, on_problem=lambda m: s.note(f"warning: {m}"))
        old = held[0] if held else None
        changed = old is None or old["sha256"] != new["sha256"] or bool(params.get("force"))
        result = {"changed": changed, "certificate": new, "previous": old}
        if diff and changed:
            result["diff"] = {"before": _diff_view(old), "after": _diff_view(new),
                              "before_header": f"{name} certificate ({backend.url})",
                              "after_header": f"{name} certificate ({params['certificate_file']})"}
        if not changed:
            result["msg"] = f"the cluster already holds this {name} certificate (SHA-256 {new['sha256']})"
            result.update(s.said())
            return result
        if check_mode:
            result["msg"] = (f"would replace the {name} certificate (SHA-256 {old['sha256'] if old else 'none'} -> "
                             f"{new['sha256']}); nothing was sent")
            result.update(s.said())
            return result
        result["nodes"] = backend.replace_certificates([CertificateUpdate(name, bundle.certificate_pem,
                                                                          bundle.key_pem)])
        result["msg"] = f"replaced the {name} certificate on every node"
        if params.get("verify", True):
            _after_change(s, verify_change(s, _wait_seconds(params), certificates={name: bundle.certificate_pem},
                                            cluster=cluster),
                          result, f"the new {name} certificate")
        result.update(s.said())
        return result


# -- tls_settings --------------------------------------------------------------------------------------------------
def _value_words(p, value) -> list[str]:
    """The words of a ``cluster config`` value for a YAML value (1.3, true, a list, a dict)."""
    if isinstance(value, bool):
        return ["enabled" if value else "disabled"]
    if isinstance(value, (list, tuple)):
        if p is not None and p.type in ("cipher_string", "cipher_list"):
            return [":".join(str(v) for v in value)]
        return [str(v) for v in value]
    if value is None:
        return [""]
    return [str(value)]


def _compound_words(p, value) -> list[tuple[str, str]]:
    """(kind, word) of a value of several parts (``services``, ``auditing``) given as a dict."""
    if not isinstance(value, dict):
        raise TaskFailed(f"settings: {p.name} must be a dict of {', '.join(el.dest for el in p.values)}")
    unknown = sorted(set(map(str, value)) - {el.dest for el in p.values})
    if unknown:
        raise TaskFailed(f"settings: {p.name} takes {', '.join(el.dest for el in p.values)}, not {', '.join(unknown)}")
    words = []
    for el in p.elements:
        if el.kind == "keyword":
            words.append(("keyword", el.text))
        elif el.kind == "value":
            words += [("value", w) for w in _value_words(None, value.get(el.dest, ""))]
    return words


def _quoted(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_settings(settings) -> dict:
    """The ``cluster config`` parameters a dict names, typed and range-checked by the grammar
    (the shell's parser, so the same messages): ``{parameter: value as the parser gives it}``."""
    from .language import grammar as gm
    from .language import parser
    from .language.syntax import CommandSyntaxError
    from .terminal import escape

    if not isinstance(settings, dict) or not settings:
        raise TaskFailed("settings: give at least one cluster config parameter (a dict: parameter: value)")
    table = gm.load().type("cluster_config").params
    words = ["cluster", "config"]
    for name, value in settings.items():
        name = str(name)
        p = table.get(name)
        if not name.isidentifier():
            raise TaskFailed(f"settings: unknown cluster config parameter {escape(name)!r}")
        words.append(name)
        if p is not None and p.compound:  # keywords as they are, values quoted
            words += [w if kind == "keyword" else _quoted(w) for kind, w in _compound_words(p, value)]
        else:
            words += [_quoted(w) for w in _value_words(p, value)]
    line = " ".join(words)
    try:
        command = parser.parse(line)
    except CommandSyntaxError as err:
        raise TaskFailed(f"settings: {err.message}") from None
    if command.handler != "cluster_config":  # cannot happen: the line starts with cluster config
        raise TaskFailed("settings: not a cluster config command")
    return dict(command.args["params"])


def _current_values(s: Session, routes: dict) -> dict:
    """{route: what the cluster holds}, read only for the routes the settings touch."""
    from . import cluster_settings as cs

    out = {}
    if cs.CLUSTER in routes:
        out[cs.CLUSTER] = s.backend.get_cluster()
    if cs.SERVICES in routes:
        out[cs.SERVICES] = s.backend.get_services()
    if cs.AUDITING in routes:
        out[cs.AUDITING] = s.backend.get_auditing()
    return out


def _shown(value):
    from . import cluster_settings as cs

    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    return cs.from_rest(value)


def tls_settings(params: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    """Set the ``cluster config`` parameters whose current value differs."""
    from . import cluster_settings as cs
    from . import commands
    from .ciphers import PLANES

    wanted = parse_settings(params.get("settings"))
    per_param = {name: cs.split_changes({name: value}) for name, value in wanted.items()}
    with session(params, dry_run=check_mode) as s:
        held = _current_values(s, {route for routes in per_param.values() for route in routes})
        before, after, changing = {}, {}, {}
        for name, routes in per_param.items():
            (route, body), = routes.items()
            current = held[route]
            if route == cs.CLUSTER:
                (field, sent), = body.items()
                now = current.get(field)
            elif route == cs.SERVICES:
                (service, sent), = body.items()
                now = {"operating_mode": (current.get(service) or {}).get("operating_mode")} \
                    if isinstance(current.get(service), dict) else None
            else:
                sent, now = body, {k: current.get(k) for k in body}
            if _shown(sent) != _shown(now):
                changing[name] = wanted[name]
                before[name], after[name] = _shown(now), _shown(sent)
        result = {"changed": bool(changing), "changes": {n: {"before": before[n], "after": after[n]} for n in changing}}
        if diff and changing:
            result["diff"] = {"before": before, "after": after, "before_header": f"cluster config ({s.backend.url})",
                              "after_header": "cluster config (settings)"}
        if not changing:
            result["msg"] = "every parameter already has the value given"
            result.update(s.said())
            return result
        try:
            outcome = commands.cluster_config(s.ctx, {"params": changing})
        except commands.CommandFailed as err:
            raise TaskFailed(err.message, error_code=err.error_code) from None
        if check_mode:
            data = outcome.data
            result["requests"] = data.get("requests", [data]) if isinstance(data, dict) else []
            result["msg"] = f"would set {', '.join(changing)}; nothing was sent"
            result.update(s.said())
            return result
        result["msg"] = f"set {', '.join(changing)}"
        fields = set(cs.rest_changes(changing))
        planes = {plane for plane, plane_fields in PLANES.items() if set(plane_fields) & fields}
        if params.get("verify", True) and planes:
            _after_change(s, verify_change(s, _wait_seconds(params), planes=planes), result,
                          f"the change of {', '.join(changing)}")
        result.update(s.said())
        return result


# -- certificate_info ----------------------------------------------------------------------------------------
def certificate_info(params: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    """Facts for every certificate the cluster holds (no key material)."""
    from . import commands

    days = params.get("expiring_within_days")
    days = 30 if days is None else int(days)
    with session(params) as s:
        try:
            shown = commands.certificate_show(s.ctx, {"certificate_name": params.get("name")})
        except commands.CommandFailed as err:
            raise TaskFailed(err.message, error_code=err.error_code) from None
        cluster = s.backend.get_cluster()
        certificates = list(shown.data)
        expiring = [c["name"] for c in certificates if c["days_left"] <= days]
        by_name = {c["name"]: c for c in certificates}
        return {"changed": False, "cluster": cluster.get("name"), "certificates": certificates, "expiring": expiring,
                "ansible_facts": {"rs_tls_certificates": by_name, "rs_tls_expiring": expiring,
                                  "rs_tls_cluster_name": cluster.get("name")},
                **s.said()}


# -- tls_verify ---------------------------------------------------------------------------------------------------
def tls_verify(params: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    """``verify tls``: every endpoint's row; fails when a row is MISMATCH (or nothing answers)."""
    from . import commands, verify

    with session(params) as s:
        try:
            shown = commands.verify_tls(s.ctx, {"tls_endpoint": params.get("endpoint")})
        except commands.CommandFailed as err:
            raise TaskFailed(err.message, error_code=err.error_code) from None
        rows = shown.data["rows"]
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        result = {"changed": False, "rows": rows, "ok": shown.data["ok"], "counts": counts, **s.said()}
        for row in rows:
            if row["status"] == verify.UNREACHABLE:
                result["warnings"].append(f"{row['endpoint']} ({row['address']}): {'; '.join(row['problems'])}")
        bad = [r for r in rows if r["status"] == verify.MISMATCH]
        if bad:
            first = bad[0]
            raise TaskFailed(f"verify tls: {len(bad)} MISMATCH: {first['endpoint']} ({first['address']}) "
                             f"{first['problems'][0] if first['problems'] else 'does not match'}",
                             **{k: v for k, v in result.items() if k != "changed"})
        if not any(r["status"] != verify.UNREACHABLE for r in rows):
            raise TaskFailed("verify tls: no endpoint is reachable from here: nothing was verified",
                             **{k: v for k, v in result.items() if k != "changed"})
        return result


TASKS = {"certificate": certificate, "tls_settings": tls_settings, "certificate_info": certificate_info,
         "tls_verify": tls_verify}


def run_task(task: str, params: dict, *, check_mode: bool = False, diff: bool = False) -> tuple[bool, dict]:
    """(failed, result) of one task; the result holds ``msg`` when it failed."""
    try:
        return False, TASKS[task](params, check_mode=check_mode, diff=diff)
    except TaskFailed as err:
        data = dict(err.data)
        data.setdefault("warnings", [])
        data["msg"] = for_tasks(err.message)
        return True, data
