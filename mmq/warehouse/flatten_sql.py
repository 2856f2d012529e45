"""The fast path of flattening issues and topics: DuckDB parses the raw bodies where they lie.

``flatten.flatten_issues`` / ``flatten_topics`` are the reference: this module yields the same
rows for every asset whose bodies are *plain* — only known keys, each value of the type the
reference reads without coercing (strings for text, JSON integers in INTEGER range, strict ISO
timestamps and dates, objects and lists of objects where those are expected). Such rows have
no ``_extra``, so nothing is lost by computing them in SQL. Every other asset is listed in
:attr:`StagedResults.python_assets` and flattened by the reference in Python, so odd bodies
keep their exact ``_extra``.

How: each body is parsed twice by DuckDB — once by ``json_structure`` (the merged shape of all
its objects: an unknown key or a value of another type shows up there; the few distinct shapes
are judged in Python by :func:`plain_shape`) and once by a typed ``json_transform`` — and
values are then checked in SQL (ranges, timestamp formats, NULL list elements). Bodies in
``api_responses`` are written by ``json.dumps`` of a parsed dict, so they hold no duplicate
keys (where DuckDB and Python would pick different values).

Rows land in temporary tables named in :attr:`StagedResults.tables`; the caller inserts them
and calls :meth:`StagedResults.drop`.
"""

from __future__ import annotations

import itertools
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from mmq.contract import OPEN_STATUSES

TEXT, INT, NUM, TIME, ANY = "text", "int", "num", "time", "any"
RULE_FIELDS = {
    "code": TEXT,
    "title": TEXT,
    "category": TEXT,
    "regulator": TEXT,
    "parentCodes": [TEXT],
    "relatedCodes": [TEXT],
}
PRECEDENT_FIELDS = {"url": TEXT, "title": TEXT, "decision": TEXT, "date": TIME}
ISSUE_FIELDS = {
    "id": TEXT,
    "referenceNumber": INT,
    "ruleCode": TEXT,
    "summary": TEXT,
    "severity": TEXT,
    "status": TEXT,
    "sidekickId": TEXT,
    "createdAt": TIME,
    "updatedAt": TIME,
    "severityReasoning": TEXT,
    "severityReasoningHeadline": TEXT,
    "ruleContext": RULE_FIELDS,
    "evidence": ANY,
    "precedents": [PRECEDENT_FIELDS],
}
ANCHOR_FIELDS = {"kind": TEXT, "start": NUM, "end": NUM, "page": INT}
MEMBER_FIELDS = {"id": TEXT, "...": ANY}  # only the id of a member is read
TOPIC_FIELDS = {
    "id": TEXT,
    "title": TEXT,
    "summary": TEXT,
    "kind": TEXT,
    "anchor": ANCHOR_FIELDS,
    "issues": [MEMBER_FIELDS],
}
ISSUES_PAGE = {"issues": [ISSUE_FIELDS], "...": ANY}  # other page keys are not read
TOPICS_PAGE = {
    "topics": [TOPIC_FIELDS],
    "orphanIssues": [MEMBER_FIELDS],
    "metadata": {"clusteringModel": TEXT, "...": ANY},
    "...": ANY,
}
# json_structure's names for the JSON types each kind accepts without coercion.
ACCEPTS = {
    TEXT: {"VARCHAR", "NULL"},
    INT: {"UBIGINT", "BIGINT", "NULL"},
    NUM: {"UBIGINT", "BIGINT", "DOUBLE", "NULL"},
    TIME: {"VARCHAR", "NULL"},
}
DUCKDB_TYPE = {TEXT: "VARCHAR", INT: "DOUBLE", NUM: "DOUBLE", TIME: "VARCHAR", ANY: "JSON"}

# Shapes datetime.fromisoformat / date.fromisoformat parse as DuckDB's cast does.
TIMESTAMP_RE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{6})?(Z|\+00:00)"
)
DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

MACROS = f"""
CREATE OR REPLACE TEMP MACRO mmq_ok_int(x) AS
    x IS NULL OR (x = floor(x) AND x BETWEEN -2147483648 AND 2147483647);
CREATE OR REPLACE TEMP MACRO mmq_ok_time(s) AS s IS NULL OR (
    regexp_full_match(s, '{TIMESTAMP_RE}') AND left(s, 4) <> '0000'
    AND try_cast(s AS TIMESTAMPTZ) IS NOT NULL);
CREATE OR REPLACE TEMP MACRO mmq_ok_date(s) AS s IS NULL OR (
    regexp_full_match(s, '{DATE_RE}') AND left(s, 4) <> '0000'
    AND try_cast(s AS DATE) IS NOT NULL);
-- a typed list is plain when no element is NULL (a JSON null or a non-object, which
-- Python would skip or stringify)
CREATE OR REPLACE TEMP MACRO mmq_ok_list(l) AS l IS NULL OR list_count(l) = len(l);
CREATE OR REPLACE TEMP MACRO mmq_nonempty(s) AS s IS NOT NULL AND s <> '';
"""

_names = itertools.count()


def _duckdb_structure(spec: object) -> object:
    """The ``json_transform`` structure that reads ``spec`` typed."""
    if isinstance(spec, dict):
        return {k: _duckdb_structure(v) for k, v in spec.items() if k != "..."}
    if isinstance(spec, list):
        return [_duckdb_structure(spec[0])]
    return DUCKDB_TYPE[spec]


def plain_shape(shape: object, spec: object) -> bool:
    """Whether a ``json_structure`` result only holds what ``spec`` reads without coercion."""
    if shape == "NULL" or spec == ANY:
        return True
    if isinstance(spec, dict):
        if not isinstance(shape, dict):
            return False
        for key, sub in shape.items():
            if key in spec:
                if not plain_shape(sub, spec[key]):
                    return False
            elif "..." not in spec:
                return False  # an unknown key: its value belongs in _extra
        return True
    if isinstance(spec, list):
        if shape == ["NULL"]:  # empty list, or nothing but nulls (checked per value in SQL)
            return True
        return isinstance(shape, list) and plain_shape(shape[0], spec[0])
    return isinstance(shape, str) and shape in ACCEPTS[spec]


def _sql_list(values) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


@dataclass
class StagedResults:
    tables: dict[str, pa.Table]  # target table → its new rows
    fetched: list[tuple[str, str, int]]  # (submission, asset, issue count), fast-path assets
    python_assets: list[tuple[str, str]]  # (submission, asset) left to the reference flatten
    python_bodies: list[tuple[str, str, str, str]] = field(default_factory=list)
    # (kind, submission, asset, body) of the issues/topics responses of ``python_assets``


OUTPUTS = ("issues", "issue_precedents", "topics", "topic_issues")
MIN_CHUNK = 100  # submissions per worker, at least


def stage_results(
    conn: duckdb.DuckDBPyConnection, submission_ids: list[str], *, load_id: str, workers: int = 2
) -> StagedResults:
    """Flatten the issues and topics of these submissions; see the module docstring.

    The work is split into ``workers`` chunks of submissions, each on its own cursor in its
    own thread: DuckDB runs a small table (a few thousand bodies, one row group) on one
    thread, so this is what keeps both cores busy. Cursors see committed data only, which is
    all there is: ``rebuild_tables`` cannot run inside an open transaction.
    """
    ids = list(submission_ids)
    if len(ids) < MIN_CHUNK * workers:
        workers = 1  # a small batch is not worth a second cursor
    chunks = [ids[k::workers] for k in range(workers) if ids[k::workers]] or [[]]
    if len(chunks) == 1:
        parts = [_stage_chunk(conn, chunks[0], load_id)]
    else:
        with ThreadPoolExecutor(len(chunks), thread_name_prefix="flatten-sql") as pool:
            parts = list(pool.map(lambda c: _stage_chunk(conn, c, load_id), chunks))
    return StagedResults(
        tables={name: pa.concat_tables([p.tables[name] for p in parts]) for name in OUTPUTS},
        fetched=[row for p in parts for row in p.fetched],
        python_assets=[row for p in parts for row in p.python_assets],
        python_bodies=[row for p in parts for row in p.python_bodies],
    )


def _stage_chunk(conn: duckdb.DuckDBPyConnection, ids: list[str], load_id: str) -> StagedResults:
    cursor = conn.cursor()  # its own temporary tables, dropped when it closes
    try:
        cursor.execute(MACROS)
        scope = f"_mmq_scope_{next(_names)}"
        cursor.register(scope, pa.table({"submission_id": pa.array(ids, pa.string())}))
        n = next(_names)
        names = ("res", "shapes", "items", "topic_items", "members", "odd", "evidence")
        t = {name: f"_mmq_{name}_{n}" for name in names + OUTPUTS}
        staged = StagedResults({}, [], [])
        _stage(cursor, t, scope, load_id, staged)
        staged.tables = {name: cursor.sql(f"FROM {t[name]}").to_arrow_table() for name in OUTPUTS}
        staged.python_bodies = cursor.execute(
            f"""
            SELECT r.kind, r.submission_id, r.asset_id, r.body FROM api_responses r
            JOIN {t["odd"]} o USING (submission_id, asset_id)
            WHERE r.kind IN ('issues', 'topics')
            """
        ).fetchall()
        return staged
    finally:
        cursor.close()


def _temp_table(conn: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    """Materialise an Arrow table as a connection-local temp table named ``name``."""
    conn.register(f"{name}_arrow", rows)
    try:
        conn.execute(f"CREATE TEMP TABLE {name} AS FROM {name}_arrow")
    finally:
        conn.unregister(f"{name}_arrow")


def _stage(conn, t: dict[str, str], scope: str, load_id: str, staged: StagedResults) -> None:
    issues_t = json.dumps(_duckdb_structure(ISSUES_PAGE))
    topics_t = json.dumps(_duckdb_structure(TOPICS_PAGE))
    # Assets with both bodies (the reference skips the others).
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["res"]} AS
        SELECT i.submission_id, i.asset_id,
               json_structure(i.body)::VARCHAR AS ishape,
               json_structure(p.body)::VARCHAR AS tshape,
               json_transform(i.body, '{issues_t}') AS ip,
               json_transform(p.body, '{topics_t}') AS tp
        FROM api_responses i
        JOIN api_responses p ON p.kind = 'topics' AND p.submission_id = i.submission_id
                             AND p.asset_id = i.asset_id
        WHERE i.kind = 'issues' AND i.submission_id IN (SELECT submission_id FROM {scope})
        """
    )
    shapes = conn.execute(f"SELECT DISTINCT ishape, tshape FROM {t['res']}").fetchall()
    judged = pa.table(
        {
            "ishape": pa.array([s[0] for s in shapes], pa.string()),
            "tshape": pa.array([s[1] for s in shapes], pa.string()),
            "plain": pa.array(
                [
                    plain_shape(json.loads(i), ISSUES_PAGE)
                    and plain_shape(json.loads(p), TOPICS_PAGE)
                    for i, p in shapes
                ],
                pa.bool_(),
            ),
        }
    )
    _temp_table(conn, t["shapes"], judged)

    conn.execute(
        f"""
        CREATE TEMP TABLE {t["items"]} AS
        WITH u AS (
            SELECT submission_id, asset_id, unnest(range(len(ip.issues))) AS idx,
                   unnest(ip.issues) AS f
            FROM {t["res"]}
        )
        SELECT submission_id, asset_id, idx, f,
               CASE WHEN mmq_nonempty(f.id) THEN f.id
                    ELSE asset_id || '#'
                         || coalesce(nullif(try_cast(f.referenceNumber AS BIGINT), 0), idx + 1)
               END AS issue_id,
               f IS NOT NULL AND mmq_ok_int(f.referenceNumber)
                 AND mmq_ok_time(f.createdAt) AND mmq_ok_time(f.updatedAt)
                 AND mmq_ok_list(f.ruleContext.parentCodes)
                 AND mmq_ok_list(f.ruleContext.relatedCodes)
                 AND mmq_ok_list(f.precedents)
                 AND list_bool_and(list_transform(coalesce(f.precedents, []),
                                   lambda p: mmq_ok_date(p.date))) IS NOT false
                 AS ok
        FROM u
        """
    )
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["topic_items"]} AS
        WITH u AS (
            SELECT submission_id, asset_id, tp.metadata.clusteringModel AS clustering_model,
                   unnest(range(len(tp.topics))) AS idx, unnest(tp.topics) AS f
            FROM {t["res"]}
        )
        SELECT *, f IS NOT NULL AND mmq_ok_int(f.anchor.page) AND mmq_ok_list(f.issues) AS ok
        FROM u
        """
    )
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["members"]} AS
        SELECT submission_id, asset_id, idx AS topic_idx, f.id AS topic_raw_id,
               unnest(range(len(f.issues))) AS pos, unnest(f.issues).id AS id
        FROM {t["topic_items"]}
        UNION ALL
        SELECT submission_id, asset_id, NULL, NULL, unnest(range(len(tp.orphanIssues))),
               unnest(tp.orphanIssues).id
        FROM {t["res"]}
        """
    )
    # An asset leaves the fast path if anything in its bodies is not plain.
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["odd"]} AS
        SELECT DISTINCT submission_id, asset_id FROM (
            SELECT submission_id, asset_id FROM {t["res"]}
            JOIN {t["shapes"]} USING (ishape, tshape)
            WHERE NOT plain OR NOT mmq_ok_list(ip.issues) OR NOT mmq_ok_list(tp.topics)
               OR NOT mmq_ok_list(tp.orphanIssues)
            UNION ALL
            SELECT submission_id, asset_id FROM {t["items"]} WHERE NOT ok
            UNION ALL
            SELECT submission_id, asset_id FROM {t["topic_items"]} WHERE NOT ok
        )
        """
    )
    # ``evidence`` is stored as Python's json.dumps(sort_keys=True): format each distinct value
    # once in Python. yyjson's compact text parses back to the same Python value except for
    # integers beyond 64 bits and -0 (read as doubles): their assets take the Python path.
    raw = conn.execute(
        f"SELECT DISTINCT f.evidence::VARCHAR FROM {t['items']} WHERE f.evidence IS NOT NULL"
    ).fetchall()
    texts, formatted, risky = [], [], []
    for (text,) in raw:
        value = json.loads(text)
        texts.append(text)
        formatted.append(json.dumps(value, sort_keys=True, default=str))
        risky.append(_has_risky_float(value))
    evidence = pa.table(
        {
            "raw": pa.array(texts, pa.string()),
            "text": pa.array(formatted, pa.string()),
            "risky": pa.array(risky, pa.bool_()),
        }
    )
    _temp_table(conn, t["evidence"], evidence)
    conn.execute(
        f"""
        INSERT INTO {t["odd"]}
        SELECT DISTINCT i.submission_id, i.asset_id FROM {t["items"]} i
        JOIN {t["evidence"]} e ON e.raw = i.f.evidence::VARCHAR
        WHERE e.risky
        EXCEPT SELECT submission_id, asset_id FROM {t["odd"]}
        """
    )

    def keep(alias: str) -> str:
        return (
            f"NOT EXISTS (SELECT 1 FROM {t['odd']} o WHERE o.submission_id = {alias}.submission_id"
            f" AND o.asset_id = {alias}.asset_id)"
        )

    # Issue id → topic id, first listing wins: topics in order, then orphans (topic NULL).
    membership = f"""
        SELECT submission_id, asset_id, id AS issue_id, topic_raw_id AS topic_id
        FROM {t["members"]} x
        WHERE id IS NOT NULL AND {keep("x")}
        QUALIFY row_number() OVER (
            PARTITION BY submission_id, asset_id, id ORDER BY topic_idx IS NULL, topic_idx, pos
        ) = 1
    """
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["issues"]} AS
        WITH k AS (SELECT * FROM {t["items"]} x WHERE {keep("x")}),
        m AS ({membership})
        SELECT k.issue_id, k.asset_id, k.submission_id,
               f.referenceNumber::INTEGER AS reference_number,
               CASE WHEN mmq_nonempty(f.ruleCode) THEN f.ruleCode ELSE f.ruleContext.code END
                   AS rule_code,
               f.summary, f.severity, f.status,
               CASE WHEN mmq_nonempty(f.status)
                    THEN list_contains({_sql_list(OPEN_STATUSES)}, f.status) END AS is_open,
               f.sidekickId AS sidekick_id,
               f.createdAt::TIMESTAMPTZ AS created_at,
               f.updatedAt::TIMESTAMPTZ AS updated_at,
               f.severityReasoning AS severity_reasoning,
               f.severityReasoningHeadline AS severity_reasoning_headline,
               f.ruleContext.title AS rule_title,
               f.ruleContext.category AS rule_category,
               f.ruleContext.regulator AS rule_regulator,
               f.ruleContext.parentCodes AS rule_parent_codes,
               f.ruleContext.relatedCodes AS rule_related_codes,
               e.text AS evidence,
               coalesce(len(f.precedents), 0) AS precedent_count,
               m.topic_id,
               m.issue_id IS NOT NULL AND m.topic_id IS NULL AS is_orphan,
               NULL::JSON AS _extra,
               $load_id AS _load_id
        FROM k
        LEFT JOIN {t["evidence"]} e ON e.raw = k.f.evidence::VARCHAR
        LEFT JOIN m ON m.submission_id = k.submission_id AND m.asset_id = k.asset_id
                   AND m.issue_id = k.issue_id
        """,
        {"load_id": load_id},
    )
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["issue_precedents"]} AS
        WITH p AS (
            SELECT submission_id, asset_id, issue_id,
                   unnest(range(len(f.precedents))) AS list_idx, unnest(f.precedents) AS p
            FROM {t["items"]} x WHERE {keep("x")}
        )
        SELECT issue_id, list_idx::INTEGER AS list_idx, asset_id, submission_id,
               p.url, p.title, p.decision, p.date::DATE AS decided_on,
               NULL::JSON AS _extra, $load_id AS _load_id
        FROM p
        """,
        {"load_id": load_id},
    )
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["topics"]} AS
        SELECT CASE WHEN mmq_nonempty(f.id) THEN f.id ELSE asset_id || '#topic' || idx END
                   AS topic_id,
               asset_id, submission_id, idx::INTEGER AS list_idx,
               f.title, f.summary, f.kind,
               f.anchor.kind AS anchor_kind, f.anchor.start AS anchor_start,
               f.anchor."end" AS anchor_end, f.anchor.page::INTEGER AS anchor_page,
               coalesce(len(f.issues), 0) AS issue_count, clustering_model,
               NULL::JSON AS _extra, $load_id AS _load_id
        FROM {t["topic_items"]} x WHERE {keep("x")}
        """,
        {"load_id": load_id},
    )
    conn.execute(
        f"""
        CREATE TEMP TABLE {t["topic_issues"]} AS
        SELECT tp.topic_id, m.id AS issue_id, m.pos::INTEGER AS list_idx,
               m.asset_id, m.submission_id, $load_id AS _load_id
        FROM {t["members"]} m
        JOIN {t["topics"]} tp
          ON tp.submission_id = m.submission_id AND tp.asset_id = m.asset_id
         AND tp.list_idx = m.topic_idx
        WHERE m.id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY m.submission_id, m.asset_id, m.topic_idx, m.id ORDER BY m.pos) = 1
        """,
        {"load_id": load_id},
    )
    staged.fetched = conn.execute(
        f"""
        SELECT submission_id, asset_id, coalesce(len(ip.issues), 0)::INTEGER
        FROM {t["res"]} r WHERE {keep("r")}
        """
    ).fetchall()
    staged.python_assets = conn.execute(
        f"SELECT submission_id, asset_id FROM {t['odd']}"
    ).fetchall()


def _has_risky_float(value: object) -> bool:
    """A float that yyjson may have made from an integer Python reads exactly (or from -0)."""
    if isinstance(value, float):
        return (
            (value == 0 and math.copysign(1, value) < 0)
            or not math.isfinite(value)
            or (value.is_integer() and abs(value) >= 2**53)
        )
    if isinstance(value, dict):
        return any(_has_risky_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_risky_float(v) for v in value)
    return False
