"""The municipal system as a *source* (flow 3): records typed in at the city for the district's region.

- ``pull`` lists ``/openapi/jcjl/list`` / ``/openapi/xzcf/list`` for the configured region (at most
  100 per page; inclusive ``gxsj`` windows that shift under the reader: ``connectors.paging``);
- only records typed in at the city (``wbxtly`` null) go on: a record with an external source —
  ``QJJR``, our own pushes — is skipped like an unsubmitted draft (echo suppression);
- ``parse`` has no mapping tables: the canonical record keeps the city's codes (``origin``
  "municipal") and the district target maps them back. The enumerations the model checks itself
  (party type, ID type, procedure, status) are translated here from the city's documented lists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.contract.clock import TIME_FORMAT, beijing_now
from connectors.contract.errors import FieldError, RecordInvalid
from connectors.contract.records import Record, RecordKind, parse_record
from connectors.contract.roles import Listed, Page, RawSummary
from connectors.municipal.client import ID_FIELD, MunicipalClient
from connectors.municipal.codes import AJZT_STATUS, CXLX_PROCEDURE, DSRLX_PARTY, JLZT_STATUS, ZJLX_ID
from connectors.paging import Key, Position, fetch_by_second, listed

NAMES = "_zfry_xm"  # added to each pulled record: 执法证号 → name, from the city's officer dictionary


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def _time14(value: Any) -> Any:
    """``yyyyMMddHHmmss`` → ``yyyy-MM-dd HH:mm:ss``; anything else as it is (validation names it)."""
    text = str(value or "").strip()
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def _amount(value: Any) -> Any:
    # The city sends JSON numbers: read them as the decimal text they were written as.
    if isinstance(value, float):
        return Decimal(str(value))
    return "0" if value is None or value == "" else value


def _codes(value: Any) -> list[str]:
    return [c.strip() for c in str(value or "").split(",") if c.strip()]


class MunicipalSource:
    def __init__(self, client: MunicipalClient) -> None:
        self.client = client
        self.name = client.system
        self._names: dict[str, str] = {}
        self._names_lock = threading.Lock()

    def now(self) -> datetime:
        return beijing_now()

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        self._refresh_names()
        id_field = ID_FIELD[kind]
        for page in self.client.pull_list(kind, Position.from_json(saved, start), until, page_size):
            yield Page([self._enrich(item, id_field) for item in page.items], page.cursor)

    def list_ids(
        self, kind: RecordKind, start: datetime, until: datetime, page_size: int
    ) -> Iterator[list[Listed]]:
        """The region's records of the window as ids and ``gxsj`` (the list call, nothing kept but ids)."""
        key = _key(ID_FIELD[kind])
        for page in self.client.pull_list(kind, Position(start), until, page_size):
            yield listed(page.items, key, lambda raw: not self.is_unsubmitted(kind, raw))

    def fetch(self, kind: RecordKind, wanted: list[Listed], page_size: int) -> list[Any]:
        """The records named, read again over the seconds they were listed at."""
        return fetch_by_second(self.pull, kind, wanted, page_size, _key(ID_FIELD[kind]))

    def _refresh_names(self) -> None:
        """Officers' names by 执法证号 (the city sends only the numbers; the district wants names too)."""
        entries = self.client.dictionary("zfry")
        with self._names_lock:
            self._names.update({str(e["zjh"]): str(e.get("xm") or "") for e in entries if e.get("zjh")})

    def _enrich(self, item: Any, id_field: str) -> Any:
        if not isinstance(item, dict):
            return item
        with self._names_lock:
            names = {c: self._names.get(c, "") for c in _codes(item.get("zfry"))}
        # ``id`` lets the engine name the record even when it is invalid; both are kept with it.
        return {**item, "id": item.get(id_field), NAMES: names}

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        # Only records typed in at the city flow to the district; QJJR records are our own.
        return raw.get("wbxtly") is not None

    def cursor_at(self, when: datetime) -> Position:
        return Position(when)

    def describe(self, kind: RecordKind, raw: Any) -> RawSummary:
        if not isinstance(raw, dict):
            return RawSummary(None)
        return RawSummary(
            _text(raw.get(ID_FIELD[kind])),
            _text(raw.get("cfjdswh") if kind == "penalty" else raw.get("wsbh")),
            _text(raw.get("dsrmc") if kind == "penalty" else raw.get("qymc")),
            _text(raw.get("tyshxydm")),
        )

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        if not isinstance(raw, dict):
            return parse_record(kind, raw)
        names: dict[str, str] = raw.get(NAMES) or {}
        common = {
            "id": raw.get(ID_FIELD[kind]),
            "origin": "municipal",
            "officers": [],
            "external_officers": [
                {"cert_no": c, "name": names.get(c) or None} for c in _codes(raw.get("zfry"))
            ],
            "dept_code": _text(raw.get("zfjgdm")),
            "item_code": raw.get("jcsxbm"),
            "updated_at": raw.get("gxsj"),
        }
        if kind == "inspection":
            return parse_record(kind, {**common, **_inspection(raw)})
        record = {**common, **_penalty(raw)}
        if "FK" in record["penalty_types"]:
            try:
                zero = Decimal(str(record["fine_yuan"])) <= 0
            except ArithmeticError:
                zero = False  # the model names the bad amount
            if zero:
                raise RecordInvalid(
                    str(common["id"]), [FieldError("fkje", "处罚类别含罚款 (FK) 但罚款金额 fkje 为 0")]
                )
        return parse_record(kind, record)


def _key(id_field: str) -> Key:
    def key(item: dict[str, Any]) -> tuple[datetime, str] | None:
        try:
            return datetime.strptime(str(item["gxsj"]), TIME_FORMAT), str(item[id_field])
        except (KeyError, ValueError, TypeError):
            return None

    return key


def _inspection(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw.get("jlzt") or "ZC"
    return {
        "status": JLZT_STATUS.get(status, status),
        "enterprise": {
            "name": raw.get("qymc"),
            "uscc": raw.get("tyshxydm"),
            "address": raw.get("qydz"),
            "region_code": raw.get("xzqhdm"),
        },
        "inspection_type": raw.get("jclx"),
        "started_at": _time14(raw.get("jckssj")),
        "ended_at": _time14(raw.get("jcjssj")),
        "result": raw.get("jcjg"),
        "source_codes": {"sfla": str(raw.get("sfla") or "")} if raw.get("sfla") else {},
        "hazard_count": raw.get("yhsl") or 0,
        "major_hazard_count": raw.get("zdyhsl") or 0,
        "document_no": raw.get("wsbh"),
    }


def _penalty(raw: dict[str, Any]) -> dict[str, Any]:
    status, dsrlx, zjlx, cxlx = raw.get("ajzt") or "YJD", raw.get("dsrlx"), raw.get("zjlx"), raw.get("cxlx")
    return {
        "status": AJZT_STATUS.get(status, status),
        "decision_no": raw.get("cfjdswh"),
        "party": {
            "type": DSRLX_PARTY.get(str(dsrlx), dsrlx),
            "name": raw.get("dsrmc"),
            "uscc": raw.get("tyshxydm"),
            "legal_rep": raw.get("fddbr"),
            "id_type": ZJLX_ID.get(str(zjlx), zjlx) if zjlx else None,
            "id_no": raw.get("zjhm"),
        },
        "inspection_id": raw.get("jcjlbh"),
        "violation": raw.get("wfxw"),
        "facts": raw.get("wfss"),
        "basis": raw.get("cfyj"),
        "penalty_types": _codes(raw.get("cflb")),
        "fine_yuan": _amount(raw.get("fkje")),
        "confiscation_yuan": _amount(raw.get("mswfsdje")),
        "procedure": CXLX_PROCEDURE.get(str(cxlx), cxlx),
        "decided_on": raw.get("cfjdrq"),
    }
