"""The insight page's chart, drawn on the server as SVG (no script, no CDN): searches per day, stacked by the
decision each got."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from kb.app.i18n import STRINGS

if TYPE_CHECKING:
    from kb.feedback.store import DaySearches


def window(days: int) -> list[str]:
    """The last ``days`` days (ISO 8601, UTC as the store's days), oldest first."""
    today = datetime.now(timezone.utc).date()
    return [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


COLOURS = {"answer": "#2b7a4b", "suggest": "#c98a1a", "none": "#c2412d"}
# the page asks for the chart as wide as its panel (a phone's to a wide screen's), so the text stays 11 px
# instead of being scaled with a fixed-size drawing
CHART_MIN_WIDTH, CHART_MAX_WIDTH = 280, 2400
# an image cannot use the page's stylesheet: name fonts with Hangul first
FONTS = "Noto Sans CJK KR, Noto Sans KR, Apple SD Gothic Neo, Malgun Gothic, system-ui, sans-serif"


def chart_svg(per_day: list[DaySearches], days: int, lang: str, width: int = 760, height: int = 240) -> str:
    """Stacked bars (answer / suggest / none) for each of the last ``days`` days, with axis and legend, drawn
    ``width`` pixels wide (clamped to ``CHART_MIN_WIDTH``..``CHART_MAX_WIDTH``)."""
    width = min(max(width, CHART_MIN_WIDTH), CHART_MAX_WIDTH)
    strings = STRINGS[lang]
    counts = {d.day: d for d in per_day}
    days_shown = window(days)
    top = max([d.answer + d.suggest + d.none for d in per_day] or [0])
    step = next((s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if s * 4 >= top), 10 ** 6)
    ceiling = max(step * 4, 4)
    left, right, top_pad, bottom = 44, 8, 30, 26
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    slot = plot_w / max(len(days_shown), 1)
    bar = max(slot * 0.72, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" font-family="{FONTS}" font-size="11">',
           f"<title>{html.escape(strings['admin_chart_alt'])}</title>"]
    for i in range(5):  # grid lines and their values
        value = ceiling * i // 4
        y = top_pad + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6470">{value}</text>')
    every = max(1, -(-len(days_shown) // max(int(plot_w) // 64, 2)))  # a date label every 64 px or more
    for i, day in enumerate(days_shown):
        x = left + slot * i + (slot - bar) / 2
        y = top_pad + plot_h
        d = counts.get(day)
        for decision in ("answer", "suggest", "none"):
            n = getattr(d, decision) if d else 0
            if n:
                h = plot_h * n / ceiling
                y -= h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                           f'fill="{COLOURS[decision]}"><title>{day} {html.escape(strings["decision_" + decision])}: '
                           f"{n}</title></rect>")
        if (len(days_shown) - 1 - i) % every == 0:  # counted from the last day, so today is always labelled
            out.append(f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#5b6470">'
                       f"{day[5:]}</text>")
    x = left
    for decision in ("answer", "suggest", "none"):  # the legend, with each decision's total
        total = sum(getattr(d, decision) for d in per_day)
        label = html.escape(f"{strings['decision_' + decision]} {total}")
        out.append(f'<rect x="{x:.0f}" y="8" width="12" height="12" rx="2" fill="{COLOURS[decision]}"/>')
        out.append(f'<text x="{x + 17:.0f}" y="18" fill="#1f2933">{label}</text>')
        x += 34 + sum(11 if ord(ch) > 0x2E80 else 6.5 for ch in label)  # Hangul is about twice as wide
    out.append("</svg>")
    return "".join(out)
