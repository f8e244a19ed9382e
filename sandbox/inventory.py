"""The database hosts of an Ansible inventory folder (its plain-YAML hosts.yml), as the sandbox needs them."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.errors import SandboxError
from sandbox.servers import ENGINES

DATABASES_GROUP = "databases"


@dataclass(frozen=True)
class DatabaseHost:
    name: str
    engine: str
    port: int
    db_name: str
    db_user: str


def database_hosts(inventory_dir: Path) -> list[DatabaseHost]:
    """Every host of group `databases` (or of its child groups) that has db_engine and db_port.

    Variables as Ansible merges them for the keys we read: `all` vars, then group vars from
    outer to inner, then host vars.
    """
    hosts_file = _hosts_file(Path(inventory_dir))
    try:
        inventory = yaml.safe_load(hosts_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SandboxError(f"cannot read {hosts_file}: {error}") from None
    if not isinstance(inventory, dict):
        raise SandboxError(f"{hosts_file} is not a YAML inventory (a mapping of groups)")
    top_group = inventory.get("all", {"children": inventory})
    host_vars: dict[str, dict] = {}
    _collect_hosts(top_group, {}, in_databases=False, found=host_vars)
    hosts = [
        _database_host(name, variables, hosts_file)
        for name, variables in host_vars.items()
        if "db_engine" in variables and "db_port" in variables
    ]
    if not hosts:
        raise SandboxError(f"no host of group {DATABASES_GROUP} with db_engine and db_port in {hosts_file}")
    return hosts


def select_hosts(hosts: list[DatabaseHost], names: list[str] | None) -> list[DatabaseHost]:
    """The hosts named (all when no name is given), in inventory order."""
    if not names:
        return hosts
    known = {host.name for host in hosts}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SandboxError(f"no database host named {', '.join(unknown)} in the inventory (known: {', '.join(sorted(known))})")
    return [host for host in hosts if host.name in names]


def _hosts_file(inventory_dir: Path) -> Path:
    for name in ("hosts.yml", "hosts.yaml"):
        if (inventory_dir / name).is_file():
            return inventory_dir / name
    raise SandboxError(f"no hosts.yml in inventory folder {inventory_dir}")


def _collect_hosts(group: dict, inherited: dict, in_databases: bool, found: dict[str, dict]) -> None:
    group = group or {}
    variables = {**inherited, **(group.get("vars") or {})}
    if in_databases:
        for name, own_vars in (group.get("hosts") or {}).items():
            found[name] = {**variables, **(own_vars or {})}
    for child_name, child in (group.get("children") or {}).items():
        _collect_hosts(child, variables, in_databases or child_name == DATABASES_GROUP, found)


def _database_host(name: str, variables: dict, hosts_file: Path) -> DatabaseHost:
    def plain(key: str) -> str:
        value = variables.get(key)
        if value is None or value == "":
            raise SandboxError(f"host {name} in {hosts_file} has no {key}")
        if isinstance(value, str) and "{{" in value:
            raise SandboxError(f"host {name} in {hosts_file}: {key} is a template; the sandbox needs a plain value")
        return str(value)

    engine = plain("db_engine")
    if engine not in ENGINES:
        raise SandboxError(f"host {name} in {hosts_file}: db_engine {engine!r} is not one of {', '.join(ENGINES)}")
    port = plain("db_port")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SandboxError(f"host {name} in {hosts_file}: db_port {port!r} is not a port number")
    return DatabaseHost(name=name, engine=engine, port=int(port), db_name=plain("db_name"), db_user=plain("db_user"))



def write_inventory(folder: Path, databases: dict, host_vars: dict | None = None, **group_vars) -> Path:
    """An inventory folder like inventories/local with one `databases` host per sandbox database.

    `databases` maps host name to a SandboxDB, `host_vars` host name to extra host variables (they win); `group_vars`
    go to group_vars/all/vars.yml. hosts.yml holds each host's password (hosts may live on different servers),
    so it is written 0600.
    """
    folder = Path(folder)
    (folder / "group_vars/all").mkdir(parents=True, exist_ok=True)
    hosts = {
        name: {
            "db_engine": db.engine, "db_host": db.host, "db_port": db.port, "db_name": db.name, "db_user": db.user,
            "db_password": db.password,
            # The replicas that follow the server (sandbox/replicas.py), as preflight and the index phase read them.
            **({"replicas": [{"host": r.host, "port": r.port, "name": r.name} for r in db.replicas]}
               if getattr(db, "replicas", None) else {}),
            **((host_vars or {}).get(name) or {}),
        }
        for name, db in databases.items()
    }
    _write_private(folder / "hosts.yml", {"all": {"children": {DATABASES_GROUP: {"hosts": hosts}}}})
    _write_private(folder / "group_vars/all/vars.yml", {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "artifacts_dir": str(folder / "artifacts"),
        "backup_dir": str(folder / "backups"),
        **group_vars,
    })
    return folder


def _write_private(path: Path, data: dict) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(data))
