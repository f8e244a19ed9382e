"""PostgreSQL: CREATE INDEX CONCURRENTLY on an autocommit connection, read back from pg_catalog.

The engine is one class made of one mixin per concern, each in its own module here.
"""

from ansible.module_utils.safeindex.engines.base import Engine
from ansible.module_utils.safeindex.engines.postgresql.amcheck import PostgresAmcheck
from ansible.module_utils.safeindex.engines.postgresql.backup import PostgresBackup
from ansible.module_utils.safeindex.engines.postgresql.catalog import PostgresCatalog
from ansible.module_utils.safeindex.engines.postgresql.connection import PostgresConnection
from ansible.module_utils.safeindex.engines.postgresql.duplicates import PostgresDuplicates
from ansible.module_utils.safeindex.engines.postgresql.explain import PostgresExplain
from ansible.module_utils.safeindex.engines.postgresql.features import FEATURES
from ansible.module_utils.safeindex.engines.postgresql.partitions import PostgresPartitions
from ansible.module_utils.safeindex.engines.postgresql.prepared import PostgresPrepared
from ansible.module_utils.safeindex.engines.postgresql.progress import PostgresProgress
from ansible.module_utils.safeindex.engines.postgresql.replication import PostgresReplication
from ansible.module_utils.safeindex.engines.postgresql.sessions import PostgresSessions
from ansible.module_utils.safeindex.engines.postgresql.statements import PostgresStatements


class PostgresEngine(
    PostgresConnection, PostgresCatalog, PostgresStatements, PostgresSessions, PostgresExplain, PostgresBackup,
    PostgresProgress, PostgresDuplicates, PostgresPrepared, PostgresAmcheck, PostgresPartitions, PostgresReplication,
    Engine,
):
    FEATURES = FEATURES
