"""The plan walkers on real EXPLAIN JSON, captured from the sandboxes (PostgreSQL 15, MariaDB 10.11; cost fields trimmed)."""

from ansible.module_utils.safeindex.engines.interface.explain import describe
from ansible.module_utils.safeindex.engines.mysql.explain_plan import MysqlPlanReading
from ansible.module_utils.safeindex.engines.postgresql.explain_plan import PostgresPlanReading

# Each engine reads its own plans (the engine object inherits these); no server needed.
PLANS = {"postgresql": PostgresPlanReading(), "mysql": MysqlPlanReading()}

# EXPLAIN (FORMAT JSON) SELECT * FROM query_log WHERE user_id IN (3, 7, 11) ORDER BY created_at DESC LIMIT 5
PG_LIMIT_SORT_BITMAP = [{"Plan": {
    "Node Type": "Limit", "Plan Rows": 5,
    "Plans": [{"Node Type": "Sort", "Parent Relationship": "Outer", "Sort Key": ["created_at DESC"],
               "Plans": [{"Node Type": "Bitmap Heap Scan", "Parent Relationship": "Outer", "Relation Name": "query_log",
                          "Alias": "query_log", "Recheck Cond": "(user_id = ANY ('{3,7,11}'::bigint[]))",
                          "Plans": [{"Node Type": "Bitmap Index Scan", "Parent Relationship": "Outer",
                                     "Index Name": "idx_query_log_user_created",
                                     "Index Cond": "(user_id = ANY ('{3,7,11}'::bigint[]))"}]}]}]}}]

# EXPLAIN (FORMAT JSON) SELECT * FROM message WHERE conversation_id = 5 OR timestamp < '2025-06-02'
PG_BITMAP_OR = [{"Plan": {
    "Node Type": "Bitmap Heap Scan", "Relation Name": "message", "Alias": "message",
    "Plans": [{"Node Type": "BitmapOr", "Parent Relationship": "Outer",
               "Plans": [{"Node Type": "Bitmap Index Scan", "Parent Relationship": "Member",
                          "Index Name": "idx_message_conversation_role", "Index Cond": "(conversation_id = 5)"},
                         {"Node Type": "Bitmap Index Scan", "Parent Relationship": "Member",
                          "Index Name": "idx_message_timestamp",
                          "Index Cond": "(\"timestamp\" < '2025-06-02 00:00:00'::timestamp without time zone)"}]}]}}]

# EXPLAIN (FORMAT JSON) SELECT u.username, count(*) FROM "user" u JOIN conversation c ON c.user_id = u.id
#   WHERE u.username = 'user_00042' GROUP BY u.username   (200 users: the planner reads "user" whole)
PG_JOIN_SEQ_AND_INDEX_ONLY = [{"Plan": {
    "Node Type": "Aggregate", "Strategy": "Sorted", "Group Key": ["u.username"],
    "Plans": [{"Node Type": "Nested Loop", "Parent Relationship": "Outer", "Join Type": "Inner",
               "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "user", "Alias": "u",
                          "Filter": "((username)::text = 'user_00042'::text)"},
                         {"Node Type": "Index Only Scan", "Parent Relationship": "Inner", "Scan Direction": "Forward",
                          "Index Name": "idx_conversation_user_created", "Relation Name": "conversation", "Alias": "c",
                          "Index Cond": "(user_id = u.id)"}]}]}}]

# EXPLAIN (FORMAT JSON) SELECT * FROM conversation WHERE user_id = 1 ORDER BY created_at DESC LIMIT 10 (after the build)
PG_LIMIT_INDEX_BACKWARD = [{"Plan": {
    "Node Type": "Limit",
    "Plans": [{"Node Type": "Index Scan", "Parent Relationship": "Outer", "Scan Direction": "Backward",
               "Index Name": "idx_conversation_user_created", "Relation Name": "conversation", "Alias": "conversation",
               "Index Cond": "(user_id = 1)"}]}}]

# The same query before the build: Limit -> Sort -> Seq Scan
PG_LIMIT_SORT_SEQ = [{"Plan": {
    "Node Type": "Limit",
    "Plans": [{"Node Type": "Sort", "Parent Relationship": "Outer", "Sort Key": ["created_at DESC"],
               "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "conversation",
                          "Alias": "conversation", "Filter": "(user_id = 1)"}]}]}}]

# MariaDB: EXPLAIN FORMAT=JSON SELECT * FROM message WHERE conversation_id IN (1,...,10) ORDER BY timestamp DESC LIMIT 5
MARIADB_FILESORT_RANGE = {"query_block": {"select_id": 1, "nested_loop": [{"read_sorted_file": {"filesort": {
    "sort_key": "message.`timestamp` desc",
    "table": {"table_name": "message", "access_type": "range",
              "possible_keys": ["idx_message_conversation_timestamp", "idx_message_conversation_role"],
              "key": "idx_message_conversation_timestamp", "key_length": "8", "used_key_parts": ["conversation_id"],
              "rows": 108, "filtered": 100, "index_condition": "message.conversation_id in (1,2,3,4,5,6,7,8,9,10)"}}}}]}}

# MariaDB before the build: SELECT * FROM conversation WHERE user_id = 1 ORDER BY created_at DESC LIMIT 10
MARIADB_FILESORT_FULL_SCAN = {"query_block": {"select_id": 1, "nested_loop": [{"read_sorted_file": {"filesort": {
    "sort_key": "conversation.created_at desc",
    "table": {"table_name": "conversation", "access_type": "ALL", "rows": 2000, "filtered": 100,
              "attached_condition": "conversation.user_id = 1"}}}}]}}

# MariaDB: the GROUP BY join above; filesort -> temporary_table -> nested_loop
MARIADB_GROUP_BY_JOIN = {"query_block": {"select_id": 1, "filesort": {"sort_key": "u.username", "temporary_table": {"nested_loop": [
    {"table": {"table_name": "u", "access_type": "ref", "possible_keys": ["PRIMARY", "idx_user_username"],
               "key": "idx_user_username", "key_length": "258", "used_key_parts": ["username"], "ref": ["const"],
               "rows": 1, "filtered": 100, "using_index": True}},
    {"table": {"table_name": "c", "access_type": "ref", "possible_keys": ["idx_conversation_user_created"],
               "key": "idx_conversation_user_created", "key_length": "8", "used_key_parts": ["user_id"],
               "ref": ["chatbot.u.id"], "rows": 5, "filtered": 100, "using_index": True}}]}}}}

# MariaDB: SELECT * FROM message WHERE conversation_id = 5 OR timestamp < '2025-06-02' (index merge)
MARIADB_INDEX_MERGE = {"query_block": {"select_id": 1, "nested_loop": [{"table": {
    "table_name": "message", "access_type": "index_merge",
    "possible_keys": ["idx_message_conversation_timestamp", "idx_message_timestamp", "idx_message_conversation_role"],
    "key_length": "8,8",
    "index_merge": {"sort_union": [{"range": {"key": "idx_message_conversation_timestamp", "used_key_parts": ["conversation_id"]}},
                                   {"range": {"key": "idx_message_timestamp", "used_key_parts": ["timestamp"]}}]},
    "rows": 188, "filtered": 100}}]}}

# MariaDB, a table of six rows: a full scan although idx_code is possible
MARIADB_TINY_TABLE = {"query_block": {"select_id": 1, "nested_loop": [{"table": {
    "table_name": "tiny", "access_type": "ALL", "possible_keys": ["idx_code"], "rows": 6, "filtered": 83.33333588,
    "attached_condition": "tiny.`code` = 'a'"}}]}}

# MySQL 8's shape of an ORDER BY: ordering_operation -> table, with the index merge's keys joined by a comma
MYSQL8_ORDERING = {"query_block": {"select_id": 1, "ordering_operation": {"using_filesort": True, "table": {
    "table_name": "message", "access_type": "index_merge", "possible_keys": ["a", "b"], "key": "a,b",
    "used_key_parts": ["conversation_id", "timestamp"]}}}}


def test_postgres_bitmap_index_scan_under_limit_and_sort_is_found():
    assert PLANS["postgresql"].indexes_used(PG_LIMIT_SORT_BITMAP) == ["idx_query_log_user_created"]
    assert PLANS["postgresql"].accesses(PG_LIMIT_SORT_BITMAP) == [
        {"access": "Bitmap Index Scan", "index": "idx_query_log_user_created", "table": None}]
    assert PLANS["postgresql"].full_scans(PG_LIMIT_SORT_BITMAP) == []


def test_postgres_bitmap_or_reads_both_indexes():
    assert PLANS["postgresql"].indexes_used(PG_BITMAP_OR) == ["idx_message_conversation_role", "idx_message_timestamp"]


def test_postgres_join_has_a_sequential_scan_and_an_index_only_scan():
    assert PLANS["postgresql"].indexes_used(PG_JOIN_SEQ_AND_INDEX_ONLY) == ["idx_conversation_user_created"]
    assert PLANS["postgresql"].full_scans(PG_JOIN_SEQ_AND_INDEX_ONLY) == ["user"]
    assert describe(PLANS["postgresql"].accesses(PG_JOIN_SEQ_AND_INDEX_ONLY)) == (
        "Seq Scan on user, Index Only Scan on idx_conversation_user_created")


def test_postgres_before_and_after_the_build():
    assert PLANS["postgresql"].indexes_used(PG_LIMIT_SORT_SEQ) == []
    assert PLANS["postgresql"].full_scans(PG_LIMIT_SORT_SEQ) == ["conversation"]
    assert PLANS["postgresql"].indexes_used(PG_LIMIT_INDEX_BACKWARD) == ["idx_conversation_user_created"]
    assert PLANS["postgresql"].full_scans(PG_LIMIT_INDEX_BACKWARD) == []


def test_mariadb_filesort_nesting_is_walked():
    assert PLANS["mysql"].indexes_used(MARIADB_FILESORT_RANGE) == ["idx_message_conversation_timestamp"]
    assert describe(PLANS["mysql"].accesses(MARIADB_FILESORT_RANGE)) == "range access on idx_message_conversation_timestamp"
    assert PLANS["mysql"].indexes_used(MARIADB_FILESORT_FULL_SCAN) == []
    assert PLANS["mysql"].full_scans(MARIADB_FILESORT_FULL_SCAN) == ["conversation"]


def test_mariadb_join_under_filesort_and_temporary_table():
    assert PLANS["mysql"].indexes_used(MARIADB_GROUP_BY_JOIN) == ["idx_user_username", "idx_conversation_user_created"]
    assert PLANS["mysql"].full_scans(MARIADB_GROUP_BY_JOIN) == []


def test_mariadb_index_merge_members_count_as_used():
    assert PLANS["mysql"].indexes_used(MARIADB_INDEX_MERGE) == ["idx_message_conversation_timestamp", "idx_message_timestamp"]


def test_a_full_scan_of_a_tiny_table_still_names_its_possible_keys():
    assert PLANS["mysql"].indexes_used(MARIADB_TINY_TABLE) == []
    assert PLANS["mysql"].full_scans(MARIADB_TINY_TABLE) == ["tiny"]
    assert PLANS["mysql"].possible_indexes(MARIADB_TINY_TABLE) == ["idx_code"]
    assert PLANS["postgresql"].possible_indexes(PG_LIMIT_SORT_SEQ) == []


def test_mysql8_ordering_operation_and_comma_separated_keys():
    assert PLANS["mysql"].indexes_used(MYSQL8_ORDERING) == ["a", "b"]
