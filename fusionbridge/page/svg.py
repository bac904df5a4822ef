"""Charts drawn on the server as SVG text: no script, no fonts or files from anywhere else.

Pure: plain values in, markup out. Every text that reaches the markup is escaped here, because
the caller marks the result safe for the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

BAR_WIDTH = 30
SCALE_ROOM = 56
"""Room right of the bars for the scale's label."""
BAR_GAP = 6
PLOT_HEIGHT = 120
TOP = 22
"""Room above the tallest bar for its state symbol."""
BOTTOM = 18
"""Room below the bars for the month letters."""
HOUR_WIDTH = 12
HOUR_PLOT_HEIGHT = 70


@dataclass(frozen=True, slots=True)
class Bar:
    """One month of one inverter: its label, kWh (None: not known) and how its state looks."""

    label: str
    title: str
    kwh: Decimal | None
    css: str
    symbol: str


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_height(kwh: Decimal, largest: Decimal, plot_height: int) -> float:
    """Bar height in user units, in proportion to the largest value shown (0 stays 0)."""
    if largest <= 0 or kwh <= 0:
        return 0.0
    return float(kwh / largest) * plot_height


def month_bars(bars: Sequence[Bar], *, caption: str) -> str:
    """A monthly bar chart: heights in proportion to kWh, colour and symbol for the state."""
    largest = max((b.kwh for b in bars if b.kwh is not None), default=Decimal(0))
    width = len(bars) * (BAR_WIDTH + BAR_GAP) + BAR_GAP + SCALE_ROOM
    height = TOP + PLOT_HEIGHT + BOTTOM
    base = TOP + PLOT_HEIGHT
    parts = [
        f'<svg class="chart months" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(caption)}">',
        f"<title>{escape(caption)}</title>",
        f'<line class="axis" x1="0" y1="{base}" x2="{width}" y2="{base}"/>',
    ]
    if largest > 0:
        parts.append(
            f'<line class="grid" x1="0" y1="{TOP}" x2="{width}" y2="{TOP}"/>'
            f'<text class="label scale" x="{width - 2}" y="{TOP - 3}" text-anchor="end">'
            f"{largest:,.0f} kWh</text>"
        )
    for index, bar in enumerate(bars):
        x = BAR_GAP + index * (BAR_WIDTH + BAR_GAP)
        centre = x + BAR_WIDTH / 2
        if bar.kwh is None:
            parts.append(
                f'<rect class="bar none" x="{x}" y="{base - 2}" width="{BAR_WIDTH}" height="2" '
                f'data-month="{escape(bar.label)}" data-kwh=""><title>{escape(bar.title)}</title>'
                "</rect>"
            )
            top = float(base - 2)
        else:
            h = bar_height(bar.kwh, largest, PLOT_HEIGHT)
            top = base - h
            parts.append(
                f'<rect class="bar {escape(bar.css)}" x="{x}" y="{_number(top)}" '
                f'width="{BAR_WIDTH}" height="{_number(h)}" data-month="{escape(bar.label)}" '
                f'data-kwh="{bar.kwh}"><title>{escape(bar.title)}</title></rect>'
            )
        parts.append(
            f'<text class="symbol {escape(bar.css)}" x="{_number(centre)}" '
            f'y="{_number(top - 5)}" text-anchor="middle" aria-hidden="true">'
            f"{escape(bar.symbol)}</text>"
        )
        parts.append(
            f'<text class="label" x="{_number(centre)}" y="{height - 4}" '
            f'text-anchor="middle">{escape(bar.label[-2:])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hourly_curve(values: Sequence[Decimal | None], *, caption: str) -> str:
    """Today's yield per hour (index 0 = the hour from midnight); None: no value yet."""
    largest = max((v for v in values if v is not None), default=Decimal(0))
    width = len(values) * HOUR_WIDTH + 2
    height = HOUR_PLOT_HEIGHT + 16
    base = HOUR_PLOT_HEIGHT
    parts = [
        f'<svg class="chart hours" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(caption)}">',
        f"<title>{escape(caption)}</title>",
        f'<line class="axis" x1="0" y1="{base}" x2="{width}" y2="{base}"/>',
    ]
    for hour, value in enumerate(values):
        x = 1 + hour * HOUR_WIDTH
        if value is not None:
            h = bar_height(value, largest, HOUR_PLOT_HEIGHT - 4)
            parts.append(
                f'<rect class="hour" x="{x + 1}" y="{_number(base - h)}" width="{HOUR_WIDTH - 2}" '
                f'height="{_number(h)}" data-hour="{hour}" data-kwh="{value}">'
                f"<title>{hour:02d}:00 {value} kWh</title></rect>"
            )
        if hour % 6 == 0:
            parts.append(f'<text class="label" x="{x}" y="{height - 3}">{hour:02d}</text>')
    parts.append("</svg>")
    return "".join(parts)
