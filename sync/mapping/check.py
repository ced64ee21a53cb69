"""What ``zhifa-sync mappings check`` finds in a mapping-table set, before a record meets it.

Offline: keys, blank cells, code formats (municipal item codes, 14-digit 监管事项目录编码, USCCs per
GB 32100, region codes, 执法证号, 检查实施清单编码), code lists outside what each target system
documents, and codes that map back ambiguously (flow 3 translates municipal codes back to the
district's). Live: the codes against the catalogues of the systems in the configuration.

Errors are codes a target would reject (or could not be told apart): the running service refuses a
set with any error. Warnings are things a person should look at — chiefly a blank target cell, which
is allowed and means "not mapped for that system yet" (records needing it are parked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from connectors.contract.mapping import TABLES, Mappings, Problem, Table
from connectors.contract.validators import region_problem, uscc_problem

ALL_SYSTEMS = frozenset({"district", "municipal", "credit", "hlwjg"})
SYSTEM_NAMES = {"district": "区平台", "municipal": "市系统", "credit": "双公示平台", "hlwjg": "互联网+监管"}
EXPIRY_WARNING_DAYS = 30


@dataclass
class CheckReport:
    """Errors (block a reload, exit code 1) and warnings (shown, do not block)."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def extend(self, other: CheckReport) -> None:
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    def lines(self) -> list[str]:
        """``file:line: column: message`` per problem, errors first, each group in file order."""

        def order(p: Problem) -> tuple[str, int, str]:
            return p.file, p.line, p.column

        out = [str(p) for p in sorted(self.errors, key=order)]
        out += [
            str(Problem(p.file, p.line, p.column, f"提示: {p.message}"))
            for p in sorted(self.warnings, key=order)
        ]
        return out


# -- code lists of the target systems (shared/platforms/*.md) ---------------------------------------
DISTRICT_INSPECTION_TYPES = {
    "01": "日常检查",
    "02": "双随机抽查",
    "03": "专项检查",
    "04": "举报核查",
    "05": "复查",
}
DISTRICT_RESULTS = {"1": "未发现问题", "2": "发现问题责令整改", "3": "发现问题立案查处"}
DISTRICT_PENALTY_TYPES = {
    "01": "警告", "02": "通报批评", "03": "罚款", "04": "没收违法所得", "05": "没收非法财物", "06": "暂扣许可证件",
    "07": "降低资质等级", "08": "吊销许可证件", "09": "限制开展生产经营活动", "10": "责令停产停业", "11": "责令关闭",
    "12": "限制从业", "13": "行政拘留", "99": "其他",
}  # fmt: skip
DISTRICT_PARTY_TYPES = {"1": "法人及非法人组织", "2": "自然人", "3": "个体工商户"}
DISTRICT_ID_TYPES = {
    "SFZ": "居民身份证",
    "HZ": "护照",
    "GAT": "港澳居民来往内地通行证",
    "TW": "台湾居民来往大陆通行证",
}
MUNICIPAL_JCLX = {
    "RCJC": "日常检查",
    "SSJ": "双随机抽查",
    "ZXJC": "专项检查",
    "JBHC": "举报核查",
    "FC": "复查",
}
MUNICIPAL_JCJG = {"0": "未发现问题", "1": "发现问题"}
MUNICIPAL_SFLA = {"Y": "立案", "N": "不立案"}
MUNICIPAL_CFLB = {
    "JG": "警告", "TBPP": "通报批评", "FK": "罚款", "MSWFSD": "没收违法所得", "MSFFCW": "没收非法财物",
    "ZKXKZ": "暂扣许可证件", "JDZZ": "降低资质等级", "DXXKZ": "吊销许可证件", "XZSC": "限制开展生产经营活动",
    "TCTY": "责令停产停业", "ZLGB": "责令关闭", "XZCY": "限制从业", "XZJL": "行政拘留", "QT": "其他",
}  # fmt: skip
MUNICIPAL_DSRLX = {"DW": "单位", "GR": "个人", "GTH": "个体工商户"}
MUNICIPAL_ZJLX = {"01": "身份证", "02": "护照", "03": "港澳通行证", "04": "台胞证"}
CREDIT_CFLB = {v: v for v in DISTRICT_PENALTY_TYPES.values()}
CREDIT_XDR_LB = {v: v for v in ("法人及非法人组织", "自然人", "个体工商户")}
CREDIT_ZJLX = {
    v: v
    for v in ("身份证", "护照号", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证")
}
HLWJG_CHECK_TYPE = {"1": "双随机抽查", "2": "重点检查", "3": "专项检查", "4": "投诉举报核查", "9": "其他"}
HLWJG_CHECK_RESULT = {"1": "未发现问题", "2": "发现问题责令改正", "3": "发现问题予以处罚", "4": "其他"}
HLWJG_PUNISH_TYPE = dict(DISTRICT_PENALTY_TYPES)
HLWJG_CP_NA = {"01": "法人及非法人组织", "02": "自然人", "03": "个体工商户"}
HLWJG_CE_TYPE = {
    "111": "居民身份证",
    "414": "护照",
    "516": "港澳居民来往内地通行证",
    "511": "台湾居民来往大陆通行证",
}
ITEM_KINDS = {"inspection": "检查", "penalty": "处罚"}

_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$", re.IGNORECASE)
_MUNICIPAL_ITEM = re.compile(r"^\d{6}-[A-Z]{2,8}-\d{4}$")
_HLWJG_ITEM = re.compile(r"^\d{14}$")
_CERT_NO = re.compile(r"^\d{6}[0-9A-Z]{2,14}$")
_CD_SOURCE = re.compile(r"^\d{6}[A-Za-z0-9]{1,14}$")
_EXCEL_NUMBER = "Excel 把它当作数字改写了 (科学计数法): 请把该列设为“文本”格式后重新输入"


def _excel_hint(value: str) -> str | None:
    return _EXCEL_NUMBER if _SCIENTIFIC.match(value) else None


def pattern(regex: re.Pattern[str], expected: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return _excel_hint(value) or (None if regex.match(value) else f"格式不对, 应为{expected}")

    return check


def enumeration(codes: dict[str, str], system: str) -> Callable[[str], str | None]:
    listing = ", ".join(f"{k} {v}" if k != v else k for k, v in codes.items())

    def check(value: str) -> str | None:
        if value in codes:
            return None
        width = max(len(k) for k in codes)
        if value.isdigit() and value.zfill(width) in codes:
            return f"不在{system}的代码表中; 是否应为 {value.zfill(width)}? (Excel 会去掉前导 0: 请把该列设为“文本”格式)"
        return f"不在{system}的代码表中 (可选: {listing})"

    return check


def _uscc(value: str) -> str | None:
    problem = uscc_problem(value)
    return f"不是有效的统一社会信用代码 (GB 32100): {problem}" if problem else None


def _region(value: str) -> str | None:
    problem = region_problem(value)
    return _excel_hint(value) or (f"格式不对: {problem}" if problem else None)


@dataclass(frozen=True)
class Rule:
    """How one column is checked: a label, a format/code-list check, and the systems that read it."""

    what: str
    check: Callable[[str], str | None] | None = None
    systems: frozenset[str] = frozenset()  # empty: needed whatever is configured
    blank_is_error: bool = False


def _r(
    what: str, check: Callable[[str], str | None] | None = None, *systems: str, blank_is_error: bool = False
) -> Rule:
    return Rule(what, check, frozenset(systems), blank_is_error)


M, C, H = "municipal", "credit", "hlwjg"
RULES: dict[str, dict[str, Rule]] = {
    "items": {
        "district_item_name": _r("事项名称"),
        "kind": _r("事项类别", enumeration(ITEM_KINDS, "本表"), blank_is_error=True),
        "municipal_item_code": _r(
            "市系统事项编码", pattern(_MUNICIPAL_ITEM, "区划代码-字母-4位序号, 如 120000-AQJC-0012"), M
        ),
        "hlwjg_item_code": _r("监管事项目录编码", pattern(_HLWJG_ITEM, "14 位数字"), H),
    },
    "departments": {
        "district_dept_name": _r("部门名称"),
        "municipal_org_code": _r("市系统执法机构代码", None, M),
        "region_code": _r("行政区划代码", _region, M, H),
        "agency_name": _r("实施机构/处罚机关名称", None, C, H),
        "agency_uscc": _r("实施机构统一社会信用代码", _uscc, C, H),
        "hlwjg_cd_source": _r(
            "前置库 CD_SOURCE", pattern(_CD_SOURCE, "6 位行政区划代码加 1–14 位字母或数字"), H
        ),
    },
    "officers": {
        "name": _r("姓名", None, H),
        "cert_no": _r("执法证号", pattern(_CERT_NO, "6 位行政区划代码开头、共 8–20 位数字或大写字母"), M, H),
    },
    "inspection_types": {
        "district_code": _r("区平台检查类型", enumeration(DISTRICT_INSPECTION_TYPES, "区平台")),
        "name": _r("名称"),
        "municipal_code": _r("市系统检查类型 jclx", enumeration(MUNICIPAL_JCLX, "市系统"), M),
        "hlwjg_code": _r("互联网+监管检查类别 CHECK_TYPE", enumeration(HLWJG_CHECK_TYPE, "互联网+监管"), H),
    },
    "inspection_results": {
        "district_code": _r("区平台检查结果", enumeration(DISTRICT_RESULTS, "区平台")),
        "name": _r("名称"),
        "municipal_jcjg": _r("市系统检查结果 jcjg", enumeration(MUNICIPAL_JCJG, "市系统"), M),
        "municipal_sfla": _r("市系统是否立案 sfla", enumeration(MUNICIPAL_SFLA, "市系统"), M),
        "hlwjg_code": _r(
            "互联网+监管检查结果 CHECK_RESULT", enumeration(HLWJG_CHECK_RESULT, "互联网+监管"), H
        ),
    },
    "penalty_types": {
        "district_code": _r("区平台处罚类别", enumeration(DISTRICT_PENALTY_TYPES, "区平台")),
        "name": _r("名称"),
        "municipal_code": _r("市系统处罚类别 cflb", enumeration(MUNICIPAL_CFLB, "市系统"), M),
        "credit_name": _r("双公示处罚类别 CF_CFLB", enumeration(CREDIT_CFLB, "双公示平台"), C),
        "hlwjg_code": _r("互联网+监管处罚类型 PUNISH_TYPE", enumeration(HLWJG_PUNISH_TYPE, "互联网+监管"), H),
    },
    "party_types": {
        "district_code": _r("区平台当事人类型", enumeration(DISTRICT_PARTY_TYPES, "区平台")),
        "name": _r("名称"),
        "municipal_code": _r("市系统当事人类型 dsrlx", enumeration(MUNICIPAL_DSRLX, "市系统"), M),
        "credit_name": _r("双公示行政相对人类别 CF_XDR_LB", enumeration(CREDIT_XDR_LB, "双公示平台"), C),
        "hlwjg_code": _r("互联网+监管行政相对人性质", enumeration(HLWJG_CP_NA, "互联网+监管"), H),
    },
    "id_types": {
        "district_code": _r("区平台证件类型", enumeration(DISTRICT_ID_TYPES, "区平台")),
        "name": _r("名称"),
        "municipal_code": _r("市系统证件类型 zjlx", enumeration(MUNICIPAL_ZJLX, "市系统"), M),
        "credit_name": _r("双公示证件类型 CF_XDR_ZJLX", enumeration(CREDIT_ZJLX, "双公示平台"), C),
        "hlwjg_code": _r("互联网+监管证件类型", enumeration(HLWJG_CE_TYPE, "互联网+监管"), H),
    },
    "hlwjg_check_implement": {
        "agency_uscc": _r("实施机构统一社会信用代码", _uscc),
        "check_icode": _r("检查实施清单编码", None, H),
    },
}

# Columns that flow 3 translates back (municipal code → district code): a value must name one row.
REVERSE: dict[str, tuple[str, ...]] = {
    "items": ("municipal_item_code",),
    "departments": ("municipal_org_code",),
    "officers": ("cert_no",),
    "inspection_types": ("municipal_code",),
    "inspection_results": ("municipal_jcjg", "municipal_sfla"),
    "penalty_types": ("municipal_code",),
    "party_types": ("municipal_code",),
    "id_types": ("municipal_code",),
}


def systems_in_use(settings: Any) -> frozenset[str]:
    """The system types a configuration connects to (their columns must be filled)."""
    return frozenset(s.type for s in settings.systems.values())


def _users(rule: Rule) -> str:
    return "、".join(name for s, name in SYSTEM_NAMES.items() if s in rule.systems) or "本表"


def check_offline(maps: Mappings, systems: Iterable[str] = ALL_SYSTEMS) -> CheckReport:
    """Formats, code lists, blank cells and ambiguous reverse mappings of a loaded set."""
    in_use = frozenset(systems)
    report = CheckReport()
    for name, table in maps.tables.items():
        rules = RULES.get(name, {})
        for key, row in table.rows.items():
            for column, rule in rules.items():
                value = row.values.get(column, "")
                if not value:
                    if column in TABLES[name].key:
                        continue  # a blank key is a load problem, reported there
                    if rule.blank_is_error:
                        report.errors.append(
                            Problem(table.file, row.line, column, f"{rule.what}为空: 请填写")
                        )
                    elif not rule.systems or rule.systems & in_use:
                        report.warnings.append(
                            Problem(
                                table.file,
                                row.line,
                                column,
                                f"{'/'.join(key)} 的{rule.what}为空: {_users(rule)}需要它, 用到该行的记录会进入“待映射”;"
                                " 请填写, 或确认该系统暂不同步",
                            )
                        )
                    continue
                if rule.check and (problem := rule.check(value)):
                    report.errors.append(
                        Problem(table.file, row.line, column, f"{rule.what} {value} {problem}")
                    )
        _reverse_ambiguity(name, table, report)
    _cross_checks(maps, report)
    return report


def _reverse_ambiguity(name: str, table: Table, report: CheckReport) -> None:
    columns = REVERSE.get(name)
    if not columns:
        return
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    for key, row in sorted(table.rows.items(), key=lambda kv: kv[1].line):
        value = tuple(row.values.get(c, "") for c in columns)
        if not all(value):
            continue
        if value in seen:
            other, line = seen[value]
            report.errors.append(
                Problem(
                    table.file,
                    row.line,
                    "/".join(columns),
                    f"{'/'.join(value)} 同时对应 {other} (第 {line} 行) 和 {'/'.join(key)}: 市系统的记录回传区平台时"
                    " 无法确定是哪一个, 请核对后只保留一行对应该代码",
                )
            )
        else:
            seen[value] = ("/".join(key), row.line)


def _cross_checks(maps: Mappings, report: CheckReport) -> None:
    """Rows that refer to other tables: 检查实施清单 vs items and departments, CD_SOURCE vs region."""
    depts = maps.tables.get("departments")
    for row in depts.rows.values() if depts else ():
        source, region = row.values.get("hlwjg_cd_source", ""), row.values.get("region_code", "")
        if source and region and _CD_SOURCE.match(source) and not source.startswith(region):
            report.errors.append(
                Problem(
                    depts.file if depts else "",
                    row.line,
                    "hlwjg_cd_source",
                    f"CD_SOURCE {source} 应以本部门行政区划代码 {region} 开头: 请核对",
                )
            )
    implement = maps.tables.get("hlwjg_check_implement")
    if implement is None:
        return
    items = maps.tables.get("items")
    agencies = {r.values.get("agency_uscc", "") for r in depts.rows.values()} if depts else set()
    for (item_code, agency), row in implement.rows.items():
        icode = row.values.get("check_icode", "")
        if icode:
            if len(icode) > 32:
                report.errors.append(
                    Problem(
                        implement.file,
                        row.line,
                        "check_icode",
                        f"检查实施清单编码 {icode} 超过 32 位: 请核对",
                    )
                )
            elif not icode.startswith(agency):
                report.errors.append(
                    Problem(
                        implement.file,
                        row.line,
                        "check_icode",
                        f"检查实施清单编码 {icode} 的前 18 位应为本行实施机构的统一社会信用代码 {agency}: 请核对",
                    )
                )
            elif len(icode) < 19 or icode[18] not in "12345":
                report.errors.append(
                    Problem(
                        implement.file,
                        row.line,
                        "check_icode",
                        f"检查实施清单编码 {icode} 的第 19 位应为 1–5 (实际 {icode[18:19] or '缺少'}): 请核对",
                    )
                )
        item = items.rows.get((item_code,)) if items else None
        if item is None:
            report.errors.append(
                Problem(
                    implement.file,
                    row.line,
                    "district_item_code",
                    f"事项 {item_code} 不在 {maps.file_of('items')} 中: 请先在事项表中添加该事项",
                )
            )
        elif item.values.get("kind") != "inspection":
            report.errors.append(
                Problem(
                    implement.file,
                    row.line,
                    "district_item_code",
                    f"事项 {item_code} 不是检查事项: 检查实施清单只用于检查事项",
                )
            )
        if agencies and agency not in agencies:
            report.warnings.append(
                Problem(
                    implement.file,
                    row.line,
                    "agency_uscc",
                    f"{agency} 不是任何部门 ({maps.file_of('departments')} 的 agency_uscc) 的统一社会信用代码:"
                    " 该行不会被用到, 请核对",
                )
            )


# -- live: against the catalogues of the configured systems ----------------------------------------
def check_live(
    settings: Any,
    secrets: Any,
    maps: Mappings,
    *,
    today: date | None = None,
    connect: Callable[[str], Any] | None = None,
) -> CheckReport:
    """Every code checked against the live catalogues of each configured system."""
    from connectors import systems as base

    today = today or date.today()
    report = CheckReport()
    for name, cfg in settings.systems.items():
        checker = {"municipal": _live_municipal, "district": _live_district, "hlwjg": _live_hlwjg}.get(
            cfg.type
        )
        if checker is None:
            continue  # the credit platform publishes no code catalogue
        try:
            if cfg.type == "hlwjg":
                checker(maps, secrets.get(name, "url"), report, today)
            else:
                conn = connect(name) if connect else base.create(name, cfg, secrets)
                try:
                    checker(maps, conn, report, today)
                finally:
                    if connect is None:
                        conn.close()
        except Exception as exc:
            report.errors.append(
                Problem(
                    name,
                    0,
                    "",
                    f"无法读取 {name} ({SYSTEM_NAMES.get(cfg.type, cfg.type)}) 的"
                    f"目录: {type(exc).__name__}: {str(exc)[:200]}; 未能核对该系统的代码",
                )
            )
    return report


def _rows(maps: Mappings, table: str) -> Iterable[tuple[Table, tuple[str, ...], dict[str, str], int]]:
    t = maps.tables.get(table)
    if t is None:
        return
    for key, row in sorted(t.rows.items(), key=lambda kv: kv[1].line):
        yield t, key, row.values, row.line


def _live_municipal(maps: Mappings, conn: Any, report: CheckReport, today: date) -> None:
    jcsx = {str(d.get("bm")): str(d.get("lx") or "") for d in conn.dictionary("jcsx")}
    zfry = {str(d.get("zjh")): str(d.get("xm") or "") for d in conn.dictionary("zfry")}
    zfjg = {str(d.get("dm")): str(d.get("xzqhdm") or "") for d in conn.dictionary("zfjg")}
    for t, key, v, line in _rows(maps, "items"):
        code = v.get("municipal_item_code", "")
        if not code:
            continue
        if code not in jcsx:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "municipal_item_code",
                    f"市系统事项编码 {code} 不在市系统事项字典 (/openapi/dict/jcsx) 中: 市系统会以"
                    " E2003 拒收; 请向市局核实正确编码后修改",
                )
            )
        elif (
            (lx := {"inspection": "JC", "penalty": "CF"}.get(v.get("kind", "")))
            and jcsx[code]
            and jcsx[code] != lx
        ):
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "municipal_item_code",
                    f"市系统事项 {code} 的类别是 {jcsx[code]}, 而 {key[0]} 是{ITEM_KINDS[v['kind']]}"
                    f"事项 (应为 {lx}): 请核对",
                )
            )
    for t, _key, v, line in _rows(maps, "officers"):
        cert = v.get("cert_no", "")
        if not cert:
            continue
        if cert not in zfry:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "cert_no",
                    f"执法证号 {cert} 未在市系统注册 (/openapi/dict/zfry): 市系统会以 E2004 拒收;"
                    " 请核对证号, 或请市局先登记该执法人员",
                )
            )
        elif v.get("name") and zfry[cert] and zfry[cert] != v["name"]:
            report.warnings.append(
                Problem(
                    t.file,
                    line,
                    "name",
                    f"执法证号 {cert} 在市系统登记的姓名是 {zfry[cert]}, 本表为 {v['name']}: 请核对",
                )
            )
    for t, _key, v, line in _rows(maps, "departments"):
        org = v.get("municipal_org_code", "")
        if not org:
            continue
        if org not in zfjg:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "municipal_org_code",
                    f"执法机构代码 {org} 不在市系统执法机构字典 (/openapi/dict/zfjg) 中: 请向市局核实后修改",
                )
            )
        elif v.get("region_code") and zfjg[org] and zfjg[org] != v["region_code"]:
            report.warnings.append(
                Problem(
                    t.file,
                    line,
                    "region_code",
                    f"市系统登记 {org} 的行政区划代码是 {zfjg[org]}, 本表为 {v['region_code']}: 请核对",
                )
            )


def _live_district(maps: Mappings, conn: Any, report: CheckReport, today: date) -> None:
    users = {str(u.get("id")): u for u in conn.list_all("/api/v1/users")}
    items = {str(i.get("code")): str(i.get("kind") or "") for i in conn.list_all("/api/v1/items")}
    depts = {str(d.get("code")) for d in conn.list_all("/api/v1/depts")}
    for t, key, v, line in _rows(maps, "officers"):
        user = users.get(key[0])
        if user is None:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "district_user_id",
                    f"区平台没有用户 {key[0]} (/api/v1/users): 请核对用户 id",
                )
            )
            continue
        if user.get("cert_no") and v.get("cert_no") and str(user["cert_no"]) != v["cert_no"]:
            report.warnings.append(
                Problem(
                    t.file,
                    line,
                    "cert_no",
                    f"区平台登记 {key[0]} 的执法证号是 {user['cert_no']}, 本表为 {v['cert_no']}: 请核对",
                )
            )
        if user.get("name") and v.get("name") and str(user["name"]) != v["name"]:
            report.warnings.append(
                Problem(
                    t.file,
                    line,
                    "name",
                    f"区平台登记 {key[0]} 的姓名是 {user['name']}, 本表为 {v['name']}: 请核对",
                )
            )
    for t, key, v, line in _rows(maps, "items"):
        if key[0] not in items:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "district_item_code",
                    f"区平台没有事项 {key[0]} (/api/v1/items): 请核对事项编码",
                )
            )
        elif v.get("kind") and items[key[0]] and items[key[0]] != v["kind"]:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "kind",
                    f"区平台的事项 {key[0]} 是 {items[key[0]]}, 本表为 {v['kind']}: 请改正",
                )
            )
    for t, key, _v, line in _rows(maps, "departments"):
        if key[0] not in depts:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "district_dept_code",
                    f"区平台没有部门 {key[0]} (/api/v1/depts): 请核对部门代码",
                )
            )


def as_date(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def catalogue_query(table: str, *columns: str) -> Any:
    """SELECT of a 前置库 catalogue table, quoted by the dialect (Oracle, PostgreSQL, MySQL, 达梦, SQLite)."""
    import sqlalchemy as sa

    return sa.select(*(sa.column(c) for c in columns)).select_from(sa.table(table))


def law_officers(db: Any) -> dict[str, tuple[str, date | None]]:
    """TR_T_LAW_OFFICER: 执法证号 → (name, VALID_TO)."""
    rows = db.execute(catalogue_query("TR_T_LAW_OFFICER", "CERT_NO", "NAME", "VALID_TO"))
    return {str(r[0]): (str(r[1] or ""), as_date(r[2])) for r in rows}


def _live_hlwjg(maps: Mappings, url: str, report: CheckReport, today: date) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            supervise = {r[0] for r in db.execute(catalogue_query("TR_T_SUPERVISE_ITEM", "ITEM_CODE"))}
            implement = {
                r[0]: (r[1], r[2])
                for r in db.execute(
                    catalogue_query("TR_T_CHECK_IMPLEMENT", "ICODE", "ITEM_CODE", "AGENCY_USCC")
                )
            }
            officers = law_officers(db)
    finally:
        engine.dispose()
    items = maps.tables.get("items")
    for t, _key, v, line in _rows(maps, "items"):
        code = v.get("hlwjg_item_code", "")
        if code and code not in supervise:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "hlwjg_item_code",
                    f"监管事项目录编码 {code} 不在前置库 TR_T_SUPERVISE_ITEM 中: 互联网+监管会拒收;"
                    " 请核对编码",
                )
            )
    for t, key, v, line in _rows(maps, "hlwjg_check_implement"):
        icode = v.get("check_icode", "")
        if not icode:
            continue
        if icode not in implement:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "check_icode",
                    f"检查实施清单编码 {icode} 不在前置库 TR_T_CHECK_IMPLEMENT 中: 请核对",
                )
            )
            continue
        item_code, agency = implement[icode]
        item = items.rows.get((key[0],)) if items else None
        mapped = item.values.get("hlwjg_item_code", "") if item else ""
        if mapped and item_code != mapped:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "check_icode",
                    f"检查实施清单 {icode} 属于监管事项 {item_code}, 而事项 {key[0]} 映射到 {mapped}: 请核对",
                )
            )
        if agency and agency != key[1]:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "check_icode",
                    f"检查实施清单 {icode} 登记的实施机构是 {agency}, 本行为 {key[1]}: 请核对",
                )
            )
    for t, _key, v, line in _rows(maps, "officers"):
        cert = v.get("cert_no", "")
        if not cert:
            continue
        if cert not in officers:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "cert_no",
                    f"执法证号 {cert} 未在互联网+监管注册 (TR_T_LAW_OFFICER): 前置库会拒收;"
                    " 请核对证号或先办理注册",
                )
            )
            continue
        name, valid_to = officers[cert]
        if valid_to is not None and valid_to < today:
            report.errors.append(
                Problem(
                    t.file,
                    line,
                    "cert_no",
                    f"执法证号 {cert} 在互联网+监管的有效期已于 {valid_to} 届满 (VALID_TO): 视为未注册,"
                    " 请办理延期, 或改由其他在册执法人员",
                )
            )
        elif valid_to is not None and valid_to < today + timedelta(days=EXPIRY_WARNING_DAYS):
            report.warnings.append(
                Problem(
                    t.file,
                    line,
                    "cert_no",
                    f"执法证号 {cert} 在互联网+监管的有效期将于 {valid_to} 届满: 请及时办理延期",
                )
            )
        if name and v.get("name") and name != v["name"]:
            report.warnings.append(
                Problem(
                    t.file,
                    line,
                    "name",
                    f"执法证号 {cert} 在互联网+监管登记的姓名是 {name}, 本表为 {v['name']}: 请核对",
                )
            )
