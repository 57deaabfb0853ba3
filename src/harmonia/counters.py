"""Activity counters kept in the write path, so `reports_activity` reads buckets instead of counting rows.

What is counted (the report's definitions): outbound calls, emails and SMS that went out (`sent`/`delivered`) per
sender, notes per author, stage moves (not a deal's first stage) per mover. Each event adds 1 to three buckets of
`activity_counts` — its UTC quarter-hour, hour and day — keyed by tenant, user and metric. Triggers keep them on
both backends (inserts, deletes, and the updates that move an event: a status that becomes `sent`, an author
changed), so no write path can forget.

A report window is local midnight to now in the tenant's timezone; every offset in use is a multiple of 15 minutes,
so it reads whole days, whole hours beside them, whole quarter-hours beside those, and counts rows only in the
partial quarter-hour at each edge (`ops/reports.py`). The read is bounded by users × metrics × (days + 2 × (23 + 3)),
whatever the table sizes. (Quarter-hours and days alone measured 5.8 ms at 1M contacts: up to 2 × 96 quarters.)

Defined once here; migration 0007 applies it, and a test compares `definition_digest()` with what it recorded.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text

__all__ = [
    "DAY",
    "HOUR",
    "QUARTER",
    "SOURCES",
    "SPANS",
    "definition_digest",
    "postgres_ddl",
    "recount",
    "sqlite_triggers",
]

QUARTER, HOUR, DAY = 900, 3600, 86400
SPANS = (QUARTER, HOUR, DAY)
TABLE = "activity_counts"

# table: (time column, user column, metric over {r}, which rows count over {r}, columns whose change moves a count)
SOURCES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "messages": (
        "created_at", "sent_by",
        "CASE {r}.channel WHEN 'call' THEN 'calls' WHEN 'email' THEN 'emails' ELSE 'sms' END",
        "{r}.direction = 'outbound' AND {r}.status IN ('sent', 'delivered') AND {r}.channel IN ('call', 'email', 'sms')",
        ("created_at", "sent_by", "channel", "direction", "status"),
    ),
    "notes": ("created_at", "author_id", "'notes'", "1 = 1", ("created_at", "author_id")),
    "stage_changes": ("at", "created_by", "'stage_moves'", "{r}.from_stage_id IS NOT NULL",
                      ("at", "created_by", "from_stage_id")),
}  # fmt: skip

_UPSERT = f"ON CONFLICT (tenant_id, span, bucket, user_id, metric) DO UPDATE SET n = {TABLE}.n + excluded.n"


def _epoch(dialect: str, expr: str) -> str:
    if dialect == "sqlite":
        # whole seconds of the stored text: SQLite's date functions round to milliseconds, which put an event at
        # 10:14:59.9999 into the 10:15 quarter-hour
        return f"CAST(strftime('%s', substr({expr}, 1, 19)) AS INTEGER)"
    return f"CAST(floor(extract(epoch FROM {expr})) AS bigint)"


def _spans() -> str:
    return " UNION ALL ".join(f"SELECT {s} AS span" for s in SPANS)


def _bump_sqlite(table: str, r: str, delta: int) -> str:
    time, user, metric, counted, _ = SOURCES[table]
    return (
        f"INSERT INTO {TABLE} (tenant_id, span, bucket, user_id, metric, n) "
        f"SELECT {r}.tenant_id, s.span, t.e - t.e % s.span, {r}.{user}, {metric.format(r=r)}, {delta} "
        f"FROM (SELECT {_epoch('sqlite', f'{r}.{time}')} AS e) AS t, ({_spans()}) AS s "
        f"WHERE {counted.format(r=r)} AND {r}.{user} IS NOT NULL {_UPSERT};"
    )


def sqlite_triggers() -> dict[str, str]:
    out: dict[str, str] = {}
    for table, (*_, columns) in SOURCES.items():
        add, remove = _bump_sqlite(table, "NEW", 1), _bump_sqlite(table, "OLD", -1)
        # a bulk load counts once at the end instead (bulk.py, `recount`)
        out[f"activity_{table}_ai"] = (
            f"CREATE TRIGGER activity_{table}_ai AFTER INSERT ON {table} WHEN row_upkeep() BEGIN {add} END"
        )
        out[f"activity_{table}_ad"] = f"CREATE TRIGGER activity_{table}_ad AFTER DELETE ON {table} BEGIN {remove} END"
        out[f"activity_{table}_au"] = (
            f"CREATE TRIGGER activity_{table}_au AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"BEGIN {remove} {add} END"
        )
    return out


def postgres_ddl() -> list[str]:
    out = [
        "CREATE FUNCTION activity_bump(t varchar, at timestamp, u varchar, m varchar, d integer) RETURNS void "
        f"LANGUAGE sql AS $$ INSERT INTO {TABLE} (tenant_id, span, bucket, user_id, metric, n) "
        f"SELECT t, s, ({_epoch('postgresql', 'at')} / s) * s, u, m, d "
        f"FROM unnest(ARRAY[{', '.join(map(str, SPANS))}]) AS s {_UPSERT} $$"
    ]
    for table, (time, user, metric, counted, columns) in SOURCES.items():

        def bump(r: str, delta: int, time: str = time, user: str = user, metric: str = metric,
                 counted: str = counted) -> str:  # fmt: skip
            return (
                f"IF {counted.format(r=r)} AND {r}.{user} IS NOT NULL THEN "
                f"PERFORM activity_bump({r}.tenant_id, {r}.{time}, {r}.{user}, {metric.format(r=r)}, {delta}); "
                "END IF;"
            )

        out.append(
            f"CREATE FUNCTION activity_count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {bump('OLD', -1)} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {bump('NEW', 1)} END IF; "
            "RETURN NULL; END $$"
        )
        out.append(
            f"CREATE TRIGGER activity_{table} AFTER INSERT OR DELETE OR UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION activity_count_{table}()"
        )
    return out


def definition_digest() -> str:
    """A fingerprint of the counters' definition; the newest migration that (re)creates them records it."""
    ddl = "\n".join([*sqlite_triggers().values(), *postgres_ddl()])
    return hashlib.sha256(ddl.encode()).hexdigest()[:16]


def recount(conn: Connection, tenant_id: str | None = None) -> None:
    """Rebuild the counters (of `tenant_id`, or of every tenant) from the rows, in one write transaction."""
    dialect = conn.dialect.name
    only = "WHERE tenant_id = :tenant" if tenant_id else ""
    conn.execute(text(f"DELETE FROM {TABLE} {only}"), {"tenant": tenant_id})
    for table, (time, user, metric, counted, _) in SOURCES.items():
        where = f"{counted.format(r='r')} AND r.{user} IS NOT NULL" + (
            " AND r.tenant_id = :tenant" if tenant_id else ""
        )
        conn.execute(
            text(
                f"INSERT INTO {TABLE} (tenant_id, span, bucket, user_id, metric, n) "
                "SELECT tenant_id, span, e - e % span, user_id, metric, count(*) FROM ("
                f"SELECT r.tenant_id, {_epoch(dialect, f'r.{time}')} AS e, r.{user} AS user_id, "
                f"{metric.format(r='r')} AS metric FROM {table} r WHERE {where}) AS x, ({_spans()}) AS s "
                "GROUP BY tenant_id, span, e - e % span, user_id, metric"
            ),
            {"tenant": tenant_id},
        )
