"""pg_dump and pg_restore: custom or directory format, sharing an exported snapshot, password in a passfile."""

import os
import subprocess

from ansible.module_utils.safeindex.clients import (
    ClientError,
    clean_environment,
    client_version,
    find_client,
    run,
    version_numbers,
    write_secret,
)

FORMATS = {"custom": ("c", ".pgdump"), "directory": ("d", ".pgdir")}


def _conninfo_value(value):
    return "'%s'" % str(value).replace("\\", "\\\\").replace("'", "\\'")


def _passfile_field(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


class PostgresDumper:
    engine = "postgresql"
    default_format = "custom"
    counts_exact = True  # counted in the very snapshot the dump reads

    def __init__(self, params, bin_dir=None):
        self.params = params
        self.pg_dump = find_client(["pg_dump"], bin_dir)
        self.pg_restore = find_client(["pg_restore"], bin_dir)

    def describe_client(self):
        return client_version(self.pg_dump)

    def check_client(self, server_version):
        """pg_dump refuses a newer server anyway, but late and obscurely: say it first and plainly."""
        client_text = self.describe_client()
        client = version_numbers(client_text.split(")", 1)[-1])
        server = version_numbers(server_version)
        if client and server and client[0] < server[0]:
            raise ClientError(
                "%s is older than the server (PostgreSQL %s): install the client of the server's major version"
                " (e.g. postgresql-client-%d) or point client_bin_dir at it" % (client_text, server_version, server[0])
            )
        return client_text

    def file_name(self, database, fmt):
        return database + FORMATS[fmt][1]

    def _conninfo(self, database):
        parts = dict(host=self.params.host, port=self.params.port, dbname=database, user=self.params.user,
                     connect_timeout=self.params.connect_timeout, application_name="safeindex backup")
        parts.update(dict(self.params.options))
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

    def dump(self, target, fmt, jobs, compress_level, secrets, snapshot=None):
        run(self.dump_command(target, fmt, jobs, compress_level, snapshot), env=self._environment(secrets), secret=self.params.password)

    def dump_with_counts(self, dialect, target, fmt, jobs, compress_level, tables, secrets):
        """Count the rows in an exported snapshot and let pg_dump read that very snapshot: the counts are the dump's."""
        holder = dialect.connect_to(dialect.params.database)
        try:
            with holder.exported_snapshot() as snapshot:
                counts = holder.row_counts(tables)
                self.dump(target, fmt, jobs, compress_level, secrets, snapshot)
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

    def restore(self, path, database, jobs, secrets):
        argv = [self.pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--no-password",
                "--dbname=" + self._conninfo(database)]
        if jobs > 1:
            argv.remove("--exit-on-error")  # not allowed with parallel restore; errors still fail the exit code
            argv.append("--jobs=%d" % jobs)
        run(argv + [path], env=self._environment(secrets), secret=self.params.password, stdout=subprocess.DEVNULL)

    def dump_files(self, path):
        """The files of a dump: the file itself, or the files of a directory-format dump."""
        if os.path.isdir(path):
            return sorted(os.path.join(path, name) for name in os.listdir(path))
        return [path]
