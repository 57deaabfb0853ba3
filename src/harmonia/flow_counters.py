"""Pipeline-flow and lender-outcome counters kept by triggers, so `reports_pipeline` and `reports_lenders` read
buckets instead of counting a period's rows (160k stage moves in a quarter at 1M contacts).

Every counted row adds 1 (and an amount in cents) to one bucket of each span in `SPANS` — its UTC quarter-hour,
hour, 3 hours, day, 7 days and 28 days since 1970 (each divides the next, so a window splits into few whole buckets: see
`services.reports.split`). A report window runs from local midnight to local midnight in the tenant's time zone;
every offset in use is a multiple of 15 minutes, so a window is always whole buckets and no row is read.

What a row counts is a function of that row alone, so the triggers' add on insert and subtract on delete always
cancel: a stage change carries the facts of its move (`owner_id`, `direction`, `days_in_from_stage`, written by
`services.deals` when the move is made), a submission its status, decision time, offer and decline reason.

- `stage_flow_counts` (per owner, and under owner '' for every owner): per stage `entered`; `new` (a deal's first
  stage); for the stage a deal left, `forward`, `lost`, and `d:<days>` — whole days spent in it, exact below 8, then
  the lower edge of 8, 10, 14, 21, 30, 45, 60 or 90 days (the median is read from these).
- `lender_outcome_counts` (per lender): `submitted` at submission; at the decision `approved` (approved or funded),
  `declined` and `r:<reason>`, `offered` (cents = the offer), `funded` (cents = the funded offer), and `h:<hours>`
  to the decision: 0, or the lower edge of 1, 2, 4, 8, 12, 24, 48, 72, 120 or 168 hours.

Both tables are clustered on their primary key on SQLite (WITHOUT ROWID), so a read of a bucket range is one index
walk with the counts in it.

Defined once here; migration 0020_reports applies it and records `definition_digest()` (a test compares).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import pairwise

from sqlalchemy import Connection, text

from .counters import DAY, HOUR, QUARTER, _epoch

__all__ = [
    "DAYS_BINS",
    "HOURS_BINS",
    "SOURCES",
    "SPANS",
    "definition_digest",
    "postgres_ddl",
    "recount",
    "sqlite_triggers",
]

# Three hours between the hour and the day: a window's edges at a local midnight west or east of UTC then take a few
# hours and 3-hour blocks instead of up to 23 hours (at 1M contacts an hour bucket holds ~75 moves).
SPANS = (QUARTER, HOUR, 3 * HOUR, DAY, 7 * DAY, 28 * DAY)
# Few bands, because every band is a counter row per stage or lender per bucket and the read sums them all.
DAYS_BINS = (8, 10, 14, 21, 30, 45, 60, 90)  # whole days in a stage: exact below the first, then these lower edges
HOURS_BINS = (1, 2, 4, 8, 12, 24, 48, 72, 120, 168)  # whole hours to a lender's decision: 0, then these lower edges


def _bin(expr: str, edges: tuple[int, ...]) -> str:
    """`expr` (a whole number) as its bin: itself below the first edge, else the largest edge not above it."""
    whens = " ".join(f"WHEN {expr} < {b} THEN {a}" for a, b in pairwise(edges))
    return f"CAST(CASE WHEN {expr} < {edges[0]} THEN {expr} {whens} ELSE {edges[-1]} END AS VARCHAR(8))"


@dataclass(frozen=True)
class Source:
    """One table whose rows are counted: which counter table, its key column, and what each row contributes."""

    table: str
    counts: str  # the counter table
    key: str  # the counter's key column (a stage or a lender)
    per_owner: bool  # also counted under the row's owner_id (and always under '')
    # (time column, key expression, metric expression, cents expression, condition), each over the row alias {r}
    parts: tuple[tuple[str, str, str, str, str], ...]
    watched: tuple[str, ...]  # columns whose change moves a count


def _days(r: str) -> str:
    return f"{r}.days_in_from_stage"


def _hours(dialect: str, r: str) -> str:
    return f"(({_epoch(dialect, f'{r}.decided_at')} - {_epoch(dialect, f'{r}.submitted_at')}) / 3600)"


_DECIDED = "{r}.decided_at IS NOT NULL AND {r}.status <> 'submitted'"


def _sources(dialect: str) -> dict[str, Source]:
    return {
        "stage_changes": Source(
            "stage_changes", "stage_flow_counts", "stage_id", True,
            (
                ("at", "{r}.to_stage_id", "'entered'", "0", "1 = 1"),
                ("at", "{r}.to_stage_id", "'new'", "0", "{r}.from_stage_id IS NULL"),
                ("at", "{r}.from_stage_id", "'forward'", "0", "{r}.direction = 'forward'"),
                ("at", "{r}.from_stage_id", "'lost'", "0", "{r}.direction = 'lost'"),
                ("at", "{r}.from_stage_id", "'d:' || " + _bin(_days("{r}"), DAYS_BINS), "0",
                 "{r}.from_stage_id IS NOT NULL AND {r}.days_in_from_stage IS NOT NULL"),
            ),
            ("at", "to_stage_id", "from_stage_id", "owner_id", "direction", "days_in_from_stage"),
        ),
        "submissions": Source(
            "submissions", "lender_outcome_counts", "lender_id", False,
            (
                ("submitted_at", "{r}.lender_id", "'submitted'", "0", "1 = 1"),
                ("decided_at", "{r}.lender_id", "'approved'", "0", _DECIDED + " AND {r}.status IN ('approved', 'funded')"),
                ("decided_at", "{r}.lender_id", "'declined'", "0", _DECIDED + " AND {r}.status = 'declined'"),
                ("decided_at", "{r}.lender_id", "'r:' || COALESCE({r}.decline_reason, 'unspecified')", "0",
                 _DECIDED + " AND {r}.status = 'declined'"),
                ("decided_at", "{r}.lender_id", "'offered'", "{r}.offer_amount",
                 _DECIDED + " AND {r}.status IN ('approved', 'funded') AND {r}.offer_amount IS NOT NULL"),
                ("decided_at", "{r}.lender_id", "'funded'", "COALESCE({r}.offer_amount, 0)",
                 _DECIDED + " AND {r}.status = 'funded'"),
                ("decided_at", "{r}.lender_id", "'h:' || " + _bin(_hours(dialect, "{r}"), HOURS_BINS), "0", _DECIDED),
            ),
            ("lender_id", "status", "submitted_at", "decided_at", "offer_amount", "decline_reason"),
        ),
    }  # fmt: skip


SOURCES = tuple(_sources("sqlite"))


def _owners(src: Source, r: str) -> list[tuple[str, str]]:
    """(owner expression, extra condition) under which a row is counted."""
    if not src.per_owner:
        return []
    return [("''", "1 = 1"), (f"{r}.owner_id", f"{r}.owner_id IS NOT NULL")]


def _contributions(dialect: str, src: Source, r: str, source_from: str, only: str = "1 = 1") -> str:
    """A SELECT of (tenant_id, e, [owner_id,] key, metric, cents) for the row(s) `r`: one line per counted fact."""
    selects = []
    for time, key, metric, cents, condition in src.parts:
        owners = _owners(src, r) or [("", "1 = 1")]
        for owner, owner_condition in owners:
            owner_col = f"{owner} AS owner_id, " if owner else ""
            selects.append(
                f"SELECT {r}.tenant_id AS tenant_id, {_epoch(dialect, f'{r}.{time}')} AS e, {owner_col}"
                f"{key.format(r=r)} AS k, {metric.format(r=r)} AS metric, {cents.format(r=r)} AS cents "
                f"{source_from} WHERE {only} AND {condition.format(r=r)} AND {owner_condition} AND {r}.{time} IS NOT NULL"
            )
    return " UNION ALL ".join(selects)


def _columns(src: Source) -> str:
    return ("owner_id, " if src.per_owner else "") + f"{src.key}"


def _pk(src: Source) -> str:
    if src.per_owner:
        return f"tenant_id, owner_id, span, bucket, {src.key}, metric"
    return f"tenant_id, span, bucket, {src.key}, metric"


def _upsert(src: Source) -> str:
    return (f"ON CONFLICT ({_pk(src)}) DO UPDATE SET n = {src.counts}.n + excluded.n, "
            f"cents = {src.counts}.cents + excluded.cents")  # fmt: skip


def _spans_sqlite() -> str:
    return " UNION ALL ".join(f"SELECT {s} AS span" for s in SPANS)


def _bump(dialect: str, src: Source, r: str, delta: int) -> str:
    owner = "c.owner_id, " if src.per_owner else ""
    spans = (
        f"({_spans_sqlite()}) AS s"
        if dialect == "sqlite"
        else f"unnest(ARRAY[{', '.join(map(str, SPANS))}]) AS s(span)"
    )
    return (
        f"INSERT INTO {src.counts} (tenant_id, span, bucket, {_columns(src)}, metric, n, cents) "
        f"SELECT c.tenant_id, s.span, c.e - c.e % s.span, {owner}c.k, c.metric, {delta}, {delta} * c.cents "
        f"FROM ({_contributions(dialect, src, r, '')}) AS c, {spans} WHERE c.k IS NOT NULL {_upsert(src)};"
    )


def sqlite_triggers() -> dict[str, str]:
    out: dict[str, str] = {}
    for src in _sources("sqlite").values():
        add, remove = _bump("sqlite", src, "NEW", 1), _bump("sqlite", src, "OLD", -1)
        name = f"flow_{src.table}"
        # a bulk load counts once at the end instead (bulk.py, `recount`)
        out[f"{name}_ai"] = f"CREATE TRIGGER {name}_ai AFTER INSERT ON {src.table} WHEN row_upkeep() BEGIN {add} END"
        out[f"{name}_ad"] = f"CREATE TRIGGER {name}_ad AFTER DELETE ON {src.table} BEGIN {remove} END"
        out[f"{name}_au"] = (
            f"CREATE TRIGGER {name}_au AFTER UPDATE OF {', '.join(src.watched)} ON {src.table} BEGIN {remove} {add} END"
        )
    return out


def postgres_ddl() -> list[str]:
    out = []
    for src in _sources("postgresql").values():
        out.append(
            f"CREATE FUNCTION flow_count_{src.table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {_bump('postgresql', src, 'OLD', -1)} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_bump('postgresql', src, 'NEW', 1)} END IF; "
            "RETURN NULL; END $$"
        )
        out.append(
            f"CREATE TRIGGER flow_{src.table} AFTER INSERT OR DELETE OR UPDATE OF {', '.join(src.watched)} "
            f"ON {src.table} FOR EACH ROW EXECUTE FUNCTION flow_count_{src.table}()"
        )
    return out


def drop_ddl(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP FUNCTION IF EXISTS flow_count_{t}() CASCADE" for t in SOURCES]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in sqlite_triggers()]


def definition_digest() -> str:
    """A fingerprint of the counters' definition; the newest migration that (re)creates them records it."""
    ddl = "\n".join([*sqlite_triggers().values(), *postgres_ddl()])
    return hashlib.sha256(ddl.encode()).hexdigest()[:16]


def recount(conn: Connection, tenant_id: str | None = None) -> None:
    """Rebuild both counter tables (of `tenant_id`, or of every tenant) from the rows, in one write transaction."""
    dialect = conn.dialect.name
    only = "r.tenant_id = :tenant" if tenant_id else "1 = 1"
    spans = f"({_spans_sqlite()}) AS s"
    for src in _sources(dialect).values():
        conn.execute(text(f"DELETE FROM {src.counts}" + (" WHERE tenant_id = :tenant" if tenant_id else "")),
                     {"tenant": tenant_id})  # fmt: skip
        rows = _contributions(dialect, src, "r", f"FROM {src.table} r", only)
        owner = "c.owner_id, " if src.per_owner else ""
        conn.execute(
            text(
                f"INSERT INTO {src.counts} (tenant_id, span, bucket, {_columns(src)}, metric, n, cents) "
                f"SELECT c.tenant_id, s.span, c.e - c.e % s.span AS b, {owner}c.k, c.metric, count(*), sum(c.cents) "
                f"FROM ({rows}) AS c, {spans} WHERE c.k IS NOT NULL "
                f"GROUP BY c.tenant_id, s.span, c.e - c.e % s.span, {owner}c.k, c.metric"
            ),
            {"tenant": tenant_id},
        )
