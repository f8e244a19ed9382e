"""PostgreSQL's replicas: the primary's pg_stat_replication (each standby's replay position, so its lag in bytes, and
replay_lag), and a standby's own view (replay paused, WAL received but not replayed, the last replayed transaction)."""

from __future__ import annotations

import re

# pg_stat_replication.state, as run/replica_lag.py names states: a standby still catching up on the primary's WAL
# (catchup, and startup before it) is behind by what its bytes say.
STATES = {"streaming": "streaming", "catchup": "catching_up", "startup": "catching_up", "backup": "unknown",
          "stopping": "stopped"}
APPLICATION_NAME = re.compile(r"(?:^|\s)application_name=('(?:[^'\\]|\\.)*'|\S+)")


class PostgresReplication:
    def replicas_seen_from_primary(self) -> list:
        # Bytes behind: the WAL written (on a cascading standby: received) that the standby has not replayed. They are
        # the surer sign: replay_lag keeps its last value while replay is paused, and is NULL on an idle server.
        rows = self._rows(
            "SELECT COALESCE(application_name, ''), COALESCE(host(client_addr), 'local'), client_port, state,"
            " extract(epoch FROM replay_lag)::float8,"
            " pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END,"
            "                 replay_lsn)::bigint,"
            " sync_state"
            " FROM pg_stat_replication ORDER BY application_name, client_addr, client_port"
        )
        return [{"name": "%s@%s" % (name, address) if name else address, "application_name": name, "address": address,
                 "client_port": port, "state": STATES.get(state, "unknown"), "server_state": state,
                 "lag_seconds": None if lag is None else round(lag, 3),
                 "lag_bytes": None if behind is None else max(int(behind), 0), "sync_state": sync}
                for name, address, port, state, lag, behind, sync in rows]

    def replica_own_view(self) -> dict:
        in_recovery, paused, unreplayed, since_replay, receiver, conninfo, cluster_name = self._rows(
            "SELECT pg_is_in_recovery(),"
            " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,"
            " pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint,"
            " extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,"
            " (SELECT status FROM pg_stat_wal_receiver LIMIT 1),"
            " (SELECT conninfo FROM pg_stat_wal_receiver LIMIT 1),"
            " current_setting('cluster_name')"
        )[0]
        if not in_recovery:
            return {"replicating": False, "paused": None, "io_running": None, "sql_running": None, "lag_seconds": None,
                    "lag_bytes": None, "last_error": "not a standby (pg_is_in_recovery() is false)"}
        unreplayed = None if unreplayed is None else max(int(unreplayed), 0)
        # The time since the last replayed transaction grows on an idle primary too: it is lag only while WAL waits
        # to be replayed (read_replica_lags also takes it when the primary says this standby is behind).
        behind = bool(unreplayed) or bool(paused)
        return {
            "replicating": True,
            "paused": bool(paused),
            "io_running": receiver == "streaming" if receiver is not None else False,
            "sql_running": not paused,
            "lag_seconds": (round(since_replay, 3) if since_replay is not None else None) if behind else 0.0,
            "lag_bytes": unreplayed,
            "last_error": None if receiver is not None else "no WAL receiver: the standby is not streaming from its primary",
            "seconds_since_replay": None if since_replay is None else round(since_replay, 3),
            # What the primary calls this standby (pg_stat_replication.application_name).
            "primary_name": _application_name(conninfo) or cluster_name or "walreceiver",
        }


def _application_name(conninfo: str | None) -> str | None:
    found = APPLICATION_NAME.search(conninfo or "")
    if not found:
        return None
    value = found.group(1)
    return value[1:-1].replace("\\'", "'") if value.startswith("'") else value
