#!/usr/bin/env python3
"""The Ansible collection at fleet scale (issue 17, "Speed"): real ``ansible-playbook`` runs of
``examples/fleet/rotate-proxy.yml`` against loopback sandboxes served with ``--serve``.

    .venv/bin/python benchmarks/ansible_bench.py [--json] [--clusters 20] [--forks 10]

Needs ansible-core next to the interpreter (``pip install '.[ansible]'``). Figures:

- rotating N sandboxes (default 20) with forks F (default 10) against rotating 2, in one batch
  (``rotate_serial=100%``): target <= 3x (parallelism works, no global lock);
- a no-change run over the N sandboxes (the same certificate again) against the changing run:
  target <= 60%.

Each figure is the median of ``--repeat`` runs (default 3), each rotation to a certificate the
clusters do not hold yet. Every server started is stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLEET = REPO / "examples" / "fleet"
BIN = Path(sys.executable).parent
RLADMIN = BIN / "rladmin-py"
PLAYBOOK = BIN / "ansible-playbook"


def _serve(sandbox: Path, log: Path) -> tuple[subprocess.Popen, dict]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(RLADMIN), "--sandbox", str(sandbox), "--serve", "127.0.0.1:0", "--json", "--quiet"],
                                stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit(f"the server on {sandbox} did not start: {log.read_text()}")
    return proc, json.loads(line)


def _certificates(directory: Path, count: int) -> list[tuple[Path, Path]]:
    from rladmin_py.certificates import making as certgen

    root = certgen.make_ca("Bench Root CA", org="rladmin-py benchmark")
    out = []
    for i in range(count):
        leaf = certgen.make_leaf("cluster.sandbox.local", certgen.cluster_sans("cluster.sandbox.local"), root)
        cert, key = directory / f"proxy{i}.pem", directory / f"proxy{i}.key"
        cert.write_text(leaf.cert_pem + root.cert_pem)
        key.write_text(leaf.key_pem)
        os.chmod(key, 0o600)
        out.append((cert, key))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not PLAYBOOK.exists():
        print("ansible-core is not installed next to this interpreter (pip install '.[ansible]')", file=sys.stderr)
        return 2
    from ansible.parsing.vault import VaultLib, VaultSecret

    from rladmin_py.backends.sandbox import SandboxBackend
    from rladmin_py.sandbox.store import ca_path_for

    work = Path(tempfile.mkdtemp(prefix="rladmin-ansible-bench-"))
    servers: list[subprocess.Popen] = []
    try:
        template = work / "template" / "sandbox.json"
        template.parent.mkdir(mode=0o700)
        backend = SandboxBackend(str(template))
        backend.ensure()
        backend.close()
        vault = VaultLib([("default", VaultSecret((FLEET / "vault-password.THROWAWAY-DO-NOT-USE.txt")
                                                  .read_bytes().strip()))])
        hosts = {}
        for i in range(args.clusters):
            sandbox = work / f"sb{i}" / "sandbox.json"
            sandbox.parent.mkdir(mode=0o700)
            shutil.copy2(template, sandbox)
            shutil.copy2(ca_path_for(str(template)), ca_path_for(str(sandbox)))
            proc, info = _serve(sandbox, work / f"sb{i}.log")
            servers.append(proc)
            hosts[f"sb{i}"] = info
        lines = ["rs_clusters:", "  vars:", "    ansible_connection: local",
                 '    ansible_python_interpreter: "{{ ansible_playbook_python }}"', "  children:"]
        for group, members in (("two", list(hosts)[:2]), ("many", list(hosts))):
            lines += [f"    {group}:", "      hosts:"]
            for name in members:
                info = hosts[name]
                secret = vault.encrypt(info["password"]).decode()
                lines += [f"        {name}:", f"          rs_url: {info['url']}", f"          rs_user: {info['user']}",
                          f"          rs_ca_cert: {info['ca_cert']}", "          rs_password: !vault |"]
                lines += [f"            {x}" for x in secret.splitlines()]
        inventory = work / "inventory.yml"
        inventory.write_text("\n".join(lines) + "\n")
        certs = _certificates(work, 2 * args.repeat + 1)
        home = work / "home"
        env = dict(os.environ, HOME=str(home), LC_ALL="C.UTF-8", ANSIBLE_HOME=str(home / ".ansible"),
                   ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_CONFIG=str(work / "none.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORKS=str(args.forks), ANSIBLE_COLLECTIONS_PATH=subprocess.run(
                       [str(BIN / "rladmin-py-ansible"), "--path"], capture_output=True, text=True).stdout.strip())

        def rotate(group: str, files: tuple[Path, Path], expect_changed: int) -> float:
            start = time.perf_counter()
            proc = subprocess.run([str(PLAYBOOK), "-i", str(inventory), "--vault-password-file",
                                   str(FLEET / "vault-password.THROWAWAY-DO-NOT-USE.txt"), str(FLEET / "rotate-proxy.yml"),
                                   "-e", f"target={group}", "-e", "rotate_serial=100%",
                                   "-e", f"proxy_certificate_file={files[0]}", "-e", f"proxy_key_file={files[1]}"],
                                  capture_output=True, text=True, env=env, cwd=work)
            took = time.perf_counter() - start
            changed = proc.stdout.count("changed: [")
            if proc.returncode != 0 or changed != expect_changed:
                raise SystemExit(f"the {group} rotation did not go as expected (exit {proc.returncode}, "
                                 f"{changed} changed):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
            return took

        two, many, unchanged = [], [], []
        for r in range(args.repeat):
            two.append(rotate("two", certs[2 * r], 2))
            many.append(rotate("many", certs[2 * r + 1], args.clusters))
            unchanged.append(rotate("many", certs[2 * r + 1], 0))
        t2, tn, t0 = statistics.median(two), statistics.median(many), statistics.median(unchanged)
        figures = [
            {"name": "ansible_rotate_scaling", "label": f"rotate {args.clusters} (forks {args.forks}) / rotate 2",
             "value": round(tn / t2, 2), "target": "<= 3", "ok": tn / t2 <= 3,
             "detail": f"{tn:.1f} s / {t2:.1f} s"},
            {"name": "ansible_no_change", "label": f"no-change run / changing run ({args.clusters} clusters)",
             "value": round(t0 / tn, 2), "target": "<= 0.6", "ok": t0 / tn <= 0.6,
             "detail": f"{t0:.1f} s / {tn:.1f} s"},
        ]
        if args.json:
            print(json.dumps({"cpus": os.cpu_count(), "figures": figures}))
        else:
            print(f"({os.cpu_count()} CPUs; medians of {args.repeat} runs)")
            for f in figures:
                print(f"{'PASS' if f['ok'] else 'MISS'}  {f['label']:<48} {f['value']:>6}  target {f['target']}"
                      f"  ({f['detail']})")
        return 0 if all(f["ok"] for f in figures) else 1
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
