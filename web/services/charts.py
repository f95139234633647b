"""Server-side SVG charts (no JavaScript, no CDN): horizontal bars, monthly lines, progress bars.

Readable in print: solid fills, dark text, every value written next to its mark, a <title> for
screen readers with a <desc> of every value. Labels are escaped; the result is ``Markup`` ready for a template.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

PALETTE = ("#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a")
INK = "#1f2328"
GRID = "#d0d7de"
FONT = 'font-family="system-ui, \'Noto Sans CJK SC\', \'PingFang SC\', sans-serif"'


def _number(value: float) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bars(items: Sequence[tuple[str, float]], *, title: str, width: int = 600, bar_height: int = 22,
         label_width: int = 190, color: str = PALETTE[0]) -> Markup:
    """One horizontal bar per (label, value), longest first as given."""
    if not items:
        return Markup("")
    top = max(float(value or 0) for _, value in items) or 1.0
    plot = width - label_width - 70
    height = len(items) * (bar_height + 8) + 8
    # sizes come from CSS classes (reports.css), not style attributes: the CSP allows no inline style
    parts = [f'<svg class="chart chart-bars" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="13"><title>{escape(title)}</title>',
             _desc(f"{label}: {_number(value)}" for label, value in items)]
    for index, (label, value) in enumerate(items):
        y = 8 + index * (bar_height + 8)
        length = max(1.0, plot * float(value or 0) / top) if value else 0
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" fill="{INK}">'
            f'{escape(_clip(str(label), 24))}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{color}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar_height * 0.7:.1f}" fill="{INK}">'
            f'{_number(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(months: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
          width: int = 640, height: int = 240) -> Markup:
    """Monthly series of the same unit on one shared scale (values written at the points)."""
    if not months:
        return Markup("")
    left, right, top, bottom = 16, 16, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(months) - 1)
    peak = max((float(v or 0) for _, values in series for v in values), default=0) or 1.0
    parts = [f'<svg class="chart chart-lines" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="11"><title>{escape(title)}</title>',
             _desc(f"{name}: " + ", ".join(f"{month} {_number(value)}" for month, value in zip(months, values,
                                                                                              strict=False))
                   for name, values in series),
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GRID}"/>']
    for index, month in enumerate(months):
        x = left + index * step
        parts.append(f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle" fill="{INK}">{escape(month[2:])}</text>')
    legend_x = left
    for number, (name, values) in enumerate(series):
        color = PALETTE[number % len(PALETTE)]
        points = [(left + i * step, top + plot_h - plot_h * float(v or 0) / peak) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = "" if number == 0 else f' stroke-dasharray="{2 + 2 * number},3"'
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for (x, y), value in zip(points, values, strict=False):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
            if value:
                parts.append(f'<text x="{x:.1f}" y="{y - 5:.1f}" text-anchor="middle" fill="{color}">'
                             f'{_number(value)}</text>')
        parts.append(f'<rect x="{legend_x}" y="6" width="12" height="4" fill="{color}"/>'
                     f'<text x="{legend_x + 16}" y="12" fill="{INK}">{escape(name)}</text>')
        legend_x += 24 + sum(12 if ord(ch) > 0x2E80 else 6.5 for ch in str(name))
    parts.append("</svg>")
    return Markup("".join(parts))


def progress(actual: float, target: float, *, title: str, width: int = 480, height: int = 22) -> Markup:
    """A bar filled to actual/target (capped at the end), with "actual / target (n%)" written over it."""
    share = (float(actual) / float(target)) if target else 0.0
    filled = min(1.0, share) * width
    label = f"{_number(actual)} / {_number(target)}" + (f" ({share * 100:.0f}%)" if target else "")
    return Markup(
        f'<svg class="chart progress-chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="12"><title>{escape(title)}: {label}</title>'
        f'<rect x="0" y="0" width="{width}" height="{height}" rx="4" fill="#eef0f3" stroke="{GRID}"/>'
        f'<rect x="0" y="0" width="{filled:.1f}" height="{height}" rx="4" fill="{PALETTE[2] if share >= 1 else PALETTE[0]}"'
        f' fill-opacity="0.85"/>'
        f'<text x="{width / 2:.0f}" y="{height * 0.7:.1f}" text-anchor="middle" fill="{INK}" '
        f'stroke="#fff" stroke-width="3" paint-order="stroke">{label}</text></svg>')


def _desc(lines: Iterable[str]) -> str:
    """Every value in words: an image role hides the chart's own texts from screen readers, the description
    (read after the title) gives them back."""
    return f"<desc>{escape('; '.join(lines))}</desc>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
