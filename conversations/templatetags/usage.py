"""Formatting of money, counts, rates and durations on the usage pages."""

from decimal import Decimal

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from conversations.usage import budgets
from conversations.usage.charts import usd as chart_usd

register = template.Library()


@register.filter
def usd(value) -> str:
    """$1,234.56, or $0.0123 under a dollar (a single answer can cost cents); "-" when unknown."""
    if value is None or value == "":
        return "-"
    return chart_usd(value)


@register.filter
def about_usd(value) -> str:
    """An estimate in dollars and cents ("$0.42", "less than $0.01"), as the composer shows it."""
    if value is None or value == "":
        return "-"
    return budgets.about_usd(Decimal(value))


@register.filter
def over_by(spent, budget) -> Decimal:
    """How far `spent` passed `budget` (an answer that cost more than it was held at); 0 within it or without one."""
    if budget is None or spent is None:
        return Decimal(0)
    return max(Decimal(spent) - Decimal(budget), Decimal(0))


@register.filter
def count(value) -> str:
    if value is None or value == "":
        return "-"
    return f"{int(value):,}"


@register.filter
def percent(value) -> str:
    """A 0..1 rate as a percentage with one decimal."""
    if value is None:
        return "-"
    return f"{value * 100:.1f} %"


@register.filter
def ms(value) -> str:
    """A duration in ms, as people read one: 850 ms, 42.3 s, 3 min 05 s."""
    if value is None:
        return "-"
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@register.filter
def share_of(part, whole) -> str:
    """`part` as a percentage of `whole` (money or counts)."""
    if not whole:
        return "-"
    return f"{Decimal(part or 0) * 100 / Decimal(whole):.0f} %"


FIGURE_HEADERS = ("Charged attempts", "Input", "Cached", "Output", "Reasoning", "Cost", "Provider cost", "Failed")


@register.simple_tag
def figures_table(rows, first: str, table_id: str, tall: bool = False):
    """A table of `reports.Row`s, every figure a link to the rows behind it.

    Built in Python: a year of days is 365 rows of nine linked cells, which the
    template engine renders ten times slower.
    """
    if not rows:
        return mark_safe('<p class="muted">No charges in this period.</p>')
    head = format_html_join("", '<th scope="col" class="num">{}</th>', ((h,) for h in FIGURE_HEADERS))
    body = []
    for row in rows:
        f = row.figures
        label = format_html('<a href="{}">{}</a>', row.url, row.label) if row.url else row.label
        if not f.charges:
            body.append(
                format_html(
                    '<tr class="is-empty"><th scope="row">{}</th>'
                    '<td class="num muted" colspan="8">no charges</td></tr>',
                    label,
                )
            )
            continue
        values = (
            count(f.charges),
            count(f.input_tokens),
            count(f.cached_tokens),
            count(f.output_tokens),
            count(f.reasoning_tokens),
            usd(f.cost_usd),
            usd(f.provider_cost_usd),
            count(f.failed),
        )
        if row.url:
            cells = format_html_join("", '<td class="num"><a href="{}">{}</a></td>', ((row.url, v) for v in values))
        else:
            cells = format_html_join("", '<td class="num">{}</td>', ((v,) for v in values))
        body.append(format_html('<tr><th scope="row">{}</th>{}</tr>', label, cells))
    return format_html(
        '<div class="table-scroll{}"><table class="usage-table" id="{}"><thead><tr><th scope="col">{}</th>{}</tr>'
        "</thead><tbody>{}</tbody></table></div>",
        # A box that scrolls (a tall table; a wide one on a phone) is reached by the keyboard: a named region in
        # the tab order, unless its links are (axe-core: scrollable-region-focusable).
        format_html(
            '{}" tabindex="0" role="region" aria-label="Figures per {}, scrolls',
            " table-tall" if tall else "",
            first.lower(),
        )
        if tall or not any(row.url for row in rows)
        else "",
        table_id,
        first,
        head,
        mark_safe("".join(body)),  # noqa: S308 (each row built by format_html)
    )


@register.inclusion_tag("conversations/usage/_figures_panel.html", takes_context=True)
def figures_panel(context, rows, title: str, first: str, key: str, csv: str = "", tall: bool = False, hint: str = ""):
    """A panel of the usage pages: its heading (`<key>-title`), a CSV link where the page has one
    (the page's `csv_url` + `csv`), and the figures table of `rows` (id `table-<csv>`, else `<key>`)."""
    csv_url = context.get("csv_url")
    return {
        "rows": rows, "title": title, "first": first, "key": key, "tall": tall, "hint": hint,
        "table_id": f"table-{csv}" if csv else key,
        "csv": f"{csv_url}{csv}" if csv and csv_url else "",
    }  # fmt: skip
