"""Processes by pid: is it alive, is it ours, stop it; run a setup command; read a log's tail.

Written once in module_utils (core/processes.py), where the restore check's scratch server uses them too.
"""

from sandbox.module_utils import processes

pid_alive = processes.pid_alive
process_args = processes.process_args
serves_data_dir = processes.serves_data_dir
read_pid_file = processes.read_pid_file
wait_for_exit = processes.wait_for_exit
stop_process = processes.stop_process
run_command = processes.run_command
log_errors = processes.log_errors
log_tail = processes.log_tail
