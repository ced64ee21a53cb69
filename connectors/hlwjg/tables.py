"""The 前置库's tables as the exchange platform defines them (docs/interfaces/hlwjg.md): the exchange tables we write, the
feedback table we read, and the province's catalogue tables.

Defined here (never reflected) with portable types and quoted upper-case names, so the same code runs
on Oracle, MySQL, 达梦 and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from connectors.contract.records import RecordKind

CHECK_ACTION = "TR_T_JGXW_CHECK_ACTION"
PUNISH = "TR_T_JGXW_PUNISH"
FEEDBACK = "TR_T_FEEDBACK"

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
TABLE_OF: dict[str, str] = {"inspection": CHECK_ACTION, "penalty": PUNISH}
KIND_OF: dict[str, RecordKind] = {CHECK_ACTION: "inspection", PUNISH: "penalty"}
