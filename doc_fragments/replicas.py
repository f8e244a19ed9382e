"""The replica options of the modules that read replica lag (module_utils/safeindex/run/replica_lag.py
REPLICA_ARGUMENT_SPEC): db_preflight, db_index, db_health."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  replicas:
    description:
      - The host's replicas, each read on a connection of its own for its own view of its lag. PostgreSQL also reads
        every standby from the primary (C(pg_stat_replication)) without this; MySQL/MariaDB replicas know their lag
        only themselves (C(SHOW REPLICA STATUS)), so there the primary alone shows only that replicas are connected.
      - Each entry has C(host) and C(port), and optionally C(name) (how messages name it; C(host:port) when unset; for
        PostgreSQL the standby's C(application_name) joins it with the primary's row), C(user) and C(password)
        (the host's connection user and password when unset).
      - The user needs to read replication status there. PostgreSQL C(pg_monitor); MariaDB 10.5.9+ C(SLAVE MONITOR)
        (C(REPLICA MONITOR)); MySQL and older MariaDB C(REPLICATION CLIENT).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: The replica's address.
        type: str
        required: true
      port:
        description: Its port; the host's when unset.
        type: int
      name:
        description: How messages name it.
        type: str
      user:
        description: The user to connect as there; the host's when unset.
        type: str
      password:
        description: That user's password; the host's when unset.
        type: str
  max_replication_lag_seconds:
    description:
      - Most lag in seconds a replica may have; unset, only reported.
      - PostgreSQL C(replay_lag) from the primary and the time since the standby's last replayed transaction while it has
        WAL to replay; MySQL/MariaDB C(Seconds_Behind_Master) (C(Seconds_Behind_Source)).
    type: float
  max_replication_lag_bytes:
    description:
      - Most WAL in bytes a PostgreSQL standby may be behind (written on the primary, not yet replayed there); unset,
        only reported. The surer sign on PostgreSQL, as C(replay_lag) keeps its last value while replay is paused.
    type: int
"""
