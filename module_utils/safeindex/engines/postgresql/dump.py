"""pg_dump and pg_restore: custom or directory format, sharing an exported snapshot, password in a passfile."""

import os
import re
import subprocess

from ansible.module_utils.safeindex.backup.clients import (
    ClientError,
    ConnectionLost,
    clean_environment,
    client_version,
    run,
    tail,
    write_secret,
)
from ansible.module_utils.safeindex.backup.stream import RestoreFeed, tee
from ansible.module_utils.safeindex.backup.watchdog import DEFAULT_STALL_SECONDS
from ansible.module_utils.safeindex.build.progress import last_match
from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.engines.base import Statement
from ansible.module_utils.safeindex.engines.postgresql import client_choice, scratch
from ansible.module_utils.safeindex.engines.postgresql.features import FEATURES
from ansible.module_utils.safeindex.engines.postgresql.tls import client_options as tls_client_options

FORMATS = {"custom": ("c", ".pgdump"), "directory": ("d", ".pgdir")}
# --verbose names each table as its data goes by; everything else it says is noise in an error message.
VERBOSE_TABLE = r'(?:dumping contents of|processing data for) table "([^"]+)"'
VERBOSE_NOISE = re.compile(r"^pg_(?:dump|restore): (?!error|detail|hint|warning)")


def _conninfo_value(value):
    return "'%s'" % str(value).replace("\\", "\\\\").replace("'", "\\'")


def _passfile_field(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


class PostgresDumper:
    engine = FEATURES.name
    default_format = FEATURES.default_backup_format
    counts_exact = True  # counted in the very snapshot the dump reads
    # pg_restore reads a custom-format archive from a pipe in the order pg_dump writes it (table of contents, then each
    # table's data); a directory-format dump is files written in parallel, restorable only once it is whole.
    stream_formats = ("custom",)
    # Seconds of network silence after which pg_dump / pg_restore give the connection up (keepalives(), below).
    stall_timeout = DEFAULT_STALL_SECONDS

    def __init__(self, params, bin_dir=None, progress_file=None, server_version=None):
        self.params = params
        self.bin_dir = bin_dir
        self.server_version = server_version  # the client is chosen for it (client_choice.py), on first use
        self._choice = None
        self._client_text = None
        self.progress_file = progress_file  # where backup.py's watcher writes; progress_log is the clients' --verbose log
        self.progress_log = None
        self.stage = None

    @property
    def choice(self):
        """The client folder for this server (client_choice.choose), chosen once; raises ClientError when none fits."""
        if self._choice is None:
            self._choice = client_choice.choose(self.server_version, self.bin_dir, ssl_mode=self.params.ssl_mode)
        return self._choice

    @property
    def pg_dump(self):
        return self.choice.program("pg_dump")

    @property
    def pg_restore(self):
        return self.choice.program("pg_restore")

    def progress(self):
        """What the client is doing now, for the progress watcher: the stage and the table its log last named."""
        return {"phase": self.stage, "table": last_match(self.progress_log, VERBOSE_TABLE) if self.progress_log else None}

    def _run(self, argv, env, stdout=None):
        """run(), or, while progress is watched, run with --verbose into the progress log (errors from its tail)."""
        if not self.progress_log:
            return run(argv, env=env, secret=self.params.password, stdout=stdout)
        fd = os.open(self.progress_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as log:
            completed = subprocess.run(argv[:1] + ["--verbose"] + argv[1:], env=env,
                                       stdout=subprocess.DEVNULL if stdout is None else stdout, stderr=log, check=False)
        if completed.returncode != 0:
            with open(self.progress_log, "rb") as log:
                lines = log.read().decode("utf-8", "replace").splitlines()
            errors = "\n".join(line for line in lines if not VERBOSE_NOISE.match(line))
            lost = self._lost(errors)
            raise (ConnectionLost if lost else ClientError)("%s exited with %d: %s%s" % (
                os.path.basename(argv[0]), completed.returncode, tail(errors, self.params.password), lost))
        return completed

    def describe_client(self):
        if self._client_text is None:
            self._client_text = client_version(self.pg_dump)
        return self._client_text

    def check_client(self, server_version):
        """The client's version text, once it is chosen for this server: refused (ClientError) when none fits, before
        anything runs (pg_dump would refuse a newer server anyway, but late and obscurely)."""
        if server_version != self.server_version:
            # Made before the server was known (or for another one): choose again for this one.
            self.server_version, self._choice, self._client_text = server_version, None, None
        return self.describe_client()  # chooses the client first, or refuses

    def client_choice(self, server_version):
        """Which client is used and why, for preflight and the manifest."""
        text = self.check_client(server_version)
        return {"program": self.pg_dump, "version": text, "source": self.choice.source, "why": self.choice.why,
                "detail": self.choice.describe()}

    def file_name(self, database, fmt):
        return database + FORMATS[fmt][1]

    def keepalives(self):
        """The settings that end a connection silent for about stall_timeout seconds, where a cut network would leave
        each end waiting on its socket: keepalive probes while one waits to read, tcp_user_timeout while what it sent
        is unacknowledged. libpq's for the client; the same as session settings for the server's side, whose session
        would otherwise stay, holding the dump's snapshot (which stalls every later CREATE INDEX CONCURRENTLY) or a
        restore's scratch database, until the server's own keepalive (two hours by default). {} when stall_timeout is 0."""
        if not self.stall_timeout:
            return {}
        probe = max(1, self.stall_timeout // 4)  # the first probe after a quarter, then 3 more a quarter apart
        return dict(keepalives=1, keepalives_idle=probe, keepalives_interval=probe, keepalives_count=3,
                    tcp_user_timeout=self.stall_timeout * 1000,
                    options=" ".join("-c %s=%s" % setting for setting in self.server_keepalives().items()))

    def server_keepalives(self):
        """keepalives()' settings for the server's side of a session (its GUCs; any user may set them)."""
        if not self.stall_timeout:
            return {}
        probe = max(1, self.stall_timeout // 4)
        return dict(tcp_keepalives_idle=probe, tcp_keepalives_interval=probe, tcp_keepalives_count=3,
                    tcp_user_timeout=self.stall_timeout * 1000)

    def _lost(self, errors):
        """What a client's 'Connection timed out', libpq's connect 'timeout expired' or its 'server closed the connection
        unexpectedly' means here, said once; empty when it said none of them."""
        if "timeout expired" in errors:
            return (". The server at %s:%s did not answer within connect_timeout %s s: the network to it is down"
                    % (self.params.host, self.params.port, self.params.connect_timeout))
        if "server closed the connection unexpectedly" in errors:
            # libpq's words when the session ends mid-stream (its TCP user timeout after a cut, on a loaded machine, or
            # the server's end): never the dump's fault (CI: a restore check cut off was called a dump that does not restore).
            return (". The connection to %s:%s was lost: the server ended it, or the network to it failed"
                    % (self.params.host, self.params.port))
        if "timed out" not in errors and "Connection reset" not in errors:
            return ""
        return (". The connection to %s:%s was lost: no answer for about %s s (stall_timeout, backup_stall_timeout in the"
                " inventory)" % (self.params.host, self.params.port, self.stall_timeout))

    def _conninfo(self, database):
        parts = dict(host=self.params.host, port=self.params.port, dbname=database, user=self.params.user,
                     connect_timeout=self.params.connect_timeout, application_name="safeindex backup", **self.keepalives())
        given = tls_client_options(self.params)  # the URL query's settings and TLS (tls.py)
        if "options" in parts and given.get("options"):
            given = dict(given, options="%s %s" % (parts["options"], given["options"]))  # both: the URL's come last, and win
        parts.update(given)
        return " ".join("%s=%s" % (k, _conninfo_value(v)) for k, v in parts.items())

    def _environment(self, secrets):
        """libpq reads the password from a 0600 passfile: never argv, never the environment."""
        line = ":".join(_passfile_field(v) for v in (self.params.host, self.params.port, "*", self.params.user))
        passfile = write_secret(secrets, "pgpass", "%s:%s\n" % (line, _passfile_field(self.params.password or "")))
        return clean_environment(PGPASSFILE=passfile)

    def dump_command(self, target, fmt, jobs, compress_level, snapshot=None):
        argv = [self.pg_dump, "--format=" + FORMATS[fmt][0], "--compress=%d" % compress_level, "--file=" + target, "--no-password"]
        if snapshot:
            argv.append("--snapshot=" + snapshot)
        if fmt == "directory" and jobs > 1:
            argv.append("--jobs=%d" % jobs)
        return argv + ["--dbname=" + self._conninfo(self.params.database)]

    def dump(self, target, fmt, jobs, compress_level, secrets, snapshot=None, feed=None):
        if feed is None:
            return self._run(self.dump_command(target, fmt, jobs, compress_level, snapshot), env=self._environment(secrets))
        # Streamed: pg_dump writes to its stdout, which goes to the file and to the scratch server's pg_restore at once.
        argv = [a for a in self.dump_command(target, fmt, jobs, compress_level, snapshot) if not a.startswith("--file=")]
        log = self.progress_log or os.path.join(secrets, "pg_dump.log")
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as errors:
            process = subprocess.Popen(argv[:1] + ["--verbose"] + argv[1:], stdout=subprocess.PIPE, stderr=errors,
                                       env=self._environment(secrets))
        try:
            with open(target, "wb") as output:
                tee(process.stdout, [output, feed])
            process.wait()
        except BaseException:
            process.kill()  # e.g. the disk filled up, or the module was stopped: do not leave the dump running
            process.wait()
            raise
        if process.returncode != 0:
            with open(log, "rb") as handle:
                lines = handle.read().decode("utf-8", "replace").splitlines()
            errors = "\n".join(line for line in lines if not VERBOSE_NOISE.match(line))
            lost = self._lost(errors)
            raise (ConnectionLost if lost else ClientError)("pg_dump exited with %d: %s%s" % (
                process.returncode, tail(errors, self.params.password), lost))
        return None

    def dump_with_counts(self, engine, target, fmt, jobs, compress_level, tables, secrets, feed=None):
        """Count the rows in an exported snapshot and let pg_dump read that very snapshot: the counts are the dump's."""
        holder = engine.connect_to(engine.params.database)
        try:
            # The snapshot's session ends on the server, too, once the network to it is gone (keepalives()).
            for name, value in self.server_keepalives().items():
                holder.execute(Statement("SELECT set_config(%s, %s, false)", (name, str(value))))
            with holder.exported_snapshot() as snapshot:
                self.stage = "counting rows in the dump's snapshot"
                counts = holder.row_counts(tables)
                self.stage = "dumping"
                self.dump(target, fmt, jobs, compress_level, secrets, snapshot, feed)
        finally:
            holder.close()
        return counts, None

    @staticmethod
    def schema_in_copy(schema, copy_database):
        return schema  # a restored database keeps its schemas

    def tables_in(self, path):
        """The tables whose data the archive holds, from its table of contents (pg_restore --list)."""
        completed = run([self.pg_restore, "--list", path], env=clean_environment())
        tables = set()
        for line in completed.stdout.decode("utf-8", "replace").splitlines():
            if line.startswith(";") or " TABLE DATA " not in line:
                continue
            words = line.split(" TABLE DATA ", 1)[1].split()
            if len(words) >= 3:
                tables.add((words[0], " ".join(words[1:-1])))
        return tables

    def restore(self, path, database, jobs, secrets, clean=False):
        argv = [self.pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--no-password",
                "--dbname=" + self._conninfo(database)]
        if clean:
            # Over a live database: drop and recreate what the dump holds, all or nothing.
            argv += ["--clean", "--if-exists", "--single-transaction"]
        elif jobs > 1:
            argv.remove("--exit-on-error")  # not allowed with parallel restore; errors still fail the exit code
            argv.append("--jobs=%d" % jobs)
        self.stage = "restoring"
        self._run(argv + [path], env=self._environment(secrets), stdout=subprocess.DEVNULL)

    def dump_files(self, path):
        """The files of a dump: the file itself, or the files of a directory-format dump."""
        if os.path.isdir(path):
            return sorted(os.path.join(path, name) for name in os.listdir(path))
        return [path]

    # The restore check's scratch server (engines/postgresql/scratch.py).

    def scratch_server(self, server_version, root):
        return scratch.check_server(server_version, root)

    def prepare_scratch(self, engine, server, password):
        """The scratch server's login and the database the dump goes into; the ConnectionParams that reach it."""
        server.set_password(scratch.SUPERUSER, password)
        scratch.create_copy_database(server, engine.params.database, scratch.locale_of(engine))
        return ConnectionParams(engine=engine.params.engine, host=server.host, port=server.port, database=engine.params.database,
                                user=scratch.SUPERUSER, password=password, ssl_mode="disable")

    def check_loadable(self, engine, server):
        """Nothing to ask beforehand: the scratch server's major is the source's or later."""
        return None

    def for_server(self, params):
        """These client tools, pointed at another server (the scratch server)."""
        copy = type(self)(params, os.path.dirname(self.pg_restore))
        copy.stall_timeout = self.stall_timeout
        return copy

    def restore_feed(self, database, secrets):
        """pg_restore reading a custom-format dump on its stdin: its schema and data, in one transaction (with wal_level
        minimal, COPY into a table created in the same transaction writes no WAL). The rest (indexes, constraints,
        triggers) comes from the finished file, in parallel: restore_after_feed()."""
        argv = [self.pg_restore, "--format=custom", "--section=pre-data", "--section=data", "--no-owner", "--no-privileges",
                "--exit-on-error", "--single-transaction", "--no-password", "--dbname=" + self._conninfo(database)]
        return RestoreFeed(argv, self._environment(secrets), self.params.password)

    def restore_after_feed(self, path, database, jobs, secrets):
        """The dump's post-data section (indexes, constraints, triggers) from the finished file, with a job per core: the
        index builds are most of a restore's time, and each is a job of its own."""
        jobs = max(jobs, min(os.cpu_count() or 1, 4))
        argv = [self.pg_restore, "--section=post-data", "--no-owner", "--no-privileges", "--no-password",
                "--dbname=" + self._conninfo(database)]
        argv += ["--jobs=%d" % jobs] if jobs > 1 else ["--exit-on-error"]
        self._run(argv + [path], env=self._environment(secrets), stdout=subprocess.DEVNULL)
