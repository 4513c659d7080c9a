"""The analytics report as one standalone HTML page: inline SVG charts of the trend, the tier
distribution and the most redeemed rewards, then the tables of figures.

Nothing is fetched from elsewhere (no script, stylesheet, font or image from a network), so the
file can be mailed or archived as it is. Every text that comes from data (the program's name,
channels, tier and reward ids and names) is escaped. The page is also well-formed XML (XHTML
syntax), which the tests check. Chart geometry is integer arithmetic on integer figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from api.analytics_text import NOT_AVAILABLE, SECTIONS, columns, heading, money, shown
from loyalty.services.analytics import AnalyticsReport

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 110, 20, 30, 50
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = ("#2f6fb0", "#e0823d", "#3a9a5b", "#b04a7a")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 small { color: #777; font-weight: normal; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { padding: 0.2rem 0.7rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.section th { background: #f0f3f7; text-align: left; }
figure { margin: 1rem 0; }
figcaption { font-weight: bold; margin-bottom: 0.3rem; }
svg.chart { width: 100%; height: auto; border: 1px solid #eee; }
svg text { font-size: 11px; fill: #444; }
.note { color: #666; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _bounds(values: Sequence[int]) -> tuple[int, int]:
    low, high = min([0, *values]), max([0, *values])
    return low, high if high > low else low + 1


def _y(value: int, low: int, high: int) -> int:
    return TOP + (high - value) * PLOT_H // (high - low)


def _x(index: int, count: int) -> int:
    """The left edge of slot ``index`` of ``count``."""
    return LEFT + index * PLOT_W // max(count, 1)


def _axes(labels: Sequence[str], low: int, high: int, label: Callable[[int], str]) -> list[str]:
    """Grid lines at the low, zero and high values, and about a dozen x labels."""
    parts = []
    for value in sorted({low, 0, high}):
        y = _y(value, low, high)
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{_e(label(value))}</text>'
        )
    # as many x labels as fit side by side (about 7 pixels a character)
    longest = max([1, *(len(text) for text in labels)])
    step = max(1, -(-len(labels) * (longest * 7 + 10) // PLOT_W))
    for index in range(0, len(labels), step):
        x = _x(index, len(labels)) + PLOT_W // max(len(labels), 1) // 2
        parts.append(
            f'<text x="{x}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{_e(labels[index])}</text>"
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        x = LEFT + index * 170
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{COLOURS[index % len(COLOURS)]}"/>'
        )
        parts.append(f'<text x="{x + 18}" y="18">{_e(name)}</text>')
    return parts


def _svg(title: str, parts: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>{''.join(parts)}</svg>"
    )


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[int]],
    label: Callable[[int], str] = "{:,}".format,
) -> str:
    """One polyline per series, a dot per point when there are few."""
    low, high = _bounds([v for values in series.values() for v in values])
    parts = _axes(labels, low, high, label) + _legend(list(series))
    half = PLOT_W // max(len(labels), 1) // 2
    for index, values in enumerate(series.values()):
        colour = COLOURS[index % len(COLOURS)]
        points = [(_x(i, len(values)) + half, _y(v, low, high)) for i, v in enumerate(values)]
        parts.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{" ".join(f"{x},{y}" for x, y in points)}"/>'
        )
        if len(points) <= 62:
            parts += [f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>' for x, y in points]
    return _svg(title, parts)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[int]],
    label: Callable[[int], str] = "{:,}".format,
) -> str:
    """Vertical bars, side by side when there are several series."""
    low, high = _bounds([v for values in series.values() for v in values])
    parts = _axes(labels, low, high, label) + _legend(list(series))
    slot = PLOT_W // max(len(labels), 1)
    width = max(1, slot * 4 // 5 // max(len(series), 1))
    zero = _y(0, low, high)
    for index, values in enumerate(series.values()):
        colour = COLOURS[index % len(COLOURS)]
        for i, value in enumerate(values):
            y = _y(value, low, high)
            parts.append(
                f'<rect class="bar" x="{_x(i, len(values)) + slot // 10 + index * width}" '
                f'y="{min(y, zero)}" width="{width}" height="{abs(zero - y)}" '
                f'fill="{colour}"><title>{_e(labels[i])}: {_e(label(value))}</title>'
                f"</rect>"
            )
    return _svg(title, parts)


def hbar_chart(title: str, rows: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars: a label, a bar, the value."""
    height = 20 + 28 * max(len(rows), 1)
    longest = max([1, *(value for _, value in rows)])
    bar_space = WIDTH - 220 - 80
    parts = []
    for index, (name, value) in enumerate(rows):
        y = 10 + 28 * index
        length = max(0, value) * bar_space // longest
        parts.append(f'<text x="210" y="{y + 15}" text-anchor="end">{_e(name)}</text>')
        parts.append(
            f'<rect class="bar" x="220" y="{y}" width="{length}" height="20" fill="{COLOURS[0]}"/>'
        )
        parts.append(f'<text x="{226 + length}" y="{y + 15}">{value:,}</text>')
    if not rows:
        parts.append('<text x="20" y="30">nothing in this period</text>')
    return _svg(title, parts, height)


def _figure(caption: str, chart: str) -> str:
    return f"<figure><figcaption>{_e(caption)}</figcaption>{chart}</figure>"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: AnalyticsReport) -> str:
    trend = report.trend
    labels = [
        t.start.isoformat()[:7] if report.interval == "month" else t.start.isoformat()
        for t in trend
    ]

    def amount(value: int) -> str:
        return money(report, value)

    trend_charts = [
        _figure(
            "Active members and purchases",
            line_chart(
                "Active members and purchases",
                labels,
                {
                    "active members": [t.active_members for t in trend],
                    "purchases": [t.purchases for t in trend],
                    "new members": [t.new_members for t in trend],
                },
            ),
        ),
        _figure(
            f"Revenue ({report.currency}, net of returns)",
            bar_chart("Revenue", labels, {"revenue": [t.revenue for t in trend]}, amount),
        ),
        _figure(
            "Points issued and redeemed",
            bar_chart(
                "Points issued and redeemed",
                labels,
                {
                    "issued": [t.points_issued for t in trend],
                    "redeemed": [t.points_redeemed for t in trend],
                },
            ),
        ),
    ]
    charts = []
    if report.tier_distribution:
        charts.append(
            _figure(
                "Members per tier now",
                hbar_chart(
                    "Members per tier now",
                    [(t.name or t.tier, t.members) for t in report.tier_distribution],
                ),
            )
        )
    charts.append(
        _figure(
            "Most redeemed rewards",
            hbar_chart("Most redeemed rewards", [(r.name, r.redemptions) for r in report.rewards]),
        )
    )

    groups = columns(report)
    figure_rows = []
    for section, figures in SECTIONS:
        figure_rows.append(
            f'<tr class="section"><th colspan="{len(groups) + 1}">{_e(section)}</th></tr>'
        )
        for name, label, kind in figures:
            cells = "".join(f"<td>{_e(shown(report, getattr(g, name), kind))}</td>" for g in groups)
            figure_rows.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    figures_table = (
        "<table><thead><tr><th>figure</th>"
        + "".join(f"<th>{_e(g.key)}</th>" for g in groups)
        + "</tr></thead><tbody>"
        + "".join(figure_rows)
        + "</tbody></table>"
    )
    trend_table = _table(
        ["from", "to", "active", "new", "purchases", "revenue", "issued", "redeemed"],
        [
            [
                t.start,
                t.end,
                f"{t.active_members:,}",
                f"{t.new_members:,}",
                f"{t.purchases:,}",
                amount(t.revenue),
                f"{t.points_issued:,}",
                f"{t.points_redeemed:,}",
            ]
            for t in trend
        ],
    )
    moves_table = _table(
        ["from", "to", "direction", "moves"],
        [
            [m.from_tier or NOT_AVAILABLE, m.to_tier, m.direction, f"{m.moves:,}"]
            for m in report.tier_moves
        ],
    )
    rewards_table = _table(
        ["reward", "id", "redemptions", "points"],
        [[r.name, r.reward_id, f"{r.redemptions:,}", f"{r.points:,}"] for r in report.rewards],
    )
    lines = "".join(f'<p class="note">{_e(line)}</p>' for line in heading(report))
    title = f"Loyalty report: {report.program_name}"
    return (
        '<!DOCTYPE html>\n<html lang="en" xmlns="http://www.w3.org/1999/xhtml"><head>'
        f'<meta charset="utf-8"/><title>{_e(title)}</title><style>{STYLE}</style></head>'
        f"<body><h1>{_e(report.program_name)} <small>{_e(report.program_id)}</small></h1>"
        f"{lines}<h2>Trend, by {_e(report.interval)}</h2>{''.join(trend_charts)}"
        f"<h2>Tiers and rewards</h2>{''.join(charts)}"
        f"<h2>Figures</h2>{figures_table}"
        f"<h2>Tier moves ({report.tier_moves_up} up, {report.tier_moves_down} down)</h2>"
        f"{moves_table}<h2>Most redeemed rewards</h2>{rewards_table}"
        f"<h2>Trend</h2>{trend_table}</body></html>\n"
    )
