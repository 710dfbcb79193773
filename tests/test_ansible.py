"""The Ansible collection redis.rs_tls: real ``ansible-playbook`` runs of examples/fleet/ against
three loopback sandboxes served with ``--serve`` (forks 5), and ``ansible-doc`` for each module.

The sandboxes are shared by the tests of this module, which run in order (each says what state it
leaves); all are stopped at the end. Skipped when ansible-core is not installed
(``pip install '.[ansible]'``).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, CertFactory, console_script, rsa_key
from rladmin_py.certificates import making as certgen

BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"
if not ANSIBLE_PLAYBOOK.exists():
    pytest.skip("ansible-core is not installed (pip install '.[ansible]')", allow_module_level=True)

from server_fixtures import key_needles, scan_for, serve_copy  # noqa: E402

FLEET = EXAMPLES / "fleet"
VAULT_PASSWORD_FILE = FLEET / "vault-password.THROWAWAY-DO-NOT-USE.txt"
HOSTS = ("sb1", "sb2", "sb3")
MODULES = ("certificate", "tls_settings", "certificate_info", "tls_verify")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _collections_path() -> str:
    out = subprocess.run([str(BIN / "rladmin-py-ansible"), "--path"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _vaulted(secret: str) -> str:
    """``!vault |`` text of ``secret`` with the examples' throwaway vault password."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD_FILE.read_bytes().strip()))])
    body = vault.encrypt(secret).decode()
    return "!vault |\n" + "".join(f"            {line}\n" for line in body.splitlines())


class Fleet:
    """Three served sandboxes, an inventory naming them (vaulted passwords), and ansible runs."""

    def __init__(self, root: Path, template: Path):
        self.root = root
        self.servers = {}
        self.logs = root / "logs"
        self.logs.mkdir()
        try:
            for host in HOSTS:
                directory = root / host
                directory.mkdir()
                self.servers[host] = serve_copy(template, directory)
        except BaseException:
            self.stop()
            raise
        self.inventory = root / "inventory.yml"
        lines = ["rs_clusters:", "  vars:", "    ansible_connection: local",
                 '    ansible_python_interpreter: "{{ ansible_playbook_python }}"', "  hosts:"]
        for host, s in self.servers.items():
            lines += [f"    {host}:", f"      rs_url: {s.url}", f"      rs_user: {s.user}",
                      f"      rs_ca_cert: {s.ca_cert}", f"      rs_password: {_vaulted(s.password).rstrip()}"]
        self.inventory.write_text("\n".join(lines) + "\n")
        home = root / "home"
        home.mkdir()
        self.env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(home),
                    "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
                    "ANSIBLE_HOME": str(home / ".ansible"), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
                    "ANSIBLE_LOG_PATH": str(self.logs / "ansible.log"), "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_FORKS": "5", "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_DEPRECATION_WARNINGS": "0",
                    "ANSIBLE_CONFIG": str(root / "no-ansible.cfg"), "XDG_CONFIG_HOME": str(home / "config")}
        self.outputs: list[str] = []

    def playbook(self, name: str, *args: str, timeout: float = 120) -> tuple[int, str, dict]:
        """(returncode, stdout+stderr, recap {host: (ok, changed, unreachable, failed)}) of an example playbook."""
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(self.inventory), "--vault-password-file", str(VAULT_PASSWORD_FILE),
               str(FLEET / name), *args]
        return self._run(cmd, timeout)

    def adhoc(self, host: str, module: str, args: dict) -> tuple[int, str, dict]:
        cmd = [str(BIN / "ansible"), "-i", str(self.inventory), "--vault-password-file", str(VAULT_PASSWORD_FILE),
               host, "-m", f"redis.rs_tls.{module}", "-a", json.dumps(args)]
        return self._run(cmd, 120)

    def _run(self, cmd, timeout):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=self.root, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        out = proc.stdout + proc.stderr
        self.outputs.append(out)
        recap = {m[0]: tuple(int(x) for x in m[1:]) for m in RECAP.findall(out)}
        return proc.returncode, out, recap

    def cluster_vars(self, host: str) -> str:
        s = self.servers[host]
        return json.dumps({"rs_url": s.url, "rs_user": s.user, "rs_password": s.password, "rs_ca_cert": s.ca_cert})

    def fingerprint(self, host: str, name: str = "proxy") -> str:
        status, _, body = self.servers[host].request("GET", "/v1/cluster/certificates")
        assert status == 200
        from rladmin_py.verify import expected_fingerprint

        return expected_fingerprint(body[f"{name}_cert"])

    def held_keys(self) -> list[str]:
        keys = []
        for s in self.servers.values():
            _, _, body = s.request("GET", "/v1/cluster/certificates")
            keys += [v for k, v in body.items() if k.endswith("_key") and isinstance(v, str)]
        return keys

    def stop(self):
        for s in self.servers.values():
            try:
                s.stop()
            except Exception:  # one that does not stop must not leave the others running
                pass


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, sandbox_template):
    f = Fleet(tmp_path_factory.mktemp("fleet"), sandbox_template)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fleet-certs")
    factory = CertFactory(directory)
    a = factory.leaf(sans=certgen.cluster_sans(factory.fqdn), key=rsa_key(31))
    b = factory.leaf(sans=certgen.cluster_sans(factory.fqdn), key=rsa_key(32))
    soon = factory.leaf(sans=certgen.cluster_sans(factory.fqdn), key=rsa_key(33), days=10)
    expired = factory.expired()
    return {"a": a, "b": b, "soon": soon, "expired": expired, "root": factory.write("root.pem", factory.root.cert_pem),
            "dir": directory}


def _rotate_args(files) -> list[str]:
    return ["-e", f"proxy_certificate_file={files.cert}", "-e", f"proxy_key_file={files.key}"]


def _fatal(out: str, host: str) -> dict:
    m = re.search(rf"^fatal: \[{host}\]: FAILED! => (\{{.*\}})$", out, re.M)
    assert m, out
    return json.loads(m.group(1))


def _adhoc_result(out: str, host: str) -> dict:
    m = re.search(rf"^{host} \| (?:SUCCESS|FAILED!|CHANGED) => (\{{.*?^\}})$", out, re.M | re.S)
    assert m, out
    return json.loads(m.group(1))


# -- no cluster needed -------------------------------------------------------------------------------------------
def test_the_collection_is_found_with_our_line_and_ansible_doc_works_for_every_module(tmp_path):
    env = dict(os.environ, LC_ALL="C.UTF-8", HOME=str(tmp_path), ANSIBLE_HOME=str(tmp_path / ".ansible"))
    line = subprocess.run([str(BIN / "rladmin-py-ansible")], capture_output=True, text=True, env=env)
    assert line.returncode == 0 and line.stdout.startswith("export ANSIBLE_COLLECTIONS_PATH=")
    shell = subprocess.run(["sh", "-c", f'{line.stdout.strip()}; ansible-doc -l redis.rs_tls'], capture_output=True,
                           text=True, env=dict(env, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"), timeout=60)
    assert shell.returncode == 0, shell.stderr
    assert sorted(re.findall(r"^redis\.rs_tls\.(\w+)", shell.stdout, re.M)) == sorted(MODULES)
    env["ANSIBLE_COLLECTIONS_PATH"] = _collections_path()
    for module in MODULES:
        doc = subprocess.run([str(BIN / "ansible-doc"), "--json", f"redis.rs_tls.{module}"], capture_output=True,
                             text=True, env=env, timeout=60)
        assert doc.returncode == 0 and "ERROR" not in doc.stderr, doc.stderr
        entry = json.loads(doc.stdout)[f"redis.rs_tls.{module}"]
        options = entry["doc"]["options"]
        assert {"url", "user", "password", "ca_cert", "validate_certs", "profile"} <= set(options)
        assert entry["examples"] and entry["return"] and entry["doc"]["short_description"]


def test_the_example_inventory_decrypts_with_the_throwaway_vault_password(tmp_path):
    env = dict(os.environ, LC_ALL="C.UTF-8", HOME=str(tmp_path), ANSIBLE_HOME=str(tmp_path / ".ansible"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"))
    r = subprocess.run([str(BIN / "ansible"), "-i", str(FLEET / "inventory.yml"), "--vault-password-file",
                        str(VAULT_PASSWORD_FILE), "prod-west", "-m", "ansible.builtin.debug", "-a", "var=rs_password"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"rs_password": "example-password-of-prod-west"' in r.stdout
    assert "example-password-of" not in (FLEET / "inventory.yml").read_text()


# -- the fleet, in order -------------------------------------------------------------------------------------------
def test_a_fresh_fleet_verifies(fleet):
    code, out, recap = fleet.playbook("verify.yml")
    assert code == 0, out
    assert recap == {h: (2, 0, 0, 0) for h in HOSTS}, out


def test_check_mode_sends_nothing_and_diff_shows_the_certificates_without_keys(fleet, certs):
    before = {h: fleet.fingerprint(h) for h in HOSTS}
    code, out, recap = fleet.playbook("rotate-proxy.yml", "--check", "--diff", *_rotate_args(certs["a"]))
    assert code == 0, out
    assert {h: r[1] for h, r in recap.items()} == {h: 1 for h in HOSTS}, out  # would change: reported changed
    assert {h: fleet.fingerprint(h) for h in HOSTS} == before  # ...and nothing was sent
    new = fleet_fingerprint(certs["a"])
    assert out.count("--- before: proxy certificate") == 3 and out.count(f'+    "sha256": "{new}"') == 3, out
    for h in HOSTS:
        assert f'-    "sha256": "{before[h]}"' in out
    assert '"subject"' in out and '"issuer"' in out and '"not_after"' in out and '"sans"' in out
    assert scan_for(key_needles(certs["a"].issued.key_pem, *fleet.held_keys()), texts={"output": out}) == []


def fleet_fingerprint(files) -> str:
    from rladmin_py.verify import expected_fingerprint

    return expected_fingerprint(files.cert.read_text())


def test_rotation_changes_every_cluster_then_a_second_run_changes_nothing(fleet, certs):
    code, out, recap = fleet.playbook("rotate-proxy.yml", "--diff", "-vvv", *_rotate_args(certs["a"]))
    assert code == 0, out[-3000:]
    assert recap == {h: (1, 1, 0, 0) for h in HOSTS}, out[-3000:]
    new = fleet_fingerprint(certs["a"])
    assert all(fleet.fingerprint(h) == new for h in HOSTS)
    assert out.count("serves the new proxy certificate") >= 3  # verified on the wire
    assert "AnsiballZ_" not in out  # each cluster's task ran in the worker Ansible forked for it: no module sent
    assert "PLAY [Rotate the proxy certificate]" in out and out.count("TASK [Install the new proxy certificate]") == 2
    # -vvv, the ansible log and the servers' logs: no key material, no password
    needles = key_needles(certs["a"].issued.key_pem, *fleet.held_keys()) + [s.password for s in fleet.servers.values()]
    logs = {f"server log {h}": s.log() for h, s in fleet.servers.items()}
    assert scan_for(needles, texts={"-vvv output": out, **logs}, roots=[fleet.logs]) == []
    code, out, recap = fleet.playbook("rotate-proxy.yml", *_rotate_args(certs["a"]))
    assert code == 0 and recap == {h: (1, 0, 0, 0) for h in HOSTS}, out


def test_a_cluster_with_a_node_down_fails_with_the_409_message_and_the_others_succeed(fleet, certs):
    sb3 = fleet.servers["sb3"]
    down = subprocess.run([console_script(), "--sandbox", str(sb3.sandbox), "sandbox", "node", "2", "down"],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    try:
        code, out, recap = fleet.playbook("rotate-proxy.yml", *_rotate_args(certs["b"]))
    finally:
        subprocess.run([console_script(), "--sandbox", str(sb3.sandbox), "sandbox", "node", "2", "up"],
                       capture_output=True, timeout=60)
    assert code != 0
    assert recap == {"sb1": (1, 1, 0, 0), "sb2": (1, 1, 0, 0), "sb3": (0, 0, 0, 1)}, out
    failure = _fatal(out, "sb3")
    assert failure["msg"].startswith("not all nodes were updated (node:2 down)")
    assert "the task is safe to retry" in failure["msg"] and failure["retry_safe"] is True
    assert failure["status"] == 409
    assert "run it with force: true" in failure["msg"]
    # safe to retry: the cluster holds the new certificate (a plain run changes nothing); with every node up,
    # force sends it again to the node that missed it
    code, out, recap = fleet.playbook("rotate-proxy.yml", "-e", "target=sb3", *_rotate_args(certs["b"]))
    assert code == 0 and recap == {"sb3": (1, 0, 0, 0)}, out
    code, out, recap = fleet.playbook("rotate-proxy.yml", "-e", "target=sb3", "-e", "rotate_force=true",
                                      *_rotate_args(certs["b"]))
    assert code == 0 and recap == {"sb3": (1, 1, 0, 0)}, out
    assert fleet.fingerprint("sb3") == fleet_fingerprint(certs["b"])


def test_a_refused_certificate_fails_with_the_shells_message_and_sends_nothing(fleet, certs):
    before = fleet.fingerprint("sb1")
    shell = fleet.servers["sb1"].shell("-y", "cluster", "certificate", "set", "proxy", "certificate_file",
                                       str(certs["expired"].cert), "key_file", str(certs["expired"].key))
    assert shell.returncode == 1 and shell.stderr.startswith("error: "), shell.stderr
    code, out, recap = fleet.playbook("rotate-proxy.yml", "-e", "target=sb1", *_rotate_args(certs["expired"]))
    assert code != 0 and recap == {"sb1": (0, 0, 0, 1)}, out
    failure = _fatal(out, "sb1")
    assert failure["msg"] == shell.stderr.strip().splitlines()[0][len("error: "):]
    assert "expired" in failure["msg"] and failure["changed"] is False
    assert fleet.fingerprint("sb1") == before


def test_tls_settings_check_diff_change_verify_and_idempotence(fleet):
    def minimums(host):
        _, _, cluster = fleet.servers[host].request("GET", "/v1/cluster")
        return cluster["min_control_TLS_version"], cluster["min_data_TLS_version"]

    code, out, recap = fleet.playbook("raise-tls13.yml", "--check", "--diff")
    assert code == 0 and {h: r[1] for h, r in recap.items()} == {h: 1 for h in HOSTS}, out
    assert out.count('-    "min_data_TLS_version": "1.2"') == 3 and out.count('+    "min_data_TLS_version": "1.3"') == 3
    assert all(minimums(h) == ("1.2", "1.2") for h in HOSTS)  # check mode sent nothing
    code, out, recap = fleet.playbook("raise-tls13.yml", "-v")
    assert code == 0 and recap == {h: (1, 1, 0, 0) for h in HOSTS}, out
    assert all(minimums(h) == ("1.3", "1.3") for h in HOSTS)
    assert out.count("(db:1) minimum TLS 1.3: below it refused") == 3, out  # verified on the wire
    code, out, recap = fleet.playbook("raise-tls13.yml")
    assert code == 0 and recap == {h: (1, 0, 0, 0) for h in HOSTS}, out
    # the grammar's types and ranges, with the shell's message, before anything is sent
    code, out, _ = fleet.adhoc("sb1", "tls_settings", {"url": fleet.servers["sb1"].url, "user": "someone",
                                                       "password": "unused-password-1234", "settings": {"min_data_TLS_version": "1.4",
                                                                                     "cm_port": 80}})
    assert code != 0 and "settings: invalid value '1.4' for min_data_TLS_version: expected 1.2 or 1.3" in out, out


def test_certificate_info_facts_and_the_expiry_report(fleet, certs):
    sb2 = fleet.servers["sb2"]
    r = sb2.shell("-y", "cluster", "certificate", "set", "proxy", "certificate_file", str(certs["soon"].cert),
                  "key_file", str(certs["soon"].key))
    assert r.returncode == 0, r.stderr
    code, out, _ = fleet.adhoc("sb2", "certificate_info", {"url": sb2.url, "user": sb2.user, "password": sb2.password,
                                                           "ca_cert": sb2.ca_cert})
    assert code == 0, out
    facts = _adhoc_result(out, "sb2")
    proxy = facts["ansible_facts"]["rs_tls_certificates"]["proxy"]
    assert proxy["sha256"] == fleet.fingerprint("sb2") and 8 <= proxy["days_left"] <= 10
    assert {"subject", "sans", "issuer", "self_signed", "not_after", "days_left", "sha256"} <= set(proxy)
    assert "proxy" in facts["expiring"] and facts["cluster"] == "cluster.sandbox.local"
    assert "PRIVATE KEY" not in out
    report = fleet.root / "expiring.json"
    code, out, recap = fleet.playbook("expiry-report.yml", "-e", f"report_file={report}")
    assert code == 0, out
    data = json.loads(report.read_text())
    assert set(data) == {"sb2"} and set(data["sb2"]["expiring"]) == {"proxy"}, data
    assert "1 cluster(s): sb2 (cluster.sandbox.local): proxy in " in out


def test_tls_verify_fails_on_a_mismatch_and_passes_with_the_right_trust(fleet, certs):
    # the proxy certificates now come from the test CA: the sandbox trust file cannot verify them
    code, out, recap = fleet.playbook("verify.yml")
    assert code != 0 and all(recap[h][3] == 1 for h in HOSTS), out
    failure = _fatal(out, "sb1")
    assert failure["msg"].startswith("verify tls: 1 MISMATCH: db:1") and "does not verify" in failure["msg"]
    assert any(r["endpoint"] == "db:1" and r["status"] == "MISMATCH" for r in failure["rows"])
    bundle = fleet.root / "trust.pem"
    bundle.write_text(Path(fleet.servers["sb1"].ca_cert).read_text() + certs["root"].read_text())
    code, out, recap = fleet.playbook("verify.yml", "-e", f"rs_ca_cert={bundle}")
    assert code == 0 and recap == {h: (2, 0, 0, 0) for h in HOSTS}, out


def test_an_authentication_failure_says_so_and_nothing_else(fleet):
    s = fleet.servers["sb1"]
    code, out, _ = fleet.adhoc("sb1", "tls_verify", {"url": s.url, "user": s.user, "password": "Not-The-Password-7",
                                                     "ca_cert": s.ca_cert})
    assert code != 0
    result = _adhoc_result(out, "sb1")
    assert set(result) <= {"changed", "failed", "msg"}, result
    assert result["msg"] == f"authentication failed for {s.user} at {s.url} (wrong user name or password?)"
    assert "Not-The-Password-7" not in out


BOTH_WAYS = """\
- hosts: sb1
  gather_facts: false
  module_defaults:
    group/redis.rs_tls.cluster:
      url: "{{ rs_url }}"
      user: "{{ rs_user }}"
      password: "{{ rs_password }}"
      ca_cert: "{{ rs_ca_cert }}"
  tasks:
    - name: certificate_info in the worker
      redis.rs_tls.certificate_info: {}
      register: in_worker
    - name: certificate_info as a module
      redis.rs_tls.certificate_info: {}
      environment: {RLADMIN_PY_EXAMPLE: "a task environment: the module runs with it"}
      register: as_module
    - name: an unknown option in the worker
      redis.rs_tls.tls_verify: {bogus: 1}
      register: bad_in_worker
      ignore_errors: true
    - name: an unknown option as a module
      redis.rs_tls.tls_verify: {bogus: 1}
      environment: {RLADMIN_PY_EXAMPLE: "a task environment: the module runs with it"}
      register: bad_as_module
      ignore_errors: true
    - name: the results
      ansible.builtin.copy:
        content: "{{ {'in_worker': in_worker, 'as_module': as_module, 'bad_in_worker': bad_in_worker,
                      'bad_as_module': bad_as_module} | to_json }}"
        dest: "{{ results_file }}"
        mode: "0600"
"""


def test_a_task_gives_the_same_result_in_ansibles_worker_and_as_a_module(fleet, tmp_path):
    """connection: local and the controller's own interpreter: the task runs in the worker Ansible
    forked for the host (no interpreter started, no module sent); what would make the module run
    otherwise (here a task environment) runs the module. The same results either way, failures too."""
    playbook, results = tmp_path / "both-ways.yml", tmp_path / "results.json"
    playbook.write_text(BOTH_WAYS)
    code, out, recap = fleet.playbook(str(playbook), "-vvv", "-e", f"results_file={results}")
    assert code == 0 and recap["sb1"][3] == 0, out[-3000:]
    tasks = dict(re.findall(r"^TASK \[([^\]]+)\] \**$(.*?)(?=^TASK \[|^PLAY RECAP)", out, re.M | re.S))
    assert "AnsiballZ_" not in tasks["certificate_info in the worker"] + tasks["an unknown option in the worker"]
    assert "AnsiballZ_certificate_info.py" in tasks["certificate_info as a module"]
    assert "AnsiballZ_tls_verify.py" in tasks["an unknown option as a module"]
    got = json.loads(results.read_text())
    assert got["in_worker"] == got["as_module"]
    assert got["in_worker"]["ansible_facts"]["rs_tls_certificates"]["proxy"]["sha256"] == fleet.fingerprint("sb1")
    assert got["bad_in_worker"] == got["bad_as_module"]
    assert got["bad_in_worker"]["failed"] is True
    assert got["bad_in_worker"]["msg"].startswith("Unsupported parameters for (redis.rs_tls.tls_verify) module: bogus.")


def test_no_output_of_any_run_holds_a_password(fleet):
    passwords = [s.password for s in fleet.servers.values()]
    assert fleet.outputs and not [p for p in passwords for out in fleet.outputs if p in out]
