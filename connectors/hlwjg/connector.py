"""国家"互联网+监管"系统 via its 前置库 (exchange database): target of district inspections and penalties.

Quirks handled here (see shared/platforms/hlwjg.md):
- writing is asynchronous: we write rows into the exchange tables, the exchange platform collects
  them later and says in ``TR_T_FEEDBACK`` whether it took them; a write is ``sent`` until then;
- the collector only takes rows whose ``CD_TIME`` is strictly newer than any it collected, so every
  batch gets a ``CD_TIME`` strictly later than any we ever wrote (a high-water mark read from the
  tables at start, then bumped by 1 µs — or by 1 s where the column keeps no microseconds);
- one write batch = one transaction = one ``CD_BATCH`` (``yyyyMMdd`` + 5-digit daily sequence that a
  restart continues from the tables); ``i``/``u`` are insert-or-replace, done as update-then-insert
  (portable: no MERGE / ON CONFLICT), ``d`` rows are checked on the envelope only;
- the platform rejects rows with codes missing from its catalogues or officers past ``VALID_TO``,
  hours later: we check those before writing and park the record with a message naming the mapping.

The tables are defined here (never reflected) with portable types and quoted upper-case names, so the
same code runs on Oracle, MySQL, 达梦 and PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog

from connectors.contract.config import Secrets, SystemConfig
from connectors.contract.errors import (
    CatalogueMismatch,
    ConnectorError,
    FatalConnectorError,
    FieldError,
    RecordInvalid,
    RetriableError,
    TargetRejected,
)
from connectors.contract.mapping import Mappings
from connectors.contract.records import Inspection, Penalty, Record, RecordKind
from connectors.contract.roles import Context, Delivered, Feedback, PriorDelivery, deliver_one
from connectors.contract.validators import mask_text

log = structlog.get_logger("zhifa.hlwjg")
BEIJING = ZoneInfo("Asia/Shanghai")
CHECK_ACTION = "TR_T_JGXW_CHECK_ACTION"
PUNISH = "TR_T_JGXW_PUNISH"
FEEDBACK = "TR_T_FEEDBACK"
PLATFORM = "互联网+监管"

_meta = sa.MetaData()


def _col(name: str, type_: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, quote=True, **kw)


def _s(n: int) -> sa.String:
    return sa.String(n)


def _exchange(name: str, *columns: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name, _meta,
        _col("CD_ID", _s(64), primary_key=True), _col("CD_TIME", sa.DateTime), _col("CD_SOURCE", _s(20)),
        _col("CD_BATCH", _s(20)), _col("CD_OPERATION", sa.CHAR(1)),
        *columns, quote=True,
    )  # fmt: skip


def _party() -> list[sa.Column[Any]]:
    return [_col("ADMINISTRATIVE_CP", _s(200)), _col("ADMINISTRATIVE_CP_NA", _s(2)),
            _col("ADMINISTRATIVE_CP_CE_TYPE", _s(3)), _col("ADMINISTRATIVE_CP_UI_CODE", _s(20))]  # fmt: skip


check_action = _exchange(
    CHECK_ACTION,
    _col("PLAN_ID", _s(50)), _col("SUPERVISE_ITEM_CODE", _s(14)), _col("CHECK_ICODE", _s(32)),
    _col("CHECK_ACTION_NAME", _s(200)), _col("CHECK_ACTION_CODE", _s(50)), _col("IMPLEMENT_INSTITUTION", _s(100)),
    _col("IMPLEMENT_INSTITUTION_CODE", _s(18)), _col("SUPERVISE_OBJECT", _s(200)), *_party(),
    _col("ADDRESS_REGISTERED", _s(400)), _col("AREA_NUMBER", _s(6)), _col("CHECK_FORM", _s(1)),
    _col("CHECK_TYPE", _s(1)), _col("CHECK_RESULT", _s(1)), _col("CHECK_DATE", sa.Date),
    _col("CHECK_PERSONNEL", _s(500)), _col("CHECK_PERSONNEL_CODE", _s(500)), _col("SUBMITTED_DATE", sa.DateTime),
    _col("SUBMITTED_PERSONNEL", _s(50)),
)  # fmt: skip
punish = _exchange(
    PUNISH,
    _col("SUPERVISE_ITEM_CODE", _s(14)), _col("PUNISH_ACTION_NAME", _s(200)), _col("PUNISH_ACTION_CODE", _s(128)),
    _col("CHECK_ACTION_CODE", _s(50)), _col("IMPLEMENT_INSTITUTION", _s(100)),
    _col("IMPLEMENT_INSTITUTION_CODE", _s(18)), *_party(), _col("LEGAL_REPRESENTATIVE", _s(50)),
    _col("AREA_NUMBER", _s(6)), _col("ILLEGAL_FACT", _s(2000)), _col("PUNISH_BASIS", _s(2048)),
    _col("PUNISH_TYPE", _s(100)), _col("FINE_AMOUNT", sa.Numeric(18, 2)), _col("CONFISCATION_AMOUNT", sa.Numeric(18, 2)),
    _col("DECISION_DATE", sa.Date), _col("PROCEDURE_TYPE", _s(1)), _col("SUBMITTED_DATE", sa.DateTime),
    _col("SUBMITTED_PERSONNEL", _s(50)),
)  # fmt: skip
feedback = sa.Table(
    FEEDBACK, _meta,
    _col("FB_ID", sa.Integer, primary_key=True), _col("TABLE_NAME", _s(64)), _col("CD_ID", _s(64)),
    _col("CD_BATCH", _s(20)), _col("STATUS", sa.CHAR(1)), _col("ERROR_MSG", _s(2000)),
    _col("FEEDBACK_TIME", sa.DateTime), quote=True,
)  # fmt: skip
supervise_item = sa.Table(
    "TR_T_SUPERVISE_ITEM", _meta, _col("ITEM_CODE", _s(14), primary_key=True), _col("ITEM_NAME", _s(200)),
    _col("DEPT_NAME", _s(100)), quote=True,
)  # fmt: skip
check_implement = sa.Table(
    "TR_T_CHECK_IMPLEMENT", _meta, _col("ICODE", _s(32), primary_key=True), _col("ITEM_CODE", _s(14)),
    _col("AGENCY_USCC", _s(18)), _col("NAME", _s(200)), quote=True,
)  # fmt: skip
law_officer = sa.Table(
    "TR_T_LAW_OFFICER", _meta, _col("CERT_NO", _s(20), primary_key=True), _col("NAME", _s(50)),
    _col("AGENCY_USCC", _s(18)), _col("VALID_TO", sa.Date), quote=True,
)  # fmt: skip
TABLES = {CHECK_ACTION: check_action, PUNISH: punish}
_TABLE_OF = {"inspection": CHECK_ACTION, "penalty": PUNISH}
_KIND_OF: dict[str, RecordKind] = {CHECK_ACTION: "inspection", PUNISH: "penalty"}
_ENVELOPE = ("CD_ID", "CD_TIME", "CD_SOURCE", "CD_BATCH", "CD_OPERATION")
_CD_SOURCE = re.compile(r"^\d{6}[A-Za-z0-9]{1,14}$")
_ITEM_CODE = re.compile(r"^\d{14}$")
_MICRO = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_FEEDBACK_PAGE = 5000


def _day(value: Any) -> date | None:
    return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None


def _naive(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(BEIJING).replace(tzinfo=None) if value.tzinfo else value


class HlwjgConnector:
    """Writes rows into the 前置库 and reads the exchange platform's verdicts (a FeedbackTarget)."""

    keeps_withdrawn = False  # a record never written and already void is not written at all

    def __init__(
        self,
        name: str,
        cfg: SystemConfig,
        secrets: Secrets,
        *,
        engine: sa.Engine | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.concurrency = 1  # batches are written one at a time: CD_TIME must only grow
        self.batch_size = cfg.batch_size
        self.submitter = cfg.submitter
        self.engine = (
            engine if engine is not None else sa.create_engine(secrets.get(name, "url"), pool_pre_ping=True)
        )
        self._clock = clock or (lambda: datetime.now(BEIJING).replace(tzinfo=None))
        self._write_lock = threading.Lock()
        self._hwm: datetime | None = None  # the newest CD_TIME written by us (or found at start)
        self._step = _MICRO  # becomes one second where the database drops microseconds
        self._batch_day = ""
        self._batch_seq = 0
        self._cat_lock = threading.Lock()
        self._cat: dict[tuple[str, str], Any] = {}
        self._cat_down = False

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> str:
        with self.engine.connect() as conn:
            n = conn.scalar(sa.select(sa.func.count()).select_from(supervise_item))
        return f"前置库可连接, 监管事项目录 {n} 项"

    # -- the catalogue, cached per run ------------------------------------------------------------
    def begin_run(self, kind: RecordKind) -> None:
        with self._cat_lock:
            self._cat.clear()
            self._cat_down = False

    def _lookup(self, table: sa.Table, key: str) -> Any:
        """The catalogue row for ``key`` (None when absent); ``...`` when the 前置库 cannot be read."""
        with self._cat_lock:
            if self._cat_down:
                return ...
            if (table.name, key) in self._cat:
                return self._cat[(table.name, key)]
        pk = next(iter(table.primary_key.columns))
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(table).where(pk == key)).first()
        except sa.exc.SQLAlchemyError as exc:
            # Checked again at the write, which fails as a transient error if the 前置库 is still down.
            log.warning("catalogue_unavailable", system=self.name, error=str(exc).splitlines()[0])
            with self._cat_lock:
                self._cat_down = True
            return ...
        value = dict(row._mapping) if row is not None else None
        with self._cat_lock:
            self._cat[(table.name, key)] = value
        return value

    def _check_item(self, m: Mappings, item: str, code: str) -> None:
        where = f"{m.file_of('items')}: {item}"
        if not _ITEM_CODE.match(code):
            raise CatalogueMismatch(
                m.file_of("items"),
                item,
                "hlwjg_item_code",
                f"监管事项目录编码 {code} ({where}) 应为14位数字: 请修改 {m.file_of('items')} 的 hlwjg_item_code",
            )
        if self._lookup(supervise_item, code) is None:
            raise CatalogueMismatch(
                m.file_of("items"),
                item,
                "hlwjg_item_code",
                f"监管事项目录编码 {code} ({where}) 不在{PLATFORM} TR_T_SUPERVISE_ITEM 中:"
                f" 请核对 {m.file_of('items')} 的 hlwjg_item_code 或联系省级平台",
            )

    def _check_icode(self, m: Mappings, key: str, icode: str, item_code: str, agency: str) -> None:
        file = m.file_of("hlwjg_check_implement")
        row = self._lookup(check_implement, icode)
        problem = None
        if row is None:
            problem = f"不在{PLATFORM} TR_T_CHECK_IMPLEMENT 中"
        elif row is not ... and str(row["ITEM_CODE"] or "").strip() != item_code:
            problem = f"属于监管事项 {row['ITEM_CODE']}, 不属于 {item_code}"
        elif not icode.startswith(agency) or len(icode) < 19 or icode[18] not in "12345":
            problem = f"前18位应为实施机构统一社会信用代码 {agency}, 第19位应为1–5"
        if problem:
            raise CatalogueMismatch(
                file,
                key,
                "check_icode",
                f"检查实施清单编码 {icode} ({file}: {key}) {problem}: 请更新 {file} 或联系省级平台",
            )

    def _check_officer(self, m: Mappings, uid: str, cert: str) -> None:
        file = m.file_of("officers")
        row = self._lookup(law_officer, cert)
        if row is ...:
            return
        if row is None:
            raise CatalogueMismatch(
                file,
                uid,
                "cert_no",
                f"执法证号 {cert} ({file}: {uid}) 未在{PLATFORM}"
                f" TR_T_LAW_OFFICER 中注册: 请更新 {file} 或联系省级平台",
            )
        valid_to = _day(row["VALID_TO"])
        if valid_to is not None and valid_to < self._clock().date():
            raise CatalogueMismatch(
                file,
                uid,
                "cert_no",
                f"执法证号 {cert} ({file}: {uid}) 在{PLATFORM}"
                f" TR_T_LAW_OFFICER 中已过期 (VALID_TO {valid_to}): 请更新 {file} 或联系省级平台",
            )

    # -- translation --------------------------------------------------------------------------------
    def wants(self, record: Record) -> bool:
        # District copies of city records are not sent on: the city reports its own (domain.md).
        return record.origin == "district"

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        m = ctx.mappings
        dept = record.dept_code or "(空)"
        cd_source = m.get("departments", dept, "hlwjg_cd_source", what="部门")
        if not _CD_SOURCE.match(cd_source):
            file = m.file_of("departments")
            raise CatalogueMismatch(
                file,
                dept,
                "hlwjg_cd_source",
                f"{file} 中部门 {dept} 的 hlwjg_cd_source {cd_source}"
                f" 应为6位行政区划代码加1–14位字母或数字: 请修改 {file}",
            )
        table = _TABLE_OF[record.kind]
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
        self._check_item(m, r.item_code, item_code)
        agency_name, agency_uscc = self._agency(r, m)
        key = (r.item_code, agency_uscc)
        icode = m.get("hlwjg_check_implement", key, "check_icode", what="检查实施清单")
        self._check_icode(m, "/".join(key), icode, item_code, agency_uscc)
        names, certs = [], []
        for uid in dict.fromkeys(r.officers):  # the same order in both columns
            cert = m.get("officers", uid, "cert_no", what="执法人员")
            names.append(m.get("officers", uid, "name", what="执法人员"))
            certs.append(cert)
            self._check_officer(m, uid, cert)
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
        self._check_item(m, r.item_code, item_code)
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

    # -- writing ------------------------------------------------------------------------------------
    def deliver(self, record: Record, payload: dict[str, Any], prior: PriorDelivery | None) -> Delivered:
        return deliver_one(self, record, payload, prior)

    def deliver_batch(
        self, jobs: list[tuple[Record, dict[str, Any], PriorDelivery | None]]
    ) -> list[Delivered | Exception]:
        """Write the jobs as one batch (one transaction, one CD_BATCH, one CD_TIME)."""
        out: list[Delivered | Exception | None] = [None] * len(jobs)
        todo = []
        for n, (record, payload, prior) in enumerate(jobs):
            # "attempted": an earlier write may have gone in without our hearing back.
            written = prior is not None and (prior.target_id is not None or prior.state == "attempted")
            if payload["delete"] and not written:
                out[n] = Delivered("skipped")  # never written, already void: nothing to take back
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
                        out[n] = self.deliver_batch([jobs[n]])[0]
            else:
                for n, cd_id, _payload, op in todo:
                    prior = jobs[n][2]
                    linked = prior.linked if prior else False
                    action = "withdrawn" if op == "d" else "sent"
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
                raise _translate_db_error(self.name, exc) from exc
            self._hwm = cd_time
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
    def poll_feedback(self, watermark: str | None) -> tuple[list[Feedback], str | None]:
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
            return [], None
        items = []
        for r in rows:
            kind = _KIND_OF.get(str(r.TABLE_NAME or "").strip().upper())
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
        return items, (str(rows[-1].FB_ID) if rows else None)


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
