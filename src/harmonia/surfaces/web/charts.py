"""Horizontal bar charts as plain geometry for a template to draw as SVG: no JavaScript, no charting library.

Labels sit above their bars so a chart stays readable when a phone shrinks it; each series has a CSS class (colour
lives in harmonia.css) and a legend entry; the template adds a title, a description and the numbers as a table."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Chart", "bar_chart"]

WIDTH = 360  # viewBox units, about a phone's width: text stays near its set size there; the SVG scales to its column
LABEL_H, BAR_H, GAP = 16, 12, 10


@dataclass
class Bar:
    series: str
    value: float
    text: str
    x: float
    y: float
    width: float
    css: str


@dataclass
class Row:
    label: str
    y: float  # the label's baseline
    bars: list[Bar]
    note: str  # beside the label, right-aligned: e.g. "+3 (25%)"
    values: list[tuple[float, float, str]]  # (x, baseline, text) written after the bars


@dataclass
class Chart:
    id: str
    title: str
    desc: str
    height: float
    rows: list[Row]
    legend: list[tuple[str, str]]  # (series label, css class)
    width: int = WIDTH
    empty: bool = field(default=False)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bar_chart(chart_id: str, title: str, desc: str, rows: list[tuple[str, list[tuple[str, float]], str]],
              series: dict[str, str], *, stacked: bool = False) -> Chart:  # fmt: skip
    """`rows`: (label, [(series label, value)…], note). Grouped bars share one scale; stacked bars sum per row."""
    totals = [sum(v for _, v in values) if stacked else max((v for _, v in values), default=0) for _, values, _ in rows]
    top = max(totals, default=0) or 1
    scale = (WIDTH - 64) / top  # room for the value written after the bar
    out: list[Row] = []
    y = 0.0
    for label, values, note in rows:
        y += LABEL_H
        baseline = y - 4
        bars: list[Bar] = []
        x = 0.0
        for name, value in values:
            w = max(value * scale, 1.5 if value else 0)
            bars.append(Bar(name, value, _fmt(value), x if stacked else 0, y, w, series[name]))
            if stacked:
                x += w
            else:
                y += BAR_H + 2
        if stacked:
            values_at = [(x + 4, y + BAR_H - 2, " / ".join(b.text for b in bars))]
            y += BAR_H + 2
        else:
            values_at = [(b.width + 4, b.y + BAR_H - 2, b.text) for b in bars]
        out.append(Row(label, baseline, bars, note, values_at))
        y += GAP - 2
    return Chart(chart_id, title, desc, max(y, 40), out, list(series.items()), empty=not any(totals))
