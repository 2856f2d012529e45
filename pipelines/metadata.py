"""Dagster UI metadata helpers: Markdown tables and the run's load id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC

import dagster as dg

from mmq.warehouse.steps import new_load_id


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]]
) -> dg.MarkdownMetadataValue:
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def counts_table(counts: Mapping[str, int], key: str = "table", value: str = "rows"):
    return markdown_table([key, value], sorted(counts.items()))


def load_id(context: dg.AssetExecutionContext) -> str:
    """One load id per run (all its steps share it), from the run's creation time."""
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp.astimezone(UTC) if record else None
    return new_load_id(context.run_id, now=created)
