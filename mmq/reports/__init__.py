"""Self-contained HTML quality reports read from ``analytics.duckdb``.

Per submission (``<id>.html``), an index of all submissions (``index.html``) and a daily digest
(``daily.html``). Callers pass a read-only DuckDB connection; nothing here writes the database.
"""

from mmq.reports.write import (
    render_submission_report,
    write_daily_digest,
    write_index,
    write_submission_reports,
)

__all__ = [
    "render_submission_report",
    "write_daily_digest",
    "write_index",
    "write_submission_reports",
]
