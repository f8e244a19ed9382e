"""MySQL and MariaDB: ALTER TABLE ... ALGORITHM=INPLACE, LOCK=NONE, read back with SHOW INDEX.

InnoDB's online DDL takes an exclusive metadata lock at its start and at its end; while it waits
for one, every new statement on the table queues behind it. So the wait is short
(lock_wait_timeout), retried, and a build is not started while an old transaction is open.

The engine is one class made of one mixin per concern, each in its own module here; where MariaDB and MySQL
differ, the mixins ask self.features (the server's flavour, engines/mysql/features.py).
"""

from ansible.module_utils.safeindex.engines.base import Engine
from ansible.module_utils.safeindex.engines.mysql.backup import MysqlBackup
from ansible.module_utils.safeindex.engines.mysql.catalog import MysqlCatalog
from ansible.module_utils.safeindex.engines.mysql.connection import MysqlConnection
from ansible.module_utils.safeindex.engines.mysql.duplicates import MysqlDuplicates
from ansible.module_utils.safeindex.engines.mysql.explain import MysqlExplain
from ansible.module_utils.safeindex.engines.mysql.features import FEATURES
from ansible.module_utils.safeindex.engines.mysql.online_log import MysqlOnlineLog
from ansible.module_utils.safeindex.engines.mysql.partitions import MysqlPartitions
from ansible.module_utils.safeindex.engines.mysql.progress import MysqlProgress
from ansible.module_utils.safeindex.engines.mysql.replication import MysqlReplication
from ansible.module_utils.safeindex.engines.mysql.sessions import MysqlSessions
from ansible.module_utils.safeindex.engines.mysql.statements import MysqlStatements


class MysqlEngine(
    MysqlConnection, MysqlCatalog, MysqlStatements, MysqlSessions, MysqlExplain, MysqlBackup, MysqlProgress, MysqlDuplicates,
    MysqlOnlineLog, MysqlPartitions, MysqlReplication, Engine,
):
    FEATURES = FEATURES
