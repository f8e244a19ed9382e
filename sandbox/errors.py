"""The one exception the sandbox raises for problems a user can act on.

It is the servers' own (module_utils core/processes.py), which the sandbox shares with the restore check's scratch
server: a failure to set up, start or stop a server is one class wherever the server code runs.
"""

from sandbox.module_utils import processes

SandboxError = processes.ServerProcessError
