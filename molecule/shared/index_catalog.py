"""Print the secondary indexes of the app's database as JSON ({table, name, definition}, sorted).

prepare.yml records this before the migration; verify.yml compares it after the rollback.
"""

import argparse
import json

from rehearsal_db import add_connection_arguments, connect

POSTGRES_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = current_schema() AND indexname NOT LIKE '%%_pkey'
"""
# One row per index with its columns in order; MariaDB has no single definition string.
MYSQL_INDEXES = """
SELECT TABLE_NAME, INDEX_NAME,
       CONCAT(IF(NON_UNIQUE = 0, 'UNIQUE ', ''), INDEX_TYPE, ' (',
              GROUP_CONCAT(CONCAT(COLUMN_NAME, IFNULL(CONCAT('(', SUB_PART, ')'), ''), IF(COLLATION = 'D', ' DESC', ''))
                           ORDER BY SEQ_IN_INDEX SEPARATOR ', '), ')')
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY'
GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE, INDEX_TYPE
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_connection_arguments(parser)
    args = parser.parse_args()
    conn = connect(args)
    try:
        with conn.cursor() as cur:
            cur.execute(POSTGRES_INDEXES if args.engine == "postgresql" else MYSQL_INDEXES)
            rows = cur.fetchall()
    finally:
        conn.close()
    indexes = sorted(({"table": table, "name": name, "definition": definition} for table, name, definition in rows),
                     key=lambda index: (index["table"], index["name"]))
    print(json.dumps(indexes))


if __name__ == "__main__":
    main()
