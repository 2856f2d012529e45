"""Inline SVG charts, generated in Python: no JavaScript, no network, readable when printed.

Each chart is an ``<svg role="img">`` labelled by its own ``<title>``/``<desc>`` (what a screen
reader announces), with a ``<title>`` tooltip on every mark; the pages put a data table next to
each chart as the fallback. Every piece of text is escaped here with ``markupsafe.escape``, since
labels (file names, rule codes) come from the API. Colours are attributes, not ``style=``,
so that the pages' Content-Security-Policy can forbid inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

SEVERITY_COLOURS = {
    "CRITICAL": "#b42318",
    "MAJOR": "#ef6820",
    "MINOR": "#f5b700",
    "INFO": "#7d8ba1",
}
VERDICT_COLOURS = {"blocked": "#b42318", "needs_review": "#dc6803", "clear": "#079455"}
VERDICT_LABELS = {"blocked": "Blocked", "needs_review": "Needs review", "clear": "Clear"}
VERDICT_TINTS = {"blocked": "#fee4e2", "needs_review": "#fef0c7", "clear": "#dcfae6"}
OTHER_COLOUR = "#9e77ed"
ACCENT = "#3e4784"
GRID = "#e4e7ec"
INK = "#344054"
MUTED = "#667085"


def _e(value: object) -> str:
    return str(escape("" if value is None else value))


def _n(value: float) -> str:
    """Coordinates with at most one decimal: smaller pages, stable output."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _clip(text: str | None, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_max(value: float, ticks: int = 4) -> tuple[float, float]:
    """An axis maximum ≥ value and its tick step, on a 1–2–5 grid."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        step = factor * power
        if step >= raw:
            break
    step = max(step, 1.0)  # counts: no fractional ticks
    return math.ceil(value / step) * step, step


def _ticks(axis_max: float, step: float) -> list[float]:
    """0, step, 2·step … up to axis_max (inclusive, despite float rounding)."""
    ticks, tick = [], 0.0
    while tick <= axis_max + 1e-9:
        ticks.append(tick)
        tick += step
    return ticks


def _vertical_grid(
    left: float, scale: float, top: float, bottom: float, axis_max: float, step: float
) -> list[str]:
    """Grid lines and value labels under a horizontal bar chart."""
    out = []
    for tick in _ticks(axis_max, step):
        x = left + tick * scale
        out.append(
            f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{bottom}" stroke="{GRID}"/>'
            f'<text x="{_n(x)}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}" '
            f'class="tick">{_n(tick)}</text>'
        )
    return out


def _horizontal_grid(
    left: float, right: float, top: float, plot_h: float, axis_max: float, step: float
) -> list[str]:
    """Grid lines and value labels beside a column chart."""
    out = []
    for tick in _ticks(axis_max, step):
        y = top + plot_h - tick / axis_max * plot_h
        out.append(
            f'<line x1="{left}" y1="{_n(y)}" x2="{right}" y2="{_n(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end" fill="{MUTED}" '
            f'class="tick">{_n(tick)}</text>'
        )
    return out


def _open(chart_id: str, width: float, height: float, title: str, desc: str, cls: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {cls}" id="{_e(chart_id)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
        f'role="img" aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>',
    ]


def severity_colour(severity: str) -> str:
    return SEVERITY_COLOURS.get(severity, OTHER_COLOUR)


def severity_mix(
    chart_id: str,
    rows: Sequence[tuple[str | None, Mapping[str, int], str | None]],
    severities: Sequence[str],
) -> Markup:
    """Stacked horizontal bars: one per asset, one segment per severity, on a shared axis.

    Rows are (label, counts per severity, note); the note (e.g. "failed") replaces the total
    of a row without issues, so a failed asset is not mistaken for a clean one.
    """
    label_w, bar_w, total_w, row_h, top = 220, 500, 90, 26, 8
    width = label_w + bar_w + total_w
    height = top + row_h * len(rows) + 24
    totals = [sum(counts.values()) for _, counts, _ in rows]
    axis_max, step = _nice_max(max(totals, default=0))
    scale = bar_w / axis_max
    summary = "; ".join(
        f"{label or 'unnamed'}: "
        + (
            ", ".join(f"{counts[s]} {s.lower()}" for s in severities if counts.get(s))
            or (note or "no issues")
        )
        for label, counts, note in rows
    )
    out = _open(chart_id, width, height, "Issues by severity for each asset", summary, "stacked")
    plot_bottom = top + row_h * len(rows)
    out.extend(_vertical_grid(label_w, scale, top, plot_bottom, axis_max, step))
    for index, ((label, counts, note), total) in enumerate(zip(rows, totals, strict=True)):
        y = top + index * row_h
        out.append(
            f'<g class="row"><text x="{label_w - 8}" y="{y + row_h / 2 + 4:.0f}" '
            f'text-anchor="end" fill="{INK}">{_e(_clip(label, 34))}'
            f"<title>{_e(label)}</title></text>"
        )
        x = float(label_w)
        for severity in severities:
            count = counts.get(severity, 0)
            if not count:
                continue
            w = count * scale
            out.append(
                f'<rect class="mark" x="{_n(x)}" y="{y + 5}" width="{_n(w)}" '
                f'height="{row_h - 10}" fill="{severity_colour(severity)}">'
                f"<title>{_e(label)}: {count} {_e(severity)}</title></rect>"
            )
            x += w
        value = str(total) if total or not note else _e(note)
        out.append(
            f'<text x="{_n(x + 6)}" y="{y + row_h / 2 + 4:.0f}" fill="{MUTED}" '
            f'class="value">{value}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def bars(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str | None, str | None, int]],
    *,
    colour: str = ACCENT,
    unit: str = "issues",
    label_width: int = 210,
    bar_width: int = 380,
) -> Markup:
    """Horizontal bars: (label, tooltip detail, value) per item, in the order given."""
    label_w, bar_w, value_w, row_h, top = label_width, bar_width, 44, 26, 8
    width = label_w + bar_w + value_w
    height = top + row_h * len(items) + 24
    axis_max, step = _nice_max(max((v for _, _, v in items), default=0))
    scale = bar_w / axis_max
    desc = "; ".join(f"{label}: {value} {unit}" for label, _, value in items)
    out = _open(chart_id, width, height, title, desc, "bars")
    plot_bottom = top + row_h * len(items)
    out.extend(_vertical_grid(label_w, scale, top, plot_bottom, axis_max, step))
    for index, (label, detail, value) in enumerate(items):
        y = top + index * row_h
        tip = f"{label} — {detail}" if detail else f"{label}"
        out.append(
            f'<g class="row"><text x="{label_w - 8}" y="{y + row_h / 2 + 4:.0f}" '
            f'text-anchor="end" fill="{INK}">{_e(_clip(label, label_w // 7))}'
            f"<title>{_e(tip)}</title></text>"
            f'<rect class="mark" x="{label_w}" y="{y + 5}" width="{_n(value * scale)}" '
            f'height="{row_h - 10}" fill="{colour}"><title>{_e(tip)}: {value} {unit}</title></rect>'
            f'<text x="{_n(label_w + value * scale + 6)}" y="{y + row_h / 2 + 4:.0f}" '
            f'fill="{MUTED}" class="value">{value}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def score_ring(chart_id: str, score: int | None, verdict: str | None) -> Markup:
    """The score as a ring filled to score/100, in the verdict's colour."""
    size, stroke = 112, 12
    radius = (size - stroke) / 2
    circumference = 2 * math.pi * radius
    value = max(0, min(100, score or 0))
    colour = VERDICT_COLOURS.get(verdict or "", MUTED)
    label = "no score" if score is None else f"{score} of 100"
    out = _open(chart_id, size, size, f"Quality score: {label}", "100 means no open issues", "ring")
    c = size / 2
    out.append(
        f'<circle cx="{_n(c)}" cy="{_n(c)}" r="{_n(radius)}" fill="none" '
        f'stroke="{VERDICT_TINTS.get(verdict or "", GRID)}" '
        f'stroke-width="{stroke}"/>'
        f'<circle class="mark" cx="{_n(c)}" cy="{_n(c)}" r="{_n(radius)}" fill="none" '
        f'stroke="{colour}" stroke-width="{stroke}" stroke-linecap="butt" '
        f'stroke-dasharray="{_n(circumference * value / 100)} {_n(circumference)}" '
        f'transform="rotate(-90 {_n(c)} {_n(c)})"/>'
        f'<text x="{_n(c)}" y="{_n(c + 11)}" text-anchor="middle" class="ring-value" '
        f'fill="{colour}">{"–" if score is None else score}</text>'
        "</svg>"
    )
    return Markup("".join(out))


def score_histogram(chart_id: str, scored: Sequence[tuple[int | None, str | None]]) -> Markup:
    """Submissions per band of ten score points (90–100 is one band), stacked by verdict.

    Stacked rather than coloured by band, because the verdict does not follow from the score
    (one open critical issue blocks a submission that scores 75).
    """
    bins: list[dict[str, int]] = [{} for _ in range(10)]
    for score, verdict in scored:
        if score is not None:
            band = bins[min(9, max(0, int(score) // 10))]
            band[verdict or ""] = band.get(verdict or "", 0) + 1
    width, height, left, bottom, top = 440, 170, 30, 26, 10
    plot_w, plot_h = width - left - 8, height - top - bottom
    axis_max, step = _nice_max(max(sum(b.values()) for b in bins), ticks=3)
    bar_w = plot_w / 10

    def band_label(i: int) -> str:
        return f"{10 * i}–{10 * i + 9 if i < 9 else 100}"

    desc = "; ".join(
        f"score {band_label(i)}: "
        + ", ".join(f"{n} {VERDICT_LABELS.get(v, v or 'no verdict').lower()}" for v, n in b.items())
        for i, b in enumerate(bins)
        if b
    )
    out = _open(chart_id, width, height, "Submissions by score", desc or "no scores", "histogram")
    out.extend(_horizontal_grid(left, width - 8, top, plot_h, axis_max, step))
    order = [*VERDICT_COLOURS, ""]
    for i, band in enumerate(bins):
        x = left + i * bar_w
        y = float(top + plot_h)
        for verdict in sorted(band, key=lambda v: order.index(v) if v in order else len(order)):
            n = band[verdict]
            h = n / axis_max * plot_h
            y -= h
            label = VERDICT_LABELS.get(verdict, verdict or "no verdict")
            out.append(
                f'<rect class="mark" x="{_n(x + 3)}" y="{_n(y)}" width="{_n(bar_w - 6)}" '
                f'height="{_n(h)}" fill="{VERDICT_COLOURS.get(verdict, MUTED)}">'
                f"<title>score {band_label(i)}: {n} {_e(label.lower())}</title></rect>"
            )
        out.append(
            f'<text x="{_n(x + bar_w / 2)}" y="{height - 8}" text-anchor="middle" '
            f'fill="{MUTED}" class="tick">{10 * i}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def verdict_columns(chart_id: str, items: Sequence[tuple[str, Mapping[str, int]]]) -> Markup:
    """Submissions per day as columns stacked by verdict (oldest day on the left)."""
    left, bottom, top, col_w = 30, 26, 10, 34
    width = max(240, left + 8 + col_w * len(items))
    height = 170
    plot_h = height - top - bottom
    axis_max, step = _nice_max(max((sum(c.values()) for _, c in items), default=0), ticks=3)
    desc = "; ".join(
        f"{day}: " + ", ".join(f"{n} {VERDICT_LABELS.get(v, v).lower()}" for v, n in c.items() if n)
        for day, c in items
    )
    out = _open(
        chart_id, width, height, "Submissions per day by verdict", desc or "none", "columns"
    )
    out.extend(_horizontal_grid(left, width - 8, top, plot_h, axis_max, step))
    label_every = max(1, len(items) // 8)
    for i, (day, counts) in enumerate(items):
        x = left + i * col_w
        y = float(top + plot_h)
        for verdict, n in counts.items():
            if not n:
                continue
            h = n / axis_max * plot_h
            y -= h
            out.append(
                f'<rect class="mark" x="{_n(x + 4)}" y="{_n(y)}" width="{col_w - 8}" '
                f'height="{_n(h)}" fill="{VERDICT_COLOURS.get(verdict, MUTED)}">'
                f"<title>{_e(day)}: {n} {_e(VERDICT_LABELS.get(verdict, verdict).lower())}"
                "</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{_n(x + col_w / 2)}" y="{height - 8}" text-anchor="middle" '
                f'fill="{MUTED}" class="tick">{_e(day[5:])}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def verdict_strip(
    chart_id: str, counts: Mapping[str, int], *, width: int = 440, height: int = 22
) -> Markup:
    """One bar split by verdict, blocked first: the share of each verdict at a glance."""
    total = sum(counts.values())
    desc = ", ".join(f"{n} {VERDICT_LABELS.get(v, v).lower()}" for v, n in counts.items() if n)
    out = _open(chart_id, width, height, "Submissions by verdict", desc or "none", "strip")
    out.append(f'<rect x="0" y="0" width="{width}" height="{height}" rx="3" fill="{GRID}"/>')
    x = 0.0
    for verdict, n in counts.items():
        if not n:
            continue
        w = width * n / total
        out.append(
            f'<rect class="mark" x="{_n(x)}" y="0" width="{_n(w)}" height="{height}" '
            f'fill="{VERDICT_COLOURS.get(verdict, MUTED)}">'
            f"<title>{_e(VERDICT_LABELS.get(verdict, verdict))}: {n}</title></rect>"
        )
        x += w
    out.append("</svg>")
    return Markup("".join(out))


def score_box(
    chart_id: str,
    low: float | None,
    p50: float | None,
    avg: float | None,
    p90: float | None,
    high: float | None,
) -> Markup:
    """A one-line box plot on a 0–100 scale: min–max whisker, p50–p90 box, mean as a dot."""
    width, height, pad = 200, 26, 6
    if low is None or high is None:
        return Markup('<span class="muted">no scores</span>')

    def x(value: float) -> float:
        return pad + (width - 2 * pad) * max(0.0, min(100.0, value)) / 100

    desc = (
        f"min {low:.0f}, median {p50 or 0:.0f}, mean {avg or 0:.1f}, 90th percentile "
        f"{p90 or 0:.0f}, max {high:.0f}"
    )
    out = _open(chart_id, width, height, "Score distribution", desc, "box")
    mid = height / 2
    out.append(
        f'<line x1="{pad}" y1="{_n(mid)}" x2="{width - pad}" y2="{_n(mid)}" stroke="{GRID}" '
        'stroke-width="2"/>'
        f'<line class="mark" x1="{_n(x(low))}" y1="{_n(mid)}" x2="{_n(x(high))}" y2="{_n(mid)}" '
        f'stroke="{MUTED}" stroke-width="2"/>'
    )
    lo, hi = sorted((p50 if p50 is not None else low, p90 if p90 is not None else high))
    out.append(
        f'<rect class="mark" x="{_n(x(lo))}" y="{_n(mid - 7)}" width="{_n(max(2, x(hi) - x(lo)))}" '
        f'height="14" rx="2" fill="{ACCENT}" fill-opacity="0.25" stroke="{ACCENT}">'
        f"<title>median {lo:.0f} – 90th percentile {hi:.0f}</title></rect>"
    )
    if avg is not None:
        out.append(
            f'<circle cx="{_n(x(avg))}" cy="{_n(mid)}" r="3.5" fill="{ACCENT}">'
            f"<title>mean {avg:.1f}</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))
