"""Setting a lab up: the certificates and files it makes and the changes it makes to the sandbox.

Setup steps (``"do"``), applied in order, all in one batch of the sandbox store (one write):

``ca``           a root and an intermediate CA: ``{"id", "root", "intermediate", "root_file",
                 "intermediate_file", "ocsp": bool}``; with ``ocsp`` the intermediate is
                 registered with the sandbox's OCSP responder and its leaves name it
``certificate``  a leaf: ``{"id", "ca", "names", "days", "expires_in_days", "revoked",
                 "chain_file", "key_file", "pfx_converted": {"file", "order"}, "install"}``;
                 ``chain_file`` holds leaf + intermediate, ``pfx_converted`` what ``openssl
                 pkcs12 -nodes`` writes (Bag Attributes, the certificates in ``order`` of
                 ``leaf``/``intermediate``/``root``, the key last); ``install``: put it on the
                 cluster under that certificate name (as ``cluster certificate set`` does)
``cluster``      ``{"set": {field: value}}``: ``PUT /v1/cluster``
``ocsp``         ``{"set": {field: value}}``: ``PUT /v1/ocsp``
``database``     ``{"set": {"tls_mode": ...}}``: ``PUT /v1/bdbs/1``
``node``         ``{"node": N, "status": "down" | "up"}``

Every lab starts with every node up (a node left down by another lab would refuse the setup's
certificate updates). Every key made here is a throwaway.
"""
from __future__ import annotations

import datetime as dt
import os

from . import catalog

ORGANIZATION = "rladmin-py lab (throwaway)"


def values(backend, directory: str) -> dict:
    """What a lab's texts and steps may name: ``{cluster}``, ``{directory}``, ``{sandbox}``."""
    return {"cluster": backend.get_cluster().get("name", ""), "directory": directory, "sandbox": backend.path}


def directory_for(backend, name: str) -> str:
    """Where a lab's files go: ``labs/<name>`` beside the sandbox state file (0700)."""
    return os.path.join(os.path.dirname(os.path.abspath(backend.path)), "labs", name)


def _settings(changes: dict) -> str:
    from ..cluster_settings import from_rest

    return ", ".join(f"{k} {from_rest(v)}" for k, v in changes.items())


def describe(lab: catalog.Lab, backend) -> list[str]:
    """What starting ``lab`` changes on the sandbox, one line each (said before asking)."""
    named = values(backend, directory_for(backend, lab.name))
    out = []
    down = [n["uid"] for n in backend.get_nodes() if n.get("status") != "active"]
    if down:
        out.append(f"brings node{'s' if len(down) > 1 else ''} {', '.join(map(str, down))} up")
    cas = {s["id"]: s for s in lab.setup if s["do"] == "ca"}
    for step in lab.setup:
        kind = step["do"]
        if kind == "certificate" and step.get("install"):
            ca = cas[step["ca"]]
            when = (f"expires in {step['expires_in_days']} days" if step.get("expires_in_days") is not None
                    else f"valid {step.get('days', 365)} days")
            revoked = ", revoked by its CA" if step.get("revoked") else ""
            out.append(f"replaces the {step['install']} certificate with one issued by {ca['intermediate']!r} "
                       f"({when}{revoked})")
        elif kind == "cluster":
            out.append(f"sets {_settings(step['set'])}")
        elif kind == "ocsp":
            out.append(f"sets the OCSP {_settings(step['set'])}")
        elif kind == "database":
            out.append(f"sets db:1 {_settings(step['set'])}")
        elif kind == "node":
            out.append(f"marks node {step['node']} {step['status']}")
        elif kind == "ca" and step.get("ocsp"):
            out.append(f"registers {step['intermediate']!r} with the sandbox's OCSP responder")
    out.append(f"writes the lab's files into {named['directory']} (new keys each time)")
    return [catalog.fill(line, named) for line in out]


def apply(lab: catalog.Lab, backend) -> dict:
    """Set ``lab`` up on ``backend`` (a SandboxBackend); returns {"directory", "files": [...]}."""
    from ..backends import CertificateUpdate
    from ..certificates import making, practice
    from ..safefiles import make_private_dirs, write_secret_file
    from ..sandbox import ocsp_responder

    directory = directory_for(backend, lab.name)
    make_private_dirs(directory)
    now = dt.datetime.now(dt.timezone.utc)
    files: list[dict] = []

    def write(name: str, text: str, purpose: str, private: bool = False) -> None:
        write_secret_file(os.path.join(directory, name), text, mode=0o600 if private else 0o644)
        files.append({"file": name, "purpose": purpose})

    with backend.batch():
        named = values(backend, directory)
        for node in backend.get_nodes():
            if node.get("status") != "active":
                backend.set_node_state(node["uid"], True)
        cas: dict[str, dict] = {}
        for step in lab.setup:
            kind = step["do"]
            if kind == "ca":
                root = making.make_ca(step["root"], org=ORGANIZATION)
                inter = making.make_ca(step["intermediate"], issuer=root, org=ORGANIZATION, path_length=0)
                entry = {"root": root, "intermediate": inter, "url": None, "issued": [], "revoked": {}}
                if step.get("ocsp"):
                    with backend.store.update() as state:
                        entry["url"] = ocsp_responder.register_issuer(state, inter.cert_pem, inter.key_pem, {}, [])
                cas[step["id"]] = entry
                write(step["root_file"], root.cert_pem, f"{step['root']}: the root CA clients should trust")
                if step.get("intermediate_file"):
                    write(step["intermediate_file"], inter.cert_pem, f"{step['intermediate']}: the intermediate CA")
            elif kind == "certificate":
                ca = cas[step["ca"]]
                days = int(step.get("days", 365))
                start = None
                if step.get("expires_in_days") is not None:
                    start = now - dt.timedelta(days=days - int(step["expires_in_days"]), minutes=5)
                names = [catalog.fill(n, named) for n in step["names"]]
                issued = making.make_leaf(names[0], names, ca["intermediate"], days=days, not_before=start,
                                          org=ORGANIZATION, ocsp_url=ca["url"])
                if ca["url"]:
                    serial = str(issued.cert.serial_number)
                    ca["issued"].append(serial)
                    if step.get("revoked"):
                        ca["revoked"][serial] = now.replace(microsecond=0).isoformat()
                chain = issued.cert_pem + ca["intermediate"].cert_pem
                what = step.get("purpose") or f"certificate for {names[0]}"
                if step.get("chain_file"):
                    write(step["chain_file"], chain, f"{what}: leaf + intermediate")
                if step.get("key_file"):
                    write(step["key_file"], issued.key_pem, f"{what}: its private key (throwaway)", private=True)
                if step.get("pfx_converted"):
                    pfx = step["pfx_converted"]
                    parts = {"leaf": issued.cert, "intermediate": ca["intermediate"].cert, "root": ca["root"].cert}
                    text = practice._pfx_converted(issued.cert, [parts[p] for p in pfx["order"]], issued.key_pem,
                                                   names[0])
                    write(pfx["file"], text, f"{what}: as openssl pkcs12 -nodes wrote it (certificates and key)",
                          private=True)
                if step.get("install"):
                    backend.replace_certificates([CertificateUpdate(step["install"], chain, issued.key_pem)])
            elif kind == "cluster":
                backend.update_cluster(dict(step["set"]))
            elif kind == "ocsp":
                backend.update_ocsp(dict(step["set"]))
            elif kind == "database":
                backend.update_bdb(1, dict(step["set"]))
            elif kind == "node":
                backend.set_node_state(int(step["node"]), step["status"] == "up")
        for ca in cas.values():
            if ca["url"]:
                with backend.store.update() as state:
                    ocsp_responder.register_issuer(state, ca["intermediate"].cert_pem, ca["intermediate"].key_pem,
                                                   ca["revoked"], ca["issued"])
    return {"directory": directory, "files": files}
