"""Actions per hour by state, drawn on the server as SVG (no script, no external library).

Each Action counts in the hour it was created, coloured by the state it is in now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core.states import State
from bridge.store.models import Action

RANGES = {"24h": 24, "7d": 24 * 7}
# Stacked bottom-up in this order; the colours live in the stylesheet (.st-<state>).
STATE_ORDER = [s.value for s in State]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 260, 40, 30, 10


@dataclass(frozen=True)
class HourlyCounts:
    hours: list[datetime]  # the start of each hour, UTC, oldest first
    counts: dict[tuple[datetime, str], int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def states(self) -> list[str]:
        present = {state for _, state in self.counts}
        return [s for s in STATE_ORDER if s in present]


def hourly_counts(session: Session, hours: int, now: datetime | None = None) -> HourlyCounts:
    now = now or datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    if session.get_bind().dialect.name == "postgresql":
        bucket = func.date_trunc("hour", func.timezone("UTC", Action.created_at))
    else:  # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        bucket = func.strftime("%Y-%m-%d %H:00:00", Action.created_at)
    query = (
        select(bucket.label("hour"), Action.state, func.count())
        .where(Action.created_at >= start, Action.created_at < end)
        .group_by(bucket, Action.state)
    )
    counts: dict[tuple[datetime, str], int] = {}
    for hour, state, n in session.execute(query):
        counts[(_as_utc(hour), state)] = n
    return HourlyCounts([start + timedelta(hours=i) for i in range(hours)], counts)


def _as_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def render_svg(data: HourlyCounts, tz: ZoneInfo) -> Markup:
    """A stacked bar per hour; the hour and its counts in each bar's <title> (the tooltip)."""
    per_hour = [sum(data.counts.get((h, s), 0) for s in STATE_ORDER) for h in data.hours]
    peak = max([*per_hour, 1])
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP
    bar_w = plot_w / len(data.hours)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="actions per hour by state"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>',
        f'<text class="label" x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end">{peak}</text>',
        f'<text class="label" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    label_every = 3 if len(data.hours) <= 24 else 24
    for i, hour in enumerate(data.hours):
        x = LEFT + i * bar_w
        local = hour.astimezone(tz)
        y: float = TOP + plot_h
        tip = [f"{local:%Y-%m-%d %H}:00"]
        for state in STATE_ORDER:
            n = data.counts.get((hour, state), 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            tip.append(f"{state}: {n}")
            parts.append(
                f'<rect class="bar st-{state}" data-state="{state}" data-count="{n}" x="{x + 0.5:.1f}" y="{y:.1f}"'
                f' width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}"/>'
            )
        parts.append(
            f'<rect class="hover" x="{x:.1f}" y="{TOP}" width="{bar_w:.1f}" height="{plot_h}">'
            f"<title>{escape(', '.join(tip))}</title></rect>"
        )
        if local.hour % label_every == 0 and (label_every == 3 or local.hour == 0):
            text = f"{local:%H}h" if label_every == 3 else f"{local:%d/%m}"
            parts.append(f'<text class="label" x="{x:.1f}" y="{HEIGHT - 10}">{text}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built only from numbers, state names and escaped text
