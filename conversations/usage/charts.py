"""Charts drawn on the server as inline SVG: no chart library, no script, and the strict CSP holds.

Colours come from CSS classes (static/css/usage.css: `.series-N`, `.chart-*`), so
one drawing is readable in the light and the dark theme. Every bar is a link to
the rows behind it, with a <title> the browser shows on hover and screen readers
read.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

SERIES = 8  # distinct colours; more series reuse them


def usd(value) -> str:
    value = Decimal(value or 0)
    if value and abs(value) < 1:
        return f"${value:,.4f}"
    return f"${value:,.2f}"


def axis_usd(value: Decimal) -> str:
    """A value axis's tick, as short as it is exact: $0, $0.75, $0.0025, $12, $2.5k, $1.25M (never "$0.7500")."""
    value = Decimal(value)
    for size, suffix in ((Decimal(1_000_000), "M"), (Decimal(1000), "k")):
        if abs(value) >= size:
            return f"${_short(value / size)}{suffix}"
    return f"${_short(value)}"


def _short(value: Decimal) -> str:
    """Four significant digits at most (a tick is a quarter of 1, 2, 2.5 or 5 × 10^k), no trailing zeros."""
    step = Decimal("0.0001") if abs(value) < 1 else Decimal("0.001") if abs(value) < 10 else Decimal("0.01")
    text = f"{value.quantize(step):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _html(template: str, *args) -> SafeString:
    """format_html with coordinates rounded to 0.1 (SVG needs no more)."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (the top of a value axis)."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (1, 2, Decimal("2.5"), 5, 10):
        top = Decimal(step).scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent)  # pragma: no cover (10^(k+1) always fits)


def stacked_bars(bars: list[tuple[str, str, dict]], series: list[str], *, title: str, height: int = 240) -> SafeString:
    """Vertical bars, one per (label, href, {series name: value}), stacked in the order of `series`."""
    width = 720
    left, right, top, bottom = 64, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum((Decimal(v or 0) for v in values.values()), Decimal(0)) for _, _, values in bars]
    ceiling = nice_ceiling(max(totals, default=Decimal(0)))
    slot = plot_w / max(len(bars), 1)
    bar_w = max(min(slot * 0.72, 48), 1.5)
    parts = [_axis(ceiling, left, top, plot_w, plot_h)]
    every = max(1, round(len(bars) / 12))  # at most ~12 labels under the axis
    for i, (label, href, values) in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        y: float = top + plot_h
        segments = []
        for index, name in enumerate(series):
            value = Decimal(values.get(name) or 0)
            if value <= 0:
                continue
            h = float(value / ceiling) * plot_h
            y -= h
            segments.append(
                _html(
                    '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"></rect>',
                    index % SERIES,
                    x,
                    y,
                    bar_w,
                    max(h, 0.5),
                )
            )
        tip = f"{label}: {usd(totals[i])}" + "".join(
            f"\n{name}: {usd(values[name])}" for name in series if Decimal(values.get(name) or 0) > 0
        )
        hit = _html(
            '<rect class="chart-hit" x="{}" y="{}" width="{}" height="{}"></rect>',
            left + slot * i,
            top,
            slot,
            plot_h,
        )
        body = _html("<title>{}</title>{}{}", tip, hit, mark_safe("".join(segments)))  # noqa: S308 (built by format_html)
        parts.append(_html('<a href="{}">{}</a>', href, body) if href else _html("<g>{}</g>", body))
        if i % every == 0:
            parts.append(
                _html(
                    '<text class="chart-label{}" x="{}" y="{}" text-anchor="middle">{}</text>',
                    " chart-minor" if (i // every) % 3 else "",  # a phone shows every third label, larger
                    left + slot * i + slot / 2,
                    height - 8,
                    label,
                )
            )
    return _svg(width, height, title, parts)


def horizontal_bars(items: list[tuple[str, str, Decimal]], *, title: str, series_index: int = 0) -> SafeString:
    """One bar per (label, href, value), longest first as given."""
    # Narrow: it sits in half a page, and its text must stay as large as the other charts'.
    row_h, label_w, value_w, width = 24, 128, 84, 440
    height = max(len(items), 1) * row_h + 8
    ceiling = max((Decimal(v or 0) for _, _, v in items), default=Decimal(0)) or Decimal(1)
    plot_w = width - label_w - value_w
    parts = []
    for i, (label, href, value) in enumerate(items):
        y = 4 + i * row_h
        w = max(float(Decimal(value or 0) / ceiling) * plot_w, 1.5)
        short = label if len(label) <= 18 else label[:17] + "…"
        row = _html(
            "<title>{}: {}</title>"
            '<rect class="chart-hit" x="0" y="{}" width="{}" height="{}"></rect>'
            '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>'
            '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}" rx="3"></rect>'
            '<text class="chart-value" x="{}" y="{}">{}</text>',
            label,
            usd(value),
            y,
            width,
            row_h,
            label_w - 8,
            y + 16,
            short,
            series_index % SERIES,
            label_w,
            y + 4,
            w,
            row_h - 8,
            label_w + w + 6,
            y + 16,
            usd(value),
        )
        parts.append(_html('<a href="{}">{}</a>', href, row) if href else _html("<g>{}</g>", row))
    return _svg(width, height, title, parts, kind="chart-bars")


def _axis(ceiling: Decimal, left: int, top: int, plot_w: float, plot_h: float) -> SafeString:
    lines = []
    for k in range(5):
        value = ceiling * k / 4
        y = top + plot_h - plot_h * k / 4
        lines.append(
            _html(
                '<line class="{}" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
                '<text class="chart-label{}" x="{}" y="{}" text-anchor="end">{}</text>',
                "chart-base" if k == 0 else "chart-grid",
                left,
                left + plot_w,
                y,
                y,
                " chart-minor" if k % 2 else "",
                left - 6,
                y + 4,
                axis_usd(value),
            )
        )
    return mark_safe("".join(lines))  # noqa: S308 (each part built by format_html)


def _svg(width: int, height: int, title: str, parts: list, kind: str = "chart-columns") -> SafeString:
    """The drawing: as wide as its box (CSS width: 100%), its height following the viewBox.

    A chart whose bars are links is a named group (its links are reached one by one); one without links is an
    image with a name, since an image holds no controls (axe-core: nested-interactive).
    """
    linked = any(str(p).startswith("<a ") for p in parts)
    return _html(
        '<svg class="chart {}" viewBox="0 0 {} {}" width="{}" height="{}" role="{}" aria-label="{}" '
        'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        kind,
        width,
        height,
        width,
        height,
        "group" if linked else "img",
        title,
        format_html_join("", "{}", ((p,) for p in parts)),
    )


def legend(series: list[str]) -> SafeString:
    """The key to a stacked chart's colours, as HTML."""
    return _html(
        '<ul class="chart-legend">{}</ul>',
        format_html_join(
            "",
            '<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect class="series-{}" '
            'width="10" height="10" rx="2"></rect></svg>{}</li>',
            ((i % SERIES, name) for i, name in enumerate(series)),
        ),
    )
