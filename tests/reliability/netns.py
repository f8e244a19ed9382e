"""A sandbox server behind a network the test controls: a network namespace and a veth pair, made and removed here.

    with behind_network("postgresql") as (db, network):
        run_playbook(..., write_inventory(tmp_path / "inventory", db))   # the controller reaches db over the veth
        network.cut()          # a firewall rule inside the namespace drops every packet: no RST, no FIN
        network.restore()
        network.lossy(0.05)    # iptables' statistic match drops 5 % of the packets, both ways
        slow = network.delayed(100)   # a relay in the namespace holds each chunk 100 ms each way: connect to slow.port
        query(over_socket(db), "SELECT ...")   # the test's own view, over the unix socket: unaffected by the network

The server process runs inside the namespace (started from this thread after setns(2), so it and its children live
there) and listens only on the namespace's side of the veth, 10.213.x.2. The controller side is 10.213.x.1 in this
namespace. Only addresses inside a namespace made here are ever a target. `ip netns del` removes the namespace, the
veth pair and the firewall rules with it; the server and the relay are stopped by pid first, also when the test failed.

This machine's kernel has no sch_netem (`tc qdisc add ... netem`: "Specified qdisc kind is unknown"), so delay is a
relay process in the namespace and loss is a real packet drop by iptables. Where namespaces cannot be made (no root,
no iproute2 or iptables), the test fails saying so: it never passes in silence.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pymysql
import pytest

import sandbox
from sandbox.mariadb import MariadbServer
from sandbox.postgres import PostgresServer

CLONE_NEWNET = 0x40000000
NAME_PREFIX = "safeidx"  # namespaces made here: safeidx-<pid>-<n>; a sweep removes those of pids that are gone
_libc = ctypes.CDLL(None, use_errno=True)
_numbers = iter(range(1, 10**6))


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetworkSetupError("%s: %s" % (" ".join(command), (result.stderr or result.stdout).strip()))
    return result.stdout


class NetworkSetupError(RuntimeError):
    """The test's own network could not be made here (no privilege, no iproute2/iptables)."""


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """This thread in the namespace for the block: processes it starts are born there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/%s" % namespace, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise NetworkSetupError("setns into %s: %s" % (namespace, os.strerror(ctypes.get_errno())))
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:  # never go on in the wrong namespace
                raise NetworkSetupError("setns back: %s" % os.strerror(ctypes.get_errno()))
    finally:
        os.close(target)
        os.close(own)


@dataclasses.dataclass
class Relay:
    """A TCP relay inside the namespace that delays every chunk: clients connect to host:port."""

    host: str
    port: int
    process: subprocess.Popen


@dataclasses.dataclass
class Network:
    """The namespace, its veth pair and what the test does to them."""

    namespace: str
    controller_side: str  # the veth end in this namespace
    server_side: str  # the veth end in the test's namespace
    controller_address: str
    server_address: str
    relays: list = dataclasses.field(default_factory=list)

    def iptables(self, *rule: str) -> None:
        _run("ip", "netns", "exec", self.namespace, "iptables", "-w", *rule)

    def cut(self) -> None:
        """Every packet over the veth dropped inside the namespace, both ways: peers see silence, not a reset."""
        self.iptables("-I", "INPUT", "-i", self.server_side, "-j", "DROP")
        self.iptables("-I", "OUTPUT", "-o", self.server_side, "-j", "DROP")

    def restore(self) -> None:
        """Every rule this Network added is removed: the network works again (open TCP connections may have died)."""
        self.iptables("-F", "INPUT")
        self.iptables("-F", "OUTPUT")

    def lossy(self, probability: float) -> None:
        """That share of packets dropped at random, in both directions (TCP retransmits them)."""
        for chain, side in (("INPUT", "-i"), ("OUTPUT", "-o")):
            self.iptables("-A", chain, side, self.server_side, "-m", "statistic", "--mode", "random",
                          "--probability", str(probability), "-j", "DROP")

    def delayed(self, milliseconds: int, target_port: int) -> Relay:
        """A relay in the namespace, in front of target_port: each chunk waits that long in each direction."""
        with inside(self.namespace):
            port = _free_port(self.server_address)
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("delay_relay.py")), self.server_address, str(port),
                 self.server_address, str(target_port), str(milliseconds)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        relay = Relay(self.server_address, port, process)
        self.relays.append(relay)
        if process.stdout.readline().strip() != b"listening":
            raise NetworkSetupError("the delay relay did not start")
        return relay


def _free_port(address: str) -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def _sweep_leftovers() -> None:
    """Namespaces of earlier test processes that were killed before their cleanup."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == NAME_PREFIX and parts[1].isdigit() and not Path("/proc", parts[1]).exists():
            _remove_namespace(name)


def _remove_namespace(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _used_subnets() -> set:
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    return {word.split("/")[0].rsplit(".", 1)[0] for word in shown.split() if word.startswith("10.213.")}


@contextlib.contextmanager
def made_network() -> Iterator[Network]:
    """A fresh namespace with a veth pair (a /30 of 10.213.0.0/16 that no interface here uses); removed on exit."""
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            pytest.fail("the network fault tests need %s (Debian: iproute2, iptables; `make setup` installs them)" % tool)
    number = next(_numbers)
    namespace = "%s-%d-%d" % (NAME_PREFIX, os.getpid(), number)
    tag = "%05d%02d" % (os.getpid() % 100000, number % 100)
    controller_side, server_side = "sic%s" % tag, "sis%s" % tag  # at most 15 characters
    try:
        _sweep_leftovers()
        used = _used_subnets()
        third = random.choice([n for n in range(1, 255) if "10.213.%d" % n not in used])
        controller_address, server_address = "10.213.%d.1" % third, "10.213.%d.2" % third
        _run("ip", "netns", "add", namespace)
    except NetworkSetupError as error:
        pytest.fail("cannot make a network namespace here (%s): the network fault tests need root and iproute2" % error)
    network = Network(namespace, controller_side, server_side, controller_address, server_address)
    try:
        _run("ip", "link", "add", controller_side, "type", "veth", "peer", "name", server_side)
        _run("ip", "link", "set", server_side, "netns", namespace)
        _run("ip", "addr", "add", controller_address + "/30", "dev", controller_side)
        _run("ip", "link", "set", controller_side, "up")
        in_namespace = ("ip", "netns", "exec", namespace)
        _run(*in_namespace, "ip", "addr", "add", server_address + "/30", "dev", server_side)
        _run(*in_namespace, "ip", "link", "set", server_side, "up")
        _run(*in_namespace, "ip", "link", "set", "lo", "up")
        yield network
    finally:
        for relay in network.relays:
            with contextlib.suppress(ProcessLookupError):
                relay.process.kill()
            relay.process.wait()
        _remove_namespace(namespace)
        subprocess.run(["ip", "link", "del", controller_side], capture_output=True, check=False)


def _namespaced(server_class: type, network: Network) -> type:
    """The sandbox server class, listening on the namespace's address and taking the app user from the controller's."""

    class Namespaced(server_class):
        host = network.server_address

        if issubclass(server_class, MariadbServer):
            # The relay (delayed()) reaches the server from the namespace's own address.
            app_user_hosts = (network.controller_address, network.server_address, "localhost")

        def _after_initialise(self) -> None:
            super()._after_initialise()
            if issubclass(server_class, PostgresServer):
                with (self.data_dir / "pg_hba.conf").open("a") as hba:
                    for address in (network.controller_address, network.server_address):
                        hba.write("host    all       all       %s/32  scram-sha-256\n" % address)

    return Namespaced


@contextlib.contextmanager
def behind_network(engine: str, messages: int = 2000) -> Iterator[tuple[sandbox.SandboxDB, Network]]:
    """A sandbox server of that engine with the sample app, inside a test network; both removed on exit."""
    server_class = {"postgresql": PostgresServer, "mysql": MariadbServer}[engine]
    with made_network() as network:
        folder = Path(tempfile.mkdtemp(prefix="safeindex-%s-" % engine))
        os.chmod(folder, 0o711)
        server = _namespaced(server_class, network)(folder / "server")
        try:
            with inside(network.namespace):
                server.start()
            password = "netfault-" + os.urandom(9).hex()
            sandbox.prepare_app_database(server, sandbox.APP_DATABASE, sandbox.APP_USER, password, messages, 42,
                                         progress=lambda _line: None)
            yield sandbox.SandboxDB(engine=engine, host=server.host, port=server.port, name=sandbox.APP_DATABASE,
                                    user=sandbox.APP_USER, password=password, server=server), network
        finally:
            server.destroy()
            shutil.rmtree(folder, ignore_errors=True)


@dataclasses.dataclass
class SocketView:
    """The test's own view of a namespaced database, as the app user over the unix socket: it works while the
    network is cut (tests/reliability/conftest.py's table_counts, assert_consistent and query take it)."""

    engine: str
    name: str
    user: str
    password: str
    server: object

    def connect(self, autocommit: bool = True):
        if self.engine == "postgresql":
            conn = psycopg2.connect(host=str(self.server.root), port=self.server.port, user=self.user,
                                    password=self.password, dbname=self.name, connect_timeout=5)
            conn.autocommit = autocommit
            return conn
        return pymysql.connect(unix_socket=str(self.server.socket_path), user=self.user, password=self.password,
                               database=self.name, charset="utf8mb4", autocommit=autocommit, connect_timeout=5)


def over_socket(db: sandbox.SandboxDB) -> SocketView:
    return SocketView(db.engine, db.name, db.user, db.password, db.server)


def wait_for(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


__all__ = ["Network", "SocketView", "behind_network", "inside", "made_network", "over_socket", "wait_for"]
