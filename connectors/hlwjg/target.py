"""The 前置库 as the target of district inspections and penalties (flows 1, 2 and 5).

- writing is asynchronous: we write rows into the exchange tables, the exchange platform collects
  them later and says in ``TR_T_FEEDBACK`` whether it took them; a write is ``sent`` until then;
- the collector only takes rows whose ``CD_TIME`` is strictly newer than any it collected, so every
  batch gets a ``CD_TIME`` strictly later than any we ever wrote (a high-water mark read from the
  tables at start, then bumped by 1 µs — or by 1 s where the column keeps no microseconds);
- one write batch = one transaction = one ``CD_BATCH`` (``yyyyMMdd`` + 5-digit daily sequence that a
  restart continues from the tables); ``i``/``u`` are insert-or-replace, done as update-then-insert
  (portable: no MERGE / ON CONFLICT), ``d`` rows are checked on the envelope only;
- the platform rejects rows with codes missing from its catalogues or officers past ``VALID_TO``,
  hours later: we check those before writing (``catalogue``) and park the record with a message naming
  the mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog

from connectors.contract.clock import to_beijing
from connectors.contract.compare import differing
from connectors.contract.errors import (
    CatalogueMismatch,
    ConnectorError,
    FatalConnectorError,
    FieldError,
    RecordInvalid,
    RetriableError,
    TargetRejected,
)
from connectors.contract.health import Health
from connectors.contract.mapping import Mappings
from connectors.contract.records import Inspection, Penalty, Record, RecordKind
from connectors.contract.roles import (
    Capabilities,
    Context,
    Delivered,
    Feedback,
    FeedbackPage,
    Held,
    Prior,
    Push,
    deliver_one,
)
from connectors.contract.states import Action, DeliveryState
from connectors.contract.validators import mask_text
from connectors.hlwjg.catalogue import HlwjgCatalogue
from connectors.hlwjg.codes import CD_SOURCE, PLATFORM
from connectors.hlwjg.config import HlwjgConfig
from connectors.hlwjg.tables import KIND_OF, TABLE_OF, TABLES, feedback

log = structlog.get_logger("zhifa.hlwjg")
_MICRO = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_FEEDBACK_PAGE = 5000


def _naive(value: Any) -> datetime | None:
    return to_beijing(value) if isinstance(value, datetime) else None


class HlwjgTarget:
    """Writes rows into the 前置库 and reads the exchange platform's verdicts (a FeedbackTarget). A
    record never written and already void is not written at all (no ``withdraw_unsent``)."""

    capabilities = Capabilities(withdraw_unsent=False)

    def __init__(self, name: str, cfg: HlwjgConfig, engine: sa.Engine, catalogue: HlwjgCatalogue,
                 clock: Callable[[], datetime], health: Health) -> None:  # fmt: skip
        self.name = name
        self.health = health
        self.concurrency = 1  # batches are written one at a time: CD_TIME must only grow
        self.batch_size = cfg.batch_size
        self.submitter = cfg.submitter
        self.engine = engine
        self.catalogue = catalogue
        self._clock = clock
        self._write_lock = threading.Lock()
        self._hwm: datetime | None = None  # the newest CD_TIME written by us (or found at start)
        self._step = _MICRO  # becomes one second where the database drops microseconds
        self._batch_day = ""
        self._batch_seq = 0

    def begin_run(self, kind: RecordKind) -> None:
        self.catalogue.begin_run()

    def wants(self, record: Record) -> bool:
        # District copies of city records are not sent on: the city reports its own (docs/domain.md).
        return record.origin == "district"

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        m = ctx.mappings
        dept = record.dept_code or "(空)"
        cd_source = m.get("departments", dept, "hlwjg_cd_source", what="部门")
        if not CD_SOURCE.match(cd_source):
            file = m.file_of("departments")
            raise CatalogueMismatch(
                file,
                dept,
                "hlwjg_cd_source",
                f"{file} 中部门 {dept} 的 hlwjg_cd_source {cd_source}"
                f" 应为6位行政区划代码加1–14位字母或数字: 请修改 {file}",
            )
        table = TABLE_OF[record.kind]
        if record.withdrawn:  # a `d` row is checked on the envelope only: nothing else to map
            return {"table": table, "delete": True, "row": {"CD_SOURCE": cd_source}}
        row = self._inspection(record, m) if isinstance(record, Inspection) else self._penalty(record, m)
        row = {"CD_SOURCE": cd_source, **row}
        too_long = []
        for column, value in row.items():
            limit = getattr(TABLES[table].c[column].type, "length", None)
            if isinstance(value, str) and limit and len(value) > limit:
                too_long.append(
                    FieldError(column, f"超过{PLATFORM}允许的 {limit} 个字符 (实际 {len(value)} 个)")
                )
        if too_long:  # the platform would refuse the row: fail it here, naming the column
            raise RecordInvalid(record.id, too_long)
        return {"table": table, "delete": False, "row": row}

    def _agency(self, record: Record, m: Mappings) -> tuple[str, str]:
        dept = record.dept_code or "(空)"
        return (
            m.get("departments", dept, "agency_name", what="部门"),
            m.get("departments", dept, "agency_uscc", what="部门"),
        )

    def _inspection(self, r: Inspection, m: Mappings) -> dict[str, Any]:
        item_code = m.get("items", r.item_code, "hlwjg_item_code", what="检查事项")
        self.catalogue.check_item(m, r.item_code, item_code)
        agency_name, agency_uscc = self._agency(r, m)
        key = (r.item_code, agency_uscc)
        icode = m.get("hlwjg_check_implement", key, "check_icode", what="检查实施清单")
        self.catalogue.check_icode(m, "/".join(key), icode, item_code, agency_uscc)
        names, certs = [], []
        for uid in dict.fromkeys(r.officers):  # the same order in both columns
            cert = m.get("officers", uid, "cert_no", what="执法人员")
            names.append(m.get("officers", uid, "name", what="执法人员"))
            certs.append(cert)
            self.catalogue.check_officer(m, uid, cert)
        uscc = r.enterprise.uscc
        return {
            "PLAN_ID": r.plan_id,
            "SUPERVISE_ITEM_CODE": item_code,
            "CHECK_ICODE": icode,
            "CHECK_ACTION_NAME": m.row("items", r.item_code).get("district_item_name") or r.item_code,
            "CHECK_ACTION_CODE": r.id,  # our id: penalties refer to their inspection by it
            "IMPLEMENT_INSTITUTION": agency_name,
            "IMPLEMENT_INSTITUTION_CODE": agency_uscc,
            "SUPERVISE_OBJECT": r.enterprise.name,
            "ADMINISTRATIVE_CP": r.enterprise.name,
            "ADMINISTRATIVE_CP_NA": "03" if uscc.startswith("92") else "01",  # 92…: 个体工商户
            "ADMINISTRATIVE_CP_CE_TYPE": "001",
            "ADMINISTRATIVE_CP_UI_CODE": uscc,
            "ADDRESS_REGISTERED": r.enterprise.address,
            "AREA_NUMBER": r.enterprise.region_code,
            "CHECK_FORM": "1",  # district inspections are on site
            "CHECK_TYPE": m.get("inspection_types", r.inspection_type, "hlwjg_code", what="检查类型"),
            "CHECK_RESULT": m.get("inspection_results", r.result, "hlwjg_code", what="检查结果"),
            "CHECK_DATE": r.started_at.date(),
            "CHECK_PERSONNEL": "|".join(names),
            "CHECK_PERSONNEL_CODE": "|".join(certs),
            "SUBMITTED_PERSONNEL": self.submitter,
        }

    def _penalty(self, r: Penalty, m: Mappings) -> dict[str, Any]:
        item_code = m.get("items", r.item_code, "hlwjg_item_code", what="处罚事项")
        self.catalogue.check_item(m, r.item_code, item_code)
        agency_name, agency_uscc = self._agency(r, m)
        p = r.party
        if p.type == "2":
            ce_type = m.get("id_types", p.id_type or "(空)", "hlwjg_code", what="证件类型")
            ui_code = p.id_no
        else:
            ce_type, ui_code = "001", p.uscc
        return {
            "SUPERVISE_ITEM_CODE": item_code,
            "PUNISH_ACTION_NAME": m.row("items", r.item_code).get("district_item_name") or r.item_code,
            "PUNISH_ACTION_CODE": r.decision_no,
            "CHECK_ACTION_CODE": r.inspection_id,
            "IMPLEMENT_INSTITUTION": agency_name,
            "IMPLEMENT_INSTITUTION_CODE": agency_uscc,
            "ADMINISTRATIVE_CP": p.name,
            "ADMINISTRATIVE_CP_NA": m.get("party_types", p.type, "hlwjg_code", what="当事人类型"),
            "ADMINISTRATIVE_CP_CE_TYPE": ce_type,
            "ADMINISTRATIVE_CP_UI_CODE": ui_code,
            "LEGAL_REPRESENTATIVE": p.legal_rep,
            "AREA_NUMBER": m.get("departments", r.dept_code or "(空)", "region_code", what="部门"),
            "ILLEGAL_FACT": r.facts,
            "PUNISH_BASIS": r.basis,
            "PUNISH_TYPE": "|".join(
                m.get("penalty_types", t, "hlwjg_code", what="处罚类别") for t in r.penalty_types
            ),
            "FINE_AMOUNT": r.fine_yuan.quantize(Decimal("0.01")),
            "CONFISCATION_AMOUNT": r.confiscation_yuan.quantize(Decimal("0.01")),
            "DECISION_DATE": r.decided_on,
            "PROCEDURE_TYPE": "1" if r.procedure == "general" else "2",
            "SUBMITTED_PERSONNEL": self.submitter,
        }

    # -- reading back (reconciliation) ---------------------------------------------------------------
    lists_all = True  # the exchange table holds our rows only, each under its CD_ID

    def held(self, kind: RecordKind, known: Mapping[str, Prior]) -> dict[str, Held]:
        """Every row of the kind's exchange table, by ``CD_ID``, with its ``CD_BATCH`` as the version."""
        table = TABLES[TABLE_OF[kind]]
        try:
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
        except sa.exc.SQLAlchemyError as exc:
            raise _translate_db_error(self.name, exc) from exc
        return {str(r["CD_ID"]): Held(str(r["CD_ID"]), str(r["CD_ID"]), r, r.get("CD_BATCH")) for r in rows}

    def differs(self, payload: dict[str, Any], held: Held) -> list[str]:
        """The columns not as written; a withdrawn record only has to be a ``d`` row."""
        deleted = held.fields.get("CD_OPERATION") == "d"
        if payload["delete"]:
            return [] if deleted else ["CD_OPERATION"]
        return differing(payload["row"], held.fields) + (["CD_OPERATION"] if deleted else [])

    # -- writing ------------------------------------------------------------------------------------
    def deliver(self, push: Push) -> Delivered:
        return deliver_one(self, push)

    def deliver_batch(self, pushes: list[Push]) -> list[Delivered | Exception]:
        """Write the pushes as one batch (one transaction, one CD_BATCH, one CD_TIME)."""
        out: list[Delivered | Exception | None] = [None] * len(pushes)
        todo = []
        for n, push in enumerate(pushes):
            record, payload, prior = push.record, push.payload, push.prior
            # "attempted": an earlier write may have gone in without our hearing back.
            written = prior is not None and (prior.known or prior.state == DeliveryState.ATTEMPTED)
            if payload["delete"] and not written:
                out[n] = Delivered(Action.SKIPPED)  # never written, already void: nothing to take back
            else:
                op = "d" if payload["delete"] else ("u" if written else "i")
                todo.append((n, record.id, payload, op))
        if todo:
            try:
                batch = self._write(todo)
            except TargetRejected as exc:
                if len(todo) == 1:
                    out[todo[0][0]] = exc
                else:  # find the row the database refused: each one alone
                    for n, *_ in todo:
                        out[n] = self.deliver_batch([pushes[n]])[0]
            else:
                for n, cd_id, _payload, op in todo:
                    prior = pushes[n].prior
                    linked = prior.linked if prior else False
                    action = Action.WITHDRAWN if op == "d" else Action.SENT
                    out[n] = Delivered(action, cd_id, linked, target_version=batch)
        return [r if r is not None else RuntimeError("unreachable") for r in out]

    def _write(self, todo: list[tuple[int, str, dict[str, Any], str]]) -> str:
        with self._write_lock:
            try:
                with self.engine.begin() as conn:
                    cd_time = self._next_time(conn)
                    batch = self._next_batch(conn, cd_time.date())
                    self._upsert(conn, todo, cd_time, batch)
                    cd_time = self._check_precision(conn, todo, cd_time)
            except sa.exc.SQLAlchemyError as exc:
                error = _translate_db_error(self.name, exc)
                if isinstance(error, RetriableError):
                    self.health.failed(str(error))
                elif isinstance(error, FatalConnectorError):
                    self.health.refused(str(error))
                raise error from exc
            self._hwm = cd_time
            self.health.answered()
        log.info("batch_written", system=self.name, cd_batch=batch, rows=len(todo), cd_time=str(cd_time))
        return batch

    def _next_time(self, conn: sa.Connection) -> datetime:
        if self._hwm is None:  # first write of this process: continue after whatever the tables hold
            found = [_naive(conn.scalar(sa.select(sa.func.max(t.c.CD_TIME)))) for t in TABLES.values()]
            self._hwm = max((f for f in found if f is not None), default=datetime(2000, 1, 1))
        when = max(self._clock(), self._hwm + self._step)
        if self._step == _SECOND and when.microsecond:
            when = when.replace(microsecond=0) + _SECOND
        return when

    def _next_batch(self, conn: sa.Connection, day: date) -> str:
        prefix = day.strftime("%Y%m%d")
        if self._batch_day != prefix:  # first batch of the day in this process: continue the tables' count
            seqs = [0]
            for t in TABLES.values():
                top = conn.scalar(sa.select(sa.func.max(t.c.CD_BATCH)).where(t.c.CD_BATCH.like(prefix + "%")))
                if top and str(top)[8:13].isdigit():
                    seqs.append(int(str(top)[8:13]))
            self._batch_day, self._batch_seq = prefix, max(seqs)
        if self._batch_seq >= 99999:
            raise TargetRejected(f"{self.name} 今日批次号已用尽 (CD_BATCH {prefix}99999)", system=self.name)
        self._batch_seq += 1
        return f"{prefix}{self._batch_seq:05d}"

    def _upsert(
        self,
        conn: sa.Connection,
        todo: list[tuple[int, str, dict[str, Any], str]],
        cd_time: datetime,
        batch: str,
    ) -> None:
        for name, table in TABLES.items():
            rows = []
            for _n, cd_id, payload, op in todo:
                if payload["table"] != name:
                    continue
                row = {
                    **payload["row"],
                    "CD_ID": cd_id,
                    "CD_TIME": cd_time,
                    "CD_BATCH": batch,
                    "CD_OPERATION": op,
                }
                if op != "d":
                    row["SUBMITTED_DATE"] = cd_time  # later than 00:00 of the check/decision date
                rows.append(row)
            if not rows:
                continue
            ids = [r["CD_ID"] for r in rows]
            existing = set(conn.scalars(sa.select(table.c.CD_ID).where(table.c.CD_ID.in_(ids))))
            # Update-then-insert, grouped by the columns written (a `d` row updates the envelope only).
            for group in _by_columns([r for r in rows if r["CD_ID"] in existing]):
                stmt = (
                    table.update()
                    .where(table.c["CD_ID"] == sa.bindparam("b_CD_ID"))
                    .values({c: sa.bindparam(f"b_{c}") for c in group[0] if c != "CD_ID"})
                )
                conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in group])
            new = [r for r in rows if r["CD_ID"] not in existing]
            for group in _by_columns(new):
                conn.execute(table.insert(), group)

    def _check_precision(
        self, conn: sa.Connection, todo: list[tuple[int, str, dict[str, Any], str]], cd_time: datetime
    ) -> datetime:
        """Read one row back: where the column dropped the microseconds, move the batch to a whole second."""
        table = TABLES[todo[0][2]["table"]]
        stored = _naive(conn.scalar(sa.select(table.c.CD_TIME).where(table.c["CD_ID"] == todo[0][1])))
        if stored == cd_time:
            return cd_time
        if self._step == _SECOND:
            raise FatalConnectorError(
                f"{self.name} 前置库 CD_TIME 列精度不足 (写入 {cd_time}, 读回 {stored})", system=self.name
            )
        log.warning("cd_time_second_precision", system=self.name, written=str(cd_time), stored=str(stored))
        self._step = _SECOND
        assert self._hwm is not None
        when = max(cd_time, self._hwm + _SECOND).replace(microsecond=0) + _SECOND
        for name, t in TABLES.items():
            ids = [cd_id for _n, cd_id, payload, _op in todo if payload["table"] == name]
            if ids:
                conn.execute(t.update().where(t.c.CD_ID.in_(ids)).values(CD_TIME=when))
                conn.execute(
                    t.update().where(t.c.CD_ID.in_(ids), t.c.CD_OPERATION != "d").values(SUBMITTED_DATE=when)
                )
        return when

    # -- feedback -----------------------------------------------------------------------------------
    def poll_feedback(self, watermark: str | None) -> FeedbackPage:
        after = int(watermark) if watermark and watermark.isdigit() else 0
        query = (
            sa.select(
                feedback.c.FB_ID,
                feedback.c.TABLE_NAME,
                feedback.c.CD_ID,
                feedback.c.CD_BATCH,
                feedback.c.STATUS,
                feedback.c.ERROR_MSG,
            )
            .where(feedback.c["FB_ID"] > after)
            .order_by(feedback.c.FB_ID)
            .limit(_FEEDBACK_PAGE)
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:  # other targets go on; the verdicts wait for the next run
            log.warning("feedback_unavailable", system=self.name, error=str(exc).splitlines()[0])
            self.health.failed(f"{self.name} 前置库反馈表无法读取: {str(exc).splitlines()[0][:200]}")
            return FeedbackPage([], None)
        items = []
        for r in rows:
            kind = KIND_OF.get(str(r.TABLE_NAME or "").strip().upper())
            if kind is None:
                continue
            ok = str(r.STATUS or "").strip() == "1"
            items.append(
                Feedback(
                    kind,
                    str(r.CD_ID).strip(),
                    str(r.CD_BATCH).strip() if r.CD_BATCH else None,
                    ok,
                    "" if ok else mask_text(str(r.ERROR_MSG or "未说明原因")),
                )
            )
        return FeedbackPage(items, str(rows[-1].FB_ID) if rows else None)


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(sorted(r)), []).append(r)
    return list(groups.values())


def _translate_db_error(system: str, exc: sa.exc.SQLAlchemyError) -> ConnectorError:
    text = mask_text(str(getattr(exc, "orig", None) or exc).splitlines()[0][:200])
    if isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError | sa.exc.DisconnectionError
    ):
        return RetriableError(f"{system} 前置库暂时不可用: {text}", system=system)
    if isinstance(exc, sa.exc.ProgrammingError):
        return FatalConnectorError(
            f"{system} 前置库表结构或权限不符: {text} (请检查前置库账号与交换表)", system=system
        )
    return TargetRejected(f"{system} 前置库拒绝写入: {text}", system=system, response=text)
