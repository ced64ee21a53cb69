"""The 7-working-day deadline of 双公示 publication (国办发〔2018〕118号): which decisions are late.

For every decided penalty in the ledger that a credit target takes (general procedure, or summary too
where ``send_summary`` is set; the district's own decisions only), the due date and whether the target
holds it yet. Read from the ledger alone (the stored records and deliveries), so the report works while
the platforms are down.

A decision zhifa-sync first read (``records.first_seen``) after its due date had passed was late before
the daemon could act: history from before the installation (a first run reads a bureau's past weeks).
Its publication is counted apart from the late ones, and an unpublished one is still overdue (it
still has to be published) but says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime

from connectors.contract.clock import beijing_now
from connectors.contract.states import Deadline as DeadlineState
from connectors.contract.states import DeliveryState, Timeliness, label, labels
from sync.cli_format import table
from sync.config import Settings
from sync.ledger import Ledger
from sync.workdays import WorkCalendar

SOON_WORKDAYS = 2  # "due soon": within this many working days from today
STATE_NAMES = labels(DeadlineState)
_ORDER = {"overdue": 0, "due_soon": 1, "pending": 2, "published": 3}
PUBLISHED = (Timeliness.ON_TIME, Timeliness.LATE, Timeliness.LATE_WHEN_READ)
HISTORY_NOTE = "安装前的历史数据"


@dataclass(frozen=True)
class Deadline:
    """One decision's publication deadline on one credit target."""

    source_id: str
    target: str
    doc_no: str
    party_name: str
    decided_on: date
    due: date
    published_at: datetime | None
    state: str  # overdue | due_soon | pending | published
    first_seen: datetime | None = None  # when zhifa-sync first read the decision (Beijing time)

    @property
    def late(self) -> bool:
        """Published after its due date (or not yet and past it)."""
        done = self.published_at.date() if self.published_at else None
        return (done or date.max) > self.due

    @property
    def overdue_when_read(self) -> bool:
        """Already past its due date when zhifa-sync first read it: its lateness is not the daemon's."""
        return self.first_seen is not None and self.first_seen.date() > self.due

    @property
    def publication(self) -> Timeliness | None:
        """How a published decision was published (None: not yet): on time, late, or late already when read."""
        if self.published_at is None:
            return None
        if not self.late:
            return Timeliness.ON_TIME
        return Timeliness.LATE_WHEN_READ if self.overdue_when_read else Timeliness.LATE


def _credit_flows(settings: Settings) -> list[tuple[str, str, bool]]:
    """(source system, credit target, send_summary) for every penalty pipeline feeding a credit target."""
    flows = []
    for p in settings.pipelines:
        if p.kind != "penalty":
            continue
        for t in p.targets:
            cfg = settings.systems.get(t)
            if cfg is not None and cfg.type == "credit":
                flows.append((p.source, t, cfg.send_summary))
    return sorted(set(flows))


def deadlines(
    ledger: Ledger,
    settings: Settings,
    today: date,
    *,
    calendar: WorkCalendar | None = None,
    soon_workdays: int = SOON_WORKDAYS,
) -> list[Deadline]:
    """Every decided penalty bound for a credit target, most urgent first (overdue, due within
    ``soon_workdays`` working days, pending, then published), each group by due date."""
    cal = calendar or WorkCalendar.load(settings.holidays_file)
    soon = cal.add_workdays(today, soon_workdays)
    out: list[Deadline] = []
    for system, target, send_summary in _credit_flows(settings):
        published = ledger.deliveries_to(
            system, "penalty", target, (DeliveryState.DELIVERED, DeliveryState.SENT)
        )
        first_seen = ledger.first_seen(system, "penalty")
        for row in ledger.stored_records(system, "penalty", statuses=("decided", "closed")):
            d = _deadline(
                row.source_id, row.body, target, send_summary, published.get(row.source_id), cal, today, soon
            )
            if d is not None:
                out.append(replace(d, first_seen=first_seen.get(row.source_id)))
    out.sort(key=lambda d: (_ORDER[d.state], d.due, d.source_id))
    return out


def _deadline(
    source_id: str,
    body_text: str,
    target: str,
    send_summary: bool,
    at: datetime | None,
    cal: WorkCalendar,
    today: date,
    soon: date,
) -> Deadline | None:
    """One decision's deadline on one credit target; None for what the target does not take."""
    try:
        body = json.loads(body_text)
        decided_on = date.fromisoformat(str(body["decided_on"]).strip())
    except (ValueError, KeyError, TypeError):
        return None  # an invalid record is a failure of its own, shown with the failures
    if body.get("origin", "district") != "district":
        return None
    if body.get("procedure") != "general" and not send_summary:
        return None
    due = cal.due_date(decided_on)
    if at is not None:
        state = "published"
    elif due < today:
        state = "overdue"
    elif due <= soon:
        state = "due_soon"
    else:
        state = "pending"
    party = body.get("party") if isinstance(body.get("party"), dict) else {}
    return Deadline(
        source_id,
        target,
        str(body.get("decision_no") or ""),
        str(party.get("name") or ""),
        decided_on,
        due,
        at,
        state,
    )


def deadline_section(
    ledger: Ledger, settings: Settings, today: date | None = None, *, limit: int = 20
) -> str:
    """The 双公示 deadline section of ``zhifa-sync status``: warnings, counts, then the urgent decisions."""
    today = today or beijing_now().date()
    cal = WorkCalendar.load(settings.holidays_file)
    lines = ["双公示 7 个工作日公示期限"]
    if warning := cal.coverage_warning(today):
        lines.append("  " + warning)
    items = deadlines(ledger, settings, today, calendar=cal)
    if not items:
        lines.append("  无 (没有发往双公示平台的处罚决定)")
        return "\n".join(lines)
    lines.append("  " + counts_line(items))
    urgent = [d for d in items if d.state in ("overdue", "due_soon")]
    if urgent:
        rows = [
            [
                STATE_NAMES[d.state]
                + (f" ({label(Timeliness, Timeliness.LATE_WHEN_READ)})" if d.overdue_when_read else ""),
                d.due.isoformat(),
                d.decided_on.isoformat(),
                d.doc_no,
                d.party_name,
                d.source_id,
                d.target,
            ]
            for d in urgent[:limit]
        ]
        lines.append(
            table(rows, ["状态", "公示期限", "决定日期", "决定书文号", "当事人", "区平台编号", "目标"])
        )
        if len(urgent) > limit:
            lines.append(f"  …… 另有 {len(urgent) - limit} 条, 见控制台失败列表")
    return "\n".join(lines)


def counts_line(items: list[Deadline]) -> str:
    """How many decisions stand where, each count explained: the published ones split by how they were
    published (on time + late + late already when read = published), the overdue ones that were."""
    parts = []
    for state, name in STATE_NAMES.items():
        group = [d for d in items if d.state == state]
        text = f"{name} {len(group)}"
        if state == DeadlineState.PUBLISHED:
            split = ", ".join(
                f"{label(Timeliness, p)} {sum(1 for d in group if d.publication == p)}" for p in PUBLISHED
            )
            text += f" ({split} ({HISTORY_NOTE}))"
        elif state == DeadlineState.OVERDUE and (read_late := sum(1 for d in group if d.overdue_when_read)):
            text += f" (其中 {read_late} 条在首次读到时已逾期, {HISTORY_NOTE})"
        parts.append(text)
    return ", ".join(parts)
