"""Loopback ports: find a free one, tell whether one is taken (written once in module_utils, core/processes.py)."""

from sandbox.module_utils import processes

LOOPBACK = processes.LOOPBACK
free_port = processes.free_port
port_is_free = processes.port_is_free
