"""
The Flex view as one self-contained HTML page (inline CSS and an inline SVG chart, no script, no fetch).

Rendered on the server from a :class:`~flex_provider.ui.data.FlexOverview`; every value is escaped. The
page is shown in the Airflow UI's iframe for the plugin's external view, so it carries no navigation of
its own beyond day links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape

from flex_provider.ui.data import DayRecovery, FlexOverview

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1a202c}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;min-width:480px}th,td{padding:4px 10px;border-bottom:1px solid #e2e8f0;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.sel td{background:#ebf8ff}
.muted{color:#718096}.err{color:#c53030}.legend span{margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
a{color:#2b6cb0}
"""
_COLORS = {"rescued": "#38a169", "expired": "#e53e3e", "pending": "#a0aec0", "other": "#d6bcfa"}


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: set[int], row_id: str,
           selected: Iterable[bool] | None = None) -> str:
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{_e(h)}</th>' for i, h in enumerate(headers))
    body = []
    marks = iter(selected) if selected is not None else None
    for row in rows:
        cls = ' class="sel"' if marks is not None and next(marks) else ""
        cells = "".join(
            f'<td{" class=n" if i in numeric else ""}>{c if isinstance(c, _Html) else _e(c)}</td>'
            for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>')
    return f'<table id="{row_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


class _Html(str):
    """A cell value that is already HTML (built from escaped parts)."""


def chart(days: Sequence[DayRecovery], *, width: int = 720, height: int = 220) -> str:
    """Stacked bars per business day: rescued, expired, still pending, other (cancelled/rejected later)."""
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in days:
        bucket = per_day[d.business_date]
        bucket["sent"] += d.declines_sent
        bucket["rescued"] += d.rescued_count
        bucket["expired"] += d.expired
        bucket["pending"] += d.pending
    if not per_day:
        return '<p class="muted" id="chart">No recovery summary yet (flex_reconcile writes it).</p>'
    ordered = sorted(per_day.items())
    top = max(max(b["sent"], b["rescued"] + b["expired"] + b["pending"]) for _, b in ordered) or 1
    pad, base = 30, height - 30
    slot = (width - pad) / len(ordered)
    bar = min(48.0, slot * 0.6)
    parts = [(f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="Declines sent and their outcome by business day">'),
             f'<line x1="{pad}" y1="{base}" x2="{width}" y2="{base}" stroke="#cbd5e0"/>',
             f'<text x="2" y="14" font-size="11" fill="#718096">{top}</text>']
    for i, (day, b) in enumerate(ordered):
        x = pad + i * slot + (slot - bar) / 2
        y = base
        other = max(b["sent"] - b["rescued"] - b["expired"] - b["pending"], 0)
        for key in ("rescued", "expired", "pending", "other"):
            value = other if key == "other" else b[key]
            if value <= 0:
                continue
            h = (base - 20) * value / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{_COLORS[key]}"><title>{_e(day)} {key}: {value}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 14}" font-size="11" text-anchor="middle">'
                     f"{_e(day.strftime('%m-%d'))}</text>")
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">'
                     f"{b['sent']}</text>")
    parts.append("</svg>")
    legend = "".join(f'<span><i class="sw" style="background:{c}"></i>{k}</span>' for k, c in _COLORS.items())
    return "".join(parts) + f'<div class="legend muted">{legend} (bar label: declines sent)</div>'


def render(view: FlexOverview, *, base_path: str = "") -> str:
    """The whole page for ``view``; day links point at ``{base_path}?day=YYYY-MM-DD``."""
    sel = view.selected_day

    def day_link(d: date) -> _Html:
        return _Html(f'<a href="{_e(base_path)}?day={d.isoformat()}" target="_self">{d.isoformat()}</a>')

    recovery = _table(
        ["Business day", "Currency", "Declines sent", "Rescued", "Rescued amount", "Expired", "Pending",
         "Rejected", "Recovery rate"],
        ([day_link(d.business_date), d.currency, d.declines_sent, d.rescued_count, d.rescued_amount, d.expired,
          d.pending, d.rejected, d.recovery_rate or "n/a"] for d in reversed(view.days)),
        numeric={2, 3, 4, 5, 6, 7, 8}, row_id="recovery",
        selected=[d.business_date == sel for d in reversed(view.days)],
    )
    files = _table(
        ["File", "Kind", "State", "Rows", "Ack", "Ack error", "Uploaded", "Acknowledged"],
        ([f.name, f.kind, f.state, f.rows, f.ack_status or "", f.ack_error or "", _ts(f.uploaded_at),
          _ts(f.acknowledged_at)] for f in view.files),
        numeric={3}, row_id="files",
    )
    reasons = ", ".join(f"{_e(r)}: {n}" for r, n in sorted(view.rejects_by_reason.items())) or "none"
    rejects = _table(["Order id", "Reason"], ([r.order_id, r.reason] for r in view.rejects), numeric=set(),
                     row_id="rejects")
    events = _table(
        ["#", "Event", "Order", "Status", "Amount", "Currency", "Resent", "Received"],
        ([e.id, e.event, e.order_id or "", e.status or "", e.amount or "", e.currency or "",
          "yes" if e.is_resent else "", _ts(e.received_at)] for e in view.events),
        numeric={0, 4}, row_id="events",
    )
    errors = "".join(f'<p class="err">Could not read {_e(m)}.</p>' for m in view.errors)
    day_txt = sel.isoformat() if sel else "no day yet"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Flex recovery</title>"
        f"<style>{_CSS}</style></head><body>"
        '<h1>Flex recovery</h1><p class="muted">Read-only: the merchant DB\'s recovery summary, the batch '
        "ledger and the webhook store. Amounts in major units of each currency.</p>"
        f"{errors}<h2>Recovery by business day</h2>{chart(view.days)}{recovery}"
        f'<h2>Batch files of <span id="selected-day">{_e(day_txt)}</span></h2>{files}'
        f'<h2>Rejects of {_e(day_txt)}</h2><p id="reject-reasons">{reasons}</p>{rejects}'
        f"<h2>Recent webhook events</h2>{events}</body></html>"
    )
