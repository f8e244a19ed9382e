"""mysqldump / mariadb-dump with --single-transaction, compressed as it streams; password in a 0600 defaults file."""

import gzip
import os
import re
import subprocess
import tempfile

from ansible.module_utils.safeindex.backup.clients import (
    ClientError,
    ConnectionLost,
    clean_environment,
    client_version,
    find_client,
    tail,
    version_numbers,
    write_secret,
)
from ansible.module_utils.safeindex.backup.stream import RestoreFeed
from ansible.module_utils.safeindex.backup.watchdog import DEFAULT_STALL_SECONDS, watching
from ansible.module_utils.safeindex.build.progress import percent
from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.engines.mysql import scratch
from ansible.module_utils.safeindex.engines.mysql.features import FEATURES
from ansible.module_utils.safeindex.engines.mysql.tls import client_options as tls_client_options

CREATE_TABLE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)`")
CHUNK = 1 << 20
# The comment mysqldump writes before each table's rows: where a dump (or its restore) has got to.
DATA_COMMENT = re.compile(rb"-- Dumping data for table `((?:[^`]|``)+)`")


# What MySQL's own mysqldump 8 (not MariaDB's) needs for a dump that loads wherever this tool restores it:
# --column-statistics=0: else it reads information_schema.COLUMN_STATISTICS, which MariaDB lacks (the dump fails), and
#   writes ANALYZE TABLE ... UPDATE HISTOGRAM statements that MariaDB cannot run;
# --set-gtid-purged=OFF: else, from a server with GTIDs, the dump sets @@GLOBAL.GTID_PURGED (and turns the binary log
#   off), which a server that has run transactions of its own refuses: a scratch server, or the source itself.
MYSQL_CLIENT_DUMP_OPTIONS = ("--set-gtid-purged=OFF", "--column-statistics=0")


def client_family(version_text: str) -> str:
    """mariadb or mysql: whose client tool this is, by its --version line ('mariadb-dump  Ver 10.19 Distrib
    10.11.6-MariaDB', 'mysqldump  Ver 8.4.3 for Linux'). Debian's mysqldump is MariaDB's under the old name."""
    return "mariadb" if "mariadb" in (version_text or "").lower() else "mysql"


def client_release(version_text: str) -> tuple:
    """The release of a client tool: after 'Distrib' where it says (MariaDB, MySQL 5.7), else after 'Ver' (MySQL 8)."""
    distrib = re.search(r"Distrib ([\d.]+)", version_text or "")
    return version_numbers(distrib.group(1) if distrib else (version_text or "").split("Ver", 1)[-1])


def _option_value(value):
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


class MysqlDumper:
    engine = FEATURES.name
    default_format = FEATURES.default_backup_format
    counts_exact = False  # mysqldump's snapshot is its own: counts are taken just before and just after
    stream_formats = ("sql",)  # the client reads the dump's SQL as it comes
    # Neither mariadb-dump nor mariadb has a network timeout: a watchdog stops one whose bytes stop (backup/watchdog.py).
    stall_timeout = DEFAULT_STALL_SECONDS

    def __init__(self, params, bin_dir=None, progress_file=None, server_version=None):
        # server_version: unused, the first client found is the one (check_client refuses one older than the server).
        self.params = params
        self.bin_dir = bin_dir
        self.dump_tool = find_client(["mariadb-dump", "mysqldump"], bin_dir)
        self.client = find_client(["mariadb", "mysql"], bin_dir)
        self.progress_file = progress_file  # where backup.py's watcher writes
        self._client_texts = {}  # each tool's --version line, asked once
        self.progress_log = None  # unused: the table comes from the dump's own comments
        self.stage = None
        self._table = None
        self._percent = None

    def progress(self):
        """What the dump or restore is doing now, for the progress watcher."""
        found = {"phase": self.stage, "table": self._table}
        if self._percent is not None:
            found.update(percent=self._percent, unit="the dump read")
        return found

    def _copy(self, source, target, raw=None, feed=None, dog=None):
        """shutil.copyfileobj (to `feed` too, a restore reading the same bytes), noting the table the stream has reached
        and, reading a file `raw`, how much of it is read; each chunk tells the watchdog `dog` the bytes moved."""
        self._table, self._percent = None, None
        total = os.fstat(raw.fileno()).st_size if raw is not None else None
        read = getattr(source, "read1", source.read)  # what has come, not a whole chunk: the watchdog sees each byte move
        while True:
            chunk = read(CHUNK)
            if not chunk:
                return
            if dog is not None and feed is not None:
                # A dump: the network is on the reading side. The scratch server's restore may take its time over a
                # chunk (feed.write waits for it): that is no stall of the dump's connection.
                with dog.paused():
                    target.write(chunk)
                    feed.write(chunk)
            else:
                target.write(chunk)  # a restore: the network is on this side, the client's stdin
                if feed is not None:
                    feed.write(chunk)
            if dog is not None:
                dog.moved()
            tables = DATA_COMMENT.findall(chunk)
            if tables:
                self._table = tables[-1].decode("utf-8", "replace").replace("``", "`")
            if raw is not None:
                self._percent = percent(raw.tell(), total)

    def _version_of(self, tool):
        if tool not in self._client_texts:
            self._client_texts[tool] = client_version(tool)
        return self._client_texts[tool]

    def describe_client(self):
        return self._version_of(self.dump_tool)

    def _family_options(self):
        """The options the dump tool's family and release need (MYSQL_CLIENT_DUMP_OPTIONS), none for MariaDB's."""
        text = self.describe_client()
        if client_family(text) == "mysql" and client_release(text) >= (8,):
            return list(MYSQL_CLIENT_DUMP_OPTIONS)
        return []

    def check_client(self, server_version):
        client_text = self.describe_client()
        client = client_release(client_text)
        server = version_numbers(server_version)
        # Only versions of the same family compare (MariaDB 10.x against MySQL 8.x says nothing).
        same_family = client_family(client_text) == ("mariadb" if "mariadb" in server_version.lower() else "mysql")
        if same_family and client and server and client < server:
            raise ClientError(
                "%s is older than the server (%s): install the client tools of the server's version or point client_bin_dir at them"
                % (client_text, server_version)
            )
        return client_text

    def client_choice(self, server_version):
        """Which client is used and why, for preflight and the manifest."""
        text = self.check_client(server_version)
        where = "client_bin_dir" if self.bin_dir else "PATH"
        why = "the first of mariadb-dump, mysqldump %s, server is %s" % ("in client_bin_dir" if self.bin_dir else "on PATH", server_version)
        return {"program": self.dump_tool, "version": text, "source": where, "why": why,
                "detail": "%s (%s): %s" % (self.dump_tool, text.splitlines()[0], why)}

    def file_name(self, database, fmt):
        if fmt != "sql":
            raise ClientError("MySQL dumps are SQL, compressed; format %r is PostgreSQL-only" % fmt)
        return database + ".sql.gz"

    def _defaults_file(self, secrets, tool=None):
        family = client_family(self._version_of(tool or self.dump_tool))
        lines = ["[client]", "user=" + _option_value(self.params.user), "password=" + _option_value(self.params.password or ""),
                 "host=" + _option_value(self.params.host), "port=%d" % self.params.port, "default-character-set=utf8mb4",
                 *tls_client_options(self.params, family),  # TLS, in the option names of the tool's family (tls.py)
                 # Only the interactive client knows connect-timeout; the dump tool refuses it in [client].
                 "[mysql]", "connect-timeout=%d" % self.params.connect_timeout]
        return write_secret(secrets, "client.cnf", "\n".join(lines) + "\n")

    def dump_command(self, target, fmt, jobs, compress_level, defaults_file="<0600 defaults file>"):
        return [self.dump_tool, "--defaults-extra-file=" + defaults_file, "--single-transaction", "--routines", "--triggers",
                "--events", "--hex-blob", "--no-tablespaces", "--skip-dump-date", *self._family_options(), self.params.database]

    def dump(self, target, fmt, jobs, compress_level, secrets, feed=None):
        argv = self.dump_command(target, fmt, jobs, compress_level, defaults_file=self._defaults_file(secrets))
        # stderr to a file: a chatty dump must not block on a full pipe while we read its output.
        errors_file = tempfile.TemporaryFile()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors_file, env=clean_environment())
        try:
            with watching(process, self.stall_timeout) as dog, open(target, "wb") as raw, \
                    gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=compress_level) as compressed:
                self._copy(process.stdout, compressed, feed=feed, dog=dog)
                process.wait()
            errors_file.seek(0)
            errors = errors_file.read()
        except BaseException:
            process.kill()  # e.g. the disk filled up: do not leave the dump running
            process.wait()
            raise
        finally:
            errors_file.close()
        if dog.stalled:
            raise ConnectionLost(dog.message(argv[0], "%s:%s" % (self.params.host, self.params.port)))
        if process.returncode != 0:
            raise ClientError("%s exited with %d: %s" % (argv[0], process.returncode, tail(errors, self.params.password)))

    def dump_with_counts(self, engine, target, fmt, jobs, compress_level, tables, secrets, feed=None):
        """mysqldump reads in a transaction of its own: count just before and just after it."""
        self.stage = "counting rows"
        before = engine.row_counts(tables)
        self.stage = "dumping"
        self.dump(target, fmt, jobs, compress_level, secrets, feed)
        self.stage = "counting rows after the dump"
        return before, engine.row_counts(tables)

    @staticmethod
    def schema_in_copy(schema, copy_database):
        return copy_database  # on MySQL the database is the schema

    def tables_in(self, path):
        """The tables the dump creates (its CREATE TABLE statements)."""
        tables = set()
        try:
            with gzip.open(path, "rb") as dump:
                for line in dump:
                    match = CREATE_TABLE.match(line)
                    if match:
                        tables.add((self.params.database, match.group(1).decode("utf-8").replace("``", "`")))
        except (OSError, EOFError) as exc:
            raise ClientError("the dump %s cannot be read: %s" % (path, exc)) from None
        return tables

    def restore(self, path, database, jobs, secrets, clean=False):
        # clean needs nothing more: the dump drops each table before it creates it (mysqldump's --add-drop-table).
        argv = [self.client, "--defaults-extra-file=" + self._defaults_file(secrets, self.client), "--batch", database]
        with tempfile.TemporaryFile() as errors_file:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors_file, env=clean_environment())
            self.stage = "restoring"
            with watching(process, self.stall_timeout) as dog:
                try:
                    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as dump:
                        self._copy(dump, process.stdin, raw, dog=dog)
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # the client stopped reading: its exit code and stderr say why
                except (OSError, EOFError) as exc:
                    process.kill()
                    process.wait()
                    raise ClientError("the dump %s cannot be read: %s" % (path, exc)) from None
                process.wait()  # the last statements run after the input ends: still watched
            errors_file.seek(0)
            errors = errors_file.read()
        if dog.stalled:
            raise ConnectionLost(dog.message(argv[0], "%s:%s" % (self.params.host, self.params.port)))
        if process.returncode != 0:
            raise ClientError("%s exited with %d: %s" % (argv[0], process.returncode, tail(errors, self.params.password)))

    def dump_files(self, path):
        return [path]

    # The restore check's scratch server (engines/mysql/scratch.py).

    def scratch_server(self, server_version, root):
        return scratch.check_server(server_version, root)

    def prepare_scratch(self, engine, server, password):
        """The scratch server's login and the database the dump goes into; the ConnectionParams that reach it."""
        user = "safeindex_check"
        server.add_user(user, password)
        conn = server.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE %s" % scratch.quote_identifier(engine.params.database))
        finally:
            conn.close()
        return ConnectionParams(engine=engine.params.engine, host=server.host, port=server.port, database=engine.params.database,
                                user=user, password=password, ssl_mode="disable")

    def check_loadable(self, engine, server):
        """Why the scratch server cannot load this database's dump (collations MariaDB lacks), or None."""
        return scratch.missing_collations(scratch.collations_in_use(engine), server.collations(), engine.server_version(),
                                          server.version())

    def for_server(self, params):
        """These client tools, pointed at another server (the scratch server)."""
        copy = type(self)(params, os.path.dirname(self.client))
        copy.stall_timeout = self.stall_timeout
        return copy

    def restore_feed(self, database, secrets):
        """The mariadb client reading the dump's SQL on its stdin."""
        argv = [self.client, "--defaults-extra-file=" + self._defaults_file(secrets), "--batch", database]
        return RestoreFeed(argv, clean_environment(), self.params.password)

    def restore_after_feed(self, path, database, jobs, secrets):
        """Nothing: the SQL the client read is the whole dump."""
