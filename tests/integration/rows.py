"""Rows of one statement on a connection the caller opened (conftest's query, the replica fixtures' admin queries)."""


def rows_of(conn, statement, params=None):
    """Rows of one query on this connection, which it closes."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()
