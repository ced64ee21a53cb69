"""The province's catalogue tables in the 前置库 (监管事项目录, 检查实施清单, registered officers), checked
twice with the same rules: record by record before a row is written (the platform would refuse it hours
later), and table by table by ``zhifa-sync mappings check --live``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from connectors.contract.errors import CatalogueMismatch
from connectors.contract.mapping import CheckReport, Mappings
from connectors.contract.roles import Officer
from connectors.hlwjg.codes import ITEM_CODE, PLATFORM, icode_problem
from connectors.hlwjg.tables import check_implement, law_officer, supervise_item

log = structlog.get_logger("zhifa.hlwjg")
EXPIRY_WARNING_DAYS = 30
UNREADABLE: Any = ...  # a lookup while the 前置库 cannot be read: the write will tell


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def expired(valid_to: date | None, today: date) -> bool:
    """An officer past ``VALID_TO`` is not registered (the platform compares with the collection date)."""
    return valid_to is not None and valid_to < today


class HlwjgCatalogue:
    def __init__(self, name: str, engine: sa.Engine, clock: Callable[[], datetime]) -> None:
        self.name = name
        self.engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Any] = {}
        self._down = False

    # -- record by record, cached per run ----------------------------------------------------------
    def begin_run(self) -> None:
        with self._lock:
            self._cache.clear()
            self._down = False

    def lookup(self, table: sa.Table, key: str) -> Any:
        """The catalogue row for ``key`` (None when absent); ``UNREADABLE`` when the 前置库 cannot be read."""
        with self._lock:
            if self._down:
                return UNREADABLE
            if (table.name, key) in self._cache:
                return self._cache[(table.name, key)]
        pk = next(iter(table.primary_key.columns))
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(table).where(pk == key)).first()
        except sa.exc.SQLAlchemyError as exc:
            # Checked again at the write, which fails as a transient error if the 前置库 is still down.
            log.warning("catalogue_unavailable", system=self.name, error=str(exc).splitlines()[0])
            with self._lock:
                self._down = True
            return UNREADABLE
        value = dict(row._mapping) if row is not None else None
        with self._lock:
            self._cache[(table.name, key)] = value
        return value

    def check_item(self, m: Mappings, item: str, code: str) -> None:
        file = m.file_of("items")
        where = f"{file}: {item}"
        if not ITEM_CODE.match(code):
            problem = f"应为14位数字: 请修改 {file} 的 hlwjg_item_code"
        elif self.lookup(supervise_item, code) is None:
            problem = (
                f"不在{PLATFORM} TR_T_SUPERVISE_ITEM 中: 请核对 {file} 的 hlwjg_item_code 或联系省级平台"
            )
        else:
            return
        raise CatalogueMismatch(file, item, "hlwjg_item_code", f"监管事项目录编码 {code} ({where}) {problem}")

    def check_icode(self, m: Mappings, key: str, icode: str, item_code: str, agency: str) -> None:
        file = m.file_of("hlwjg_check_implement")
        row = self.lookup(check_implement, icode)
        problem = None
        if row is None:
            problem = f"不在{PLATFORM} TR_T_CHECK_IMPLEMENT 中"
        elif row is not UNREADABLE and str(row["ITEM_CODE"] or "").strip() != item_code:
            problem = f"属于监管事项 {row['ITEM_CODE']}, 不属于 {item_code}"
        else:
            problem = icode_problem(icode, agency)
        if problem:
            raise CatalogueMismatch(
                file,
                key,
                "check_icode",
                f"检查实施清单编码 {icode} ({file}: {key}) {problem}: 请更新 {file} 或联系省级平台",
            )

    def check_officer(self, m: Mappings, uid: str, cert: str) -> None:
        file = m.file_of("officers")
        row = self.lookup(law_officer, cert)
        if row is UNREADABLE:
            return
        if row is None:
            text = f"执法证号 {cert} ({file}: {uid}) 未在{PLATFORM} TR_T_LAW_OFFICER 中注册"
        elif expired(valid_to := as_date(row["VALID_TO"]), self._clock().date()):
            text = f"执法证号 {cert} ({file}: {uid}) 在{PLATFORM} TR_T_LAW_OFFICER 中已过期 (VALID_TO {valid_to})"
        else:
            return
        raise CatalogueMismatch(file, uid, "cert_no", f"{text}: 请更新 {file} 或联系省级平台")

    # -- table by table (mappings check --live) ---------------------------------------------------
    def officers(self) -> list[Officer]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(law_officer.c.CERT_NO, law_officer.c.NAME, law_officer.c.VALID_TO))
            return [Officer(str(r[0]), str(r[1] or ""), valid_to=as_date(r[2])) for r in rows]

    def check(self, maps: Mappings, report: CheckReport, today: date) -> None:
        with self.engine.connect() as db:
            supervise = {r[0] for r in db.execute(sa.select(supervise_item.c.ITEM_CODE))}
            implement = {
                r[0]: (r[1], r[2])
                for r in db.execute(
                    sa.select(
                        check_implement.c.ICODE, check_implement.c.ITEM_CODE, check_implement.c.AGENCY_USCC
                    )
                )
            }
        for at in maps.rows("items"):
            code = at.values.get("hlwjg_item_code", "")
            if code and code not in supervise:
                report.error(
                    at,
                    "hlwjg_item_code",
                    f"监管事项目录编码 {code} 不在前置库 TR_T_SUPERVISE_ITEM 中: 互联网+监管会拒收; 请核对编码",
                )
        self._check_implement(maps, report, implement)
        self._check_officers(maps, report, today)

    def _check_implement(
        self, maps: Mappings, report: CheckReport, implement: dict[Any, tuple[Any, Any]]
    ) -> None:
        items = maps.tables.get("items")
        for at in maps.rows("hlwjg_check_implement"):
            icode = at.values.get("check_icode", "")
            if not icode:
                continue
            if icode not in implement:
                report.error(
                    at, "check_icode", f"检查实施清单编码 {icode} 不在前置库 TR_T_CHECK_IMPLEMENT 中: 请核对"
                )
                continue
            item_code, agency = implement[icode]
            item = items.rows.get((at.key[0],)) if items else None
            mapped = item.values.get("hlwjg_item_code", "") if item else ""
            if mapped and item_code != mapped:
                report.error(
                    at,
                    "check_icode",
                    f"检查实施清单 {icode} 属于监管事项 {item_code}, 而事项 {at.key[0]} 映射到 {mapped}: 请核对",
                )
            if agency and agency != at.key[1]:
                report.error(
                    at,
                    "check_icode",
                    f"检查实施清单 {icode} 登记的实施机构是 {agency}, 本行为 {at.key[1]}: 请核对",
                )

    def _check_officers(self, maps: Mappings, report: CheckReport, today: date) -> None:
        registered = {o.cert_no: o for o in self.officers()}
        for at in maps.rows("officers"):
            cert, name = at.values.get("cert_no", ""), at.values.get("name", "")
            if not cert:
                continue
            officer = registered.get(cert)
            if officer is None:
                report.error(
                    at,
                    "cert_no",
                    f"执法证号 {cert} 未在互联网+监管注册 (TR_T_LAW_OFFICER): 前置库会拒收; 请核对证号或先办理注册",
                )
                continue
            if expired(officer.valid_to, today):
                report.error(
                    at,
                    "cert_no",
                    f"执法证号 {cert} 在互联网+监管的有效期已于 {officer.valid_to} 届满 (VALID_TO): 视为未注册,"
                    " 请办理延期, 或改由其他在册执法人员",
                )
            elif expired(officer.valid_to, today + timedelta(days=EXPIRY_WARNING_DAYS)):
                report.warn(
                    at,
                    "cert_no",
                    f"执法证号 {cert} 在互联网+监管的有效期将于 {officer.valid_to} 届满: 请及时办理延期",
                )
            if officer.name and name and officer.name != name:
                report.warn(
                    at,
                    "name",
                    f"执法证号 {cert} 在互联网+监管登记的姓名是 {officer.name}, 本表为 {name}: 请核对",
                )
