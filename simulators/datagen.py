"""Deterministic test data: district inspections/penalties, and what the city already holds.

``generate(seed=…)`` builds a :class:`Dataset` from a seeded ``random.Random`` using the demo
district of :mod:`simulators.universe` (so every code matches the shipped mapping tables), spread over
a calendar ``year`` or, with ``until``, over the ``days`` ending then (what a bureau sees this month:
nothing dated after ``until``, so a daemon started then reads every record and the credit platform
takes every decision date):

- district records in the district platform's JSON shape (``docs/interfaces/district.md``), several sharing one
  ``updated_at`` second (bulk submissions), a few drafts/filed cases (never synced) and void/revoked;
- the municipal system's hand-typed records (``wbxtly`` null, ``docs/interfaces/municipal.md`` shape): twins of a
  share of district records (same natural key; a third of penalty twins with other brackets or
  full-width digits so that only a normalised comparison finds them), city-only records for the
  district's region (reverse flow), and a few records of other regions.

Plain dicts, so 100,000 inspections take a few seconds.
"""

from __future__ import annotations

import calendar
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from simulators.universe import (
    DEPARTMENTS,
    INSPECTION_ITEMS,
    OFFICERS_BY_DEPT,
    PENALTY_ITEMS,
    REGION_CODE,
    make_uscc,
)

# Reference data the city holds beyond the demo district: other teams and their officers.
CITY_ORGS: list[tuple[str, str, str]] = [  # (zfjgdm, mc, xzqhdm)
    ("YJJ-SJ-01", "天津市应急管理局执法总队", "120000"),
    ("YJJ-HP-01", "天津市和平区应急管理局", "120101"),
    ("YJJ-HD-01", "天津市河东区应急管理局", "120102"),
]
CITY_OFFICERS: list[tuple[str, str, str]] = [  # (zjh, xm, zfjgdm)
    *[(f"12000020{n:03d}", name, "YJJ-SJ-01") for n, name in enumerate(["赵志刚", "钱丽华", "孙立新", "李卫东", "周海燕", "吴国庆"], 1)],
    *[(f"12010120{n:03d}", name, "YJJ-HP-01") for n, name in enumerate(["郑晓光", "王秀兰", "冯建军"], 1)],
    *[(f"12010220{n:03d}", name, "YJJ-HD-01") for n, name in enumerate(["陈玉梅", "褚宏伟", "卫东升"], 1)],
]  # fmt: skip

JCLX = {"01": "RCJC", "02": "SSJ", "03": "ZXJC", "04": "JBHC", "05": "FC"}
JCJG_SFLA = {"1": ("0", "N"), "2": ("1", "N"), "3": ("1", "Y")}
DSRLX = {"1": "DW", "2": "GR", "3": "GTH"}
ZJLX = {"SFZ": "01", "HZ": "02", "GAT": "03", "TW": "04"}
CFLB = {"01": "JG", "02": "TBPP", "03": "FK", "04": "MSWFSD", "05": "MSFFCW", "06": "ZKXKZ", "07": "JDZZ",
        "08": "DXXKZ", "09": "XZSC", "10": "TCTY", "11": "ZLGB", "12": "XZCY", "13": "XZJL", "99": "QT"}  # fmt: skip
AJZT = {"decided": "YJD", "closed": "YJA", "revoked": "YCX"}

_STREETS = [d.name.removeprefix("滨海新区").removesuffix("综合执法队") for d in DEPARTMENTS[1:]]
_ROADS = ["津塘公路", "新港二号路", "黄海路", "第九大街", "南海路", "海滨大道", "中央大道", "西中环快速路", "东江路",
          "港城大道", "轻纺大道", "津沽公路", "八大街", "渤海十路", "临港路", "大港港东新城迎宾街", "汉北路", "太平镇工业园路"]  # fmt: skip
_TRADE = ["滨港", "海通", "泰达", "渤化", "金港", "鑫源", "华泰", "中盛", "润海", "远航", "聚龙", "宏达", "盛世", "恒信",
          "海晶", "天宇", "北方", "津科", "荣程", "东疆", "利达", "新星", "顺通", "博远", "万隆", "嘉瑞", "德润", "永盛"]  # fmt: skip
_INDUSTRY = ["化工", "石油化工", "精细化工", "物流", "仓储", "机械制造", "建材", "冶金", "食品", "纺织", "船舶修造",
             "港口服务", "燃气", "新材料科技", "电子科技", "涂料", "制冷设备", "钢结构工程", "危险品运输"]  # fmt: skip
_SUFFIX = ["有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
_SHOPS = ["五金建材经营部", "汽车修理部", "加油站", "烟花爆竹零售点", "油漆商店", "废品回收站", "干洗店"]
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
_GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉萍红玲建国文辉力俊峰宇浩凯鹏飞斌波宁海鑫亮晨阳"
_BASIS = ["《中华人民共和国安全生产法》第九十七条第三项", "《中华人民共和国安全生产法》第九十九条第二项",
          "《中华人民共和国安全生产法》第一百零一条第四项", "《中华人民共和国安全生产法》第一百零二条",
          "《危险化学品安全管理条例》第八十条第一款第一项", "《工贸企业粉尘防爆安全规定》第三十一条第二项",
          "《生产经营单位安全培训规定》第三十条第一项", "《中华人民共和国安全生产法》第一百一十四条第一款第一项"]  # fmt: skip
_LICENSES = ["安全生产许可证", "危险化学品经营许可证", "烟花爆竹经营（零售）许可证"]
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_FULL_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


class Twin(NamedTuple):
    """A district record that the city also holds, typed in by hand (``city_index`` into its list)."""

    kind: str  # inspection | penalty
    district_id: str
    city_index: int
    exact: bool  # False: the decision number differs in brackets/width; only normalising finds it


@dataclass
class Dataset:
    seed: int
    year: int
    enterprises: list[dict[str, Any]]
    inspections: list[dict[str, Any]]
    penalties: list[dict[str, Any]]
    city_inspections: list[dict[str, Any]] = field(default_factory=list)  # municipal shape, wbxtly null
    city_penalties: list[dict[str, Any]] = field(default_factory=list)
    twins: list[Twin] = field(default_factory=list)
    bad_ids: list[str] = field(default_factory=list)  # district records with a broken USCC check character
    first_day: str = ""  # yyyy-MM-dd: the first day the data covers
    until: str | None = None  # yyyy-MM-dd HH:mm:ss Beijing time: nothing later (None: the whole year)

    def event_time(self, n: int) -> str:
        """When the ``n``-th credit event of the data set happened (ISO, +08:00): in December of the
        year, or one of the 20 days up to ``until``, never after it."""
        hour = 10 + n // 20 % 10
        if self.until is None:
            return f"{self.year}-12-{10 + n % 20:02d}T{hour:02d}:00:00+08:00"
        end = datetime.fromisoformat(self.until)
        at = datetime.combine(end.date() - timedelta(days=n % 20), datetime.min.time()).replace(hour=hour)
        if at > end:
            at -= timedelta(days=1)
        return at.isoformat() + "+08:00"


@dataclass(frozen=True, slots=True)
class _Window:
    """The days the data covers (epochs of Beijing wall time) and how late anything may be dated."""

    start: int  # midnight starting the first day
    days: int
    end: int | None  # ``until``: nothing later (None: a calendar year, nothing clamped)
    last_decision: int  # midnight of the latest decision date
    city_days: int  # days over which the city's clerks type records in

    @classmethod
    def of_year(cls, year: int) -> _Window:
        start = _midnight(f"{year}-01-01")
        return cls(start, 366 if calendar.isleap(year) else 365, None, _midnight(f"{year}-12-30"), 360)

    @classmethod
    def ending(cls, until: datetime, days: int) -> _Window:
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}")
        end = calendar.timegm(until.replace(microsecond=0).timetuple()) - 8 * 3600
        first = until.date() - timedelta(days=days - 1)
        return cls(_midnight(first.isoformat()), days, end, _midnight(until.date().isoformat()), days)

    def not_after_end(self, t: int, floor: int) -> int:
        """``t``, or for a time after the end one between ``floor`` and the end (deterministically)."""
        if self.end is None or t <= self.end:
            return t
        return floor + (t - floor) % (self.end - floor + 1) if self.end >= floor else self.end

    def decision(self, ended_midnight: int, offset_days: int) -> int:
        """Midnight of a decision ``offset_days`` after the inspection's day, at the latest the last
        decision date (a year's data: capped; a window: within the days since the inspection)."""
        decided = ended_midnight + offset_days * 86400
        if self.end is None or decided <= self.last_decision:
            return min(decided, self.last_decision)
        span = (self.last_decision - ended_midnight) // 86400
        return ended_midnight + (1 + offset_days % span) * 86400 if span >= 1 else ended_midnight


def id_card(rng: random.Random, region: str = REGION_CODE) -> str:
    """A valid 居民身份证号 (GB 11643, ISO 7064 MOD 11-2), born 1960–2000 in ``region``."""
    body = f"{region}{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def _ts(epoch: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.gmtime(epoch + 8 * 3600))  # Beijing wall time


def _midnight(date: str) -> int:
    """Epoch of Beijing midnight starting ``yyyy-MM-dd``."""
    return calendar.timegm(time.strptime(date, "%Y-%m-%d")) - 8 * 3600


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _enterprise(rng: random.Random, street_no: int) -> dict[str, Any]:
    street = _STREETS[street_no]
    address = f"天津市滨海新区{street}{rng.choice(_ROADS)}{rng.randint(1, 3999)}号"
    roll = rng.random()
    if roll < 0.10:  # 个体工商户: 92…, the operator is the "legal rep"
        name, uscc = (
            f"天津市滨海新区{street.removesuffix('街道').removesuffix('镇')}{rng.choice(_TRADE)}{rng.choice(_SHOPS)}",
            make_uscc("92" + REGION_CODE, rng),
        )
    elif roll < 0.12:  # 农民专业合作社 registered by agriculture: N2…, rejected by python-stdnum
        name, uscc = f"天津市滨海新区{rng.choice(_TRADE)}种植专业合作社", make_uscc("N2" + REGION_CODE, rng)
    elif roll < 0.14:  # 民办非企业单位: 52…
        name, uscc = f"天津市滨海新区{rng.choice(_TRADE)}职业培训学校", make_uscc("52" + REGION_CODE, rng)
    else:
        trade = rng.choice(_TRADE) + (rng.choice(_TRADE) if rng.random() < 0.3 else "")
        prefix = rng.choice(("天津", "天津", "天津市", "天津滨海"))
        name = f"{prefix}{trade}{rng.choice(_INDUSTRY)}{rng.choice(_SUFFIX)}"
        if rng.random() < 0.05:  # names with full-width brackets are common
            name = f"{prefix}{trade}（{rng.choice(('集团', '天津', '中国'))}）{rng.choice(_INDUSTRY)}有限公司"
        uscc = make_uscc("91" + REGION_CODE + ("MA" if rng.random() < 0.6 else ""), rng)
    return {"name": name, "uscc": uscc, "address": address, "region_code": REGION_CODE,
            "legal_rep": _person(rng), "street_no": street_no}  # fmt: skip


def _officers(rng: random.Random, dept_code: str) -> list[str]:
    pool = OFFICERS_BY_DEPT[dept_code]
    return [o.user_id for o in rng.sample(pool, 3 if rng.random() < 0.15 and len(pool) > 2 else 2)]


def _share_seconds(rng: random.Random, records: list[dict[str, Any]]) -> None:
    """Bulk submissions: runs of 2–6 consecutive records end up with one ``updated_at`` second."""
    i = 0
    while i < len(records):
        if rng.random() < 0.1:
            run = records[i : i + rng.randint(2, 6)]
            latest = max(r["updated_at"] for r in run)
            for r in run:
                r["updated_at"] = latest
            i += len(run)
        else:
            i += 1


def _year(epoch: int) -> int:
    return int(_ts(epoch, "%Y"))


def _numbers(years: list[int]) -> list[int]:
    """The running number of each record within the year of its date (ids and document numbers)."""
    seen: Counter[int] = Counter()
    out = []
    for year in years:
        seen[year] += 1
        out.append(seen[year])
    return out


_LONGEST_INSPECTION = 240 * 60


def _inspections(rng: random.Random, n: int, w: _Window, ents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    start, days = w.start, w.days
    weekend = [time.gmtime(start + d * 86400 + 8 * 3600).tm_wday >= 5 for d in range(days)]
    starts = []
    for _ in range(n):
        day = rng.randrange(days)
        if weekend[day] and rng.random() < 0.9:  # officers mostly inspect on weekdays
            day = (day + 2) % days
        offset = rng.randint(8 * 3600 + 1800, 16 * 3600 + 1800)
        # not yet over by ``until``: the same time on an earlier weekday of the window
        while w.end is not None and day > 0 and start + day * 86400 + offset + _LONGEST_INSPECTION > w.end:
            day -= 1
            while day > 0 and weekend[day]:
                day -= 1
        starts.append(w.not_after_end(start + day * 86400 + offset, start))
    starts.sort()
    types = ["01", "02", "03", "04", "05"]
    weights = [40, 30, 18, 7, 5]
    zfdd = DEPARTMENTS[0].code
    out = []
    for seq, t0 in zip(_numbers([_year(t) for t in starts]), starts, strict=True):
        year = _year(t0)
        ent = rng.choice(ents)
        dept = zfdd if rng.random() < 0.4 else DEPARTMENTS[1 + ent["street_no"]].code
        itype = rng.choices(types, weights)[0]
        result = "1" if rng.random() < 0.55 else "2"
        hazards = 0 if result == "1" else rng.randint(1, 8)
        t1 = w.not_after_end(t0 + rng.randint(30, 240) * 60, t0)
        delay = rng.randint(300, 3600) if rng.random() < 0.7 else rng.randint(3600, 3 * 86400)
        roll = rng.random()
        out.append(
            {
                "id": f"JC{year}{seq:06d}",
                "origin": "district",
                "status": "draft" if roll < 0.02 else "void" if roll < 0.03 else "submitted",
                "enterprise": {k: ent[k] for k in ("name", "uscc", "address", "region_code")},
                "item_code": rng.choice(INSPECTION_ITEMS).code,
                "inspection_type": itype,
                "plan_id": f"SSJ-{year}-{_ts(t0, '%m')}" if itype == "02" else None,
                "started_at": _ts(t0),
                "ended_at": _ts(t1),
                "officers": _officers(rng, dept),
                "result": result,
                "hazard_count": hazards,
                "major_hazard_count": 1 if hazards and rng.random() < 0.05 else 0,
                "document_no": f"（滨海）应急检记〔{year}〕{seq}号",
                "dept_code": dept,
                "updated_at": _ts(w.not_after_end(t1 + delay, t1)),
            }
        )
    _share_seconds(rng, out)
    return out


def _fine(rng: random.Random, summary: bool, person: bool) -> str:
    if summary:
        return f"{rng.choice((50, 100, 200) if person else (500, 1000, 2000, 3000))}.00"
    if rng.random() < 0.08:
        return f"{rng.randint(100000, 9999999) / 100:.2f}"  # e.g. 1234.56: computed amounts
    amounts = (2000, 5000, 10000, 20000, 30000, 50000, 80000, 100000, 200000, 500000, 1000000)
    return f"{rng.choices(amounts, (4, 10, 14, 14, 16, 12, 6, 8, 4, 2, 1))[0]}.00"


_COMPANY_TYPES = [
    ["03"],
    ["01", "03"],
    ["01"],
    ["03", "04"],
    ["03", "10"],
    ["03", "06"],
    ["08"],
    ["03", "09"],
    ["02"],
]
_COMPANY_WEIGHTS = [45, 25, 8, 5, 5, 4, 2, 4, 2]


def _penalty(
    rng: random.Random, insp: dict[str, Any], party: dict[str, Any], person: bool, w: _Window
) -> dict[str, Any]:
    year = int(insp["ended_at"][:4])
    summary = rng.random() < 0.1
    if summary:
        types = rng.choice((["01"], ["03"], ["03"]))
    elif person:
        types = rng.choice((["03"], ["03"], ["01", "03"], ["03", "12"]))
    else:
        types = rng.choices(_COMPANY_TYPES, _COMPANY_WEIGHTS)[0]
    fine = _fine(rng, summary, person) if "03" in types else "0.00"
    license_action = None
    if "06" in types or "08" in types:
        kind = "06" if "06" in types else "08"
        license_action = {"type": kind, "license_name": rng.choice(_LICENSES),
                          "license_no": f"（津）WH安许证字〔{year - rng.randint(1, 3)}〕{rng.randint(1, 999):04d}",
                          "period": rng.choice(("三个月", "六个月")) if kind == "06" else None}  # fmt: skip
    item = rng.choice(PENALTY_ITEMS)
    violation = item.name.removeprefix("对").removesuffix("的处罚")
    decided = w.decision(_midnight(insp["ended_at"][:10]), rng.randint(7, 60))
    dept = insp["dept_code"]
    return {
        "id": "",
        "origin": "district",
        "status": "closed",
        "decision_no": None,
        "party": party,
        "inspection_id": insp["id"],
        "item_code": item.code,
        "violation": violation,
        "facts": f"经查，{party['name']}{violation}，违反了安全生产有关规定。以上事实有现场检查记录、询问笔录、现场照片等证据证实。",
        "basis": _BASIS[int(item.code[-2:]) % len(_BASIS)],
        "penalty_types": types,
        "fine_yuan": fine,
        "confiscation_yuan": f"{rng.randint(20, 500) * 100}.00" if "04" in types else "0.00",
        "license_action": license_action,
        "procedure": "summary" if summary else "general",
        "decided_on": _ts(decided, "%Y-%m-%d"),
        "officers": _officers(rng, dept),
        "dept_code": dept,
        "double_penalty": False,
        "updated_at": "",
    }


def _person_party(rng: random.Random, name: str | None = None) -> dict[str, Any]:
    id_type, id_no = "SFZ", id_card(rng)
    if name is None and rng.random() < 0.06:  # the odd foreign or HK/Taiwan worker
        id_type = rng.choice(("HZ", "GAT", "TW"))
        id_no = {"HZ": "E", "GAT": "H", "TW": ""}[id_type] + f"{rng.randint(10000000, 99999999)}"
    elif id_no.endswith("X") and rng.random() < 0.3:
        id_no = id_no[:-1] + "x"  # typed lower-case in the district: still valid, normalised on send
    return {
        "type": "2",
        "name": name or _person(rng),
        "uscc": None,
        "legal_rep": None,
        "id_type": id_type,
        "id_no": id_no,
    }


def _penalties(rng: random.Random, m: int, w: _Window, inspections: list[dict[str, Any]],
               ent_by_uscc: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    pairs = round(m * 0.04)
    candidates = [i for i in inspections if i["status"] == "submitted"]
    linked = rng.sample(candidates, min(len(candidates), m - pairs))
    out: list[dict[str, Any]] = []
    for n, insp in enumerate(linked):
        insp["result"] = "3"
        insp["hazard_count"] = max(insp["hazard_count"], 1)
        ent = ent_by_uscc[insp["enterprise"]["uscc"]]
        company = {"type": "3" if ent["uscc"].startswith("92") else "1", "name": ent["name"], "uscc": ent["uscc"],
                   "legal_rep": ent["legal_rep"], "id_type": None, "id_no": None}  # fmt: skip
        if n < pairs and company["type"] == "1":  # 一案双罚: the company and its responsible person
            first = _penalty(rng, insp, company, False, w)
            first["procedure"], first["double_penalty"] = "general", True
            second = _penalty(rng, insp, _person_party(rng, ent["legal_rep"]), True, w)
            second.update(procedure="general", double_penalty=True, decided_on=first["decided_on"],
                          item_code=first["item_code"], officers=first["officers"])  # fmt: skip
            out += [first, second]
        elif rng.random() < 0.05:
            out.append(_penalty(rng, insp, _person_party(rng), True, w))
        else:
            out.append(_penalty(rng, insp, company, False, w))
    out.sort(key=lambda p: (p["decided_on"], p["inspection_id"]))
    general: Counter[int] = Counter()
    summary: Counter[int] = Counter()
    prev: dict[str, Any] | None = None
    roll = 0.0
    for seq, p in zip(_numbers([int(p["decided_on"][:4]) for p in out]), out, strict=True):
        year = int(p["decided_on"][:4])
        p["id"] = f"CF{year}{seq:06d}"
        pair = prev is not None and p["double_penalty"] and prev["double_penalty"]
        pair = pair and prev is not None and prev["inspection_id"] == p["inspection_id"]
        roll = roll if pair else rng.random()  # both decisions of 一案双罚 share their fate
        day = _midnight(p["decided_on"])
        p["updated_at"] = _ts(w.not_after_end(day + rng.randint(9 * 3600, 18 * 3600), day))
        if roll < 0.02:
            p.update(status="filed", decided_on=None)  # 立案 only: no decision number yet
        elif p["procedure"] == "summary":
            summary[year] += 1
            p["decision_no"] = f"（滨海）应急简罚〔{year}〕{summary[year]}号"
        else:
            general[year] += 1
            p["decision_no"] = f"（滨海）应急罚〔{year}〕{general[year]}号"
        if 0.02 <= roll < 0.03:
            p["status"] = "revoked"
        elif 0.03 <= roll < 0.5 and p["procedure"] == "general":
            p["status"] = "decided"
        prev = p
    out.sort(key=lambda p: p["updated_at"])
    _share_seconds(rng, out)
    return out


def _cert(user_id: str) -> str:
    return f"{REGION_CODE}{int(user_id[1:]) - 1001 + 19001:05d}"  # universe's numbering of 执法证号


def _org(dept_code: str) -> str:
    return next(d.municipal_org_code for d in DEPARTMENTS if d.code == dept_code)


_MUNI_CODE = {i.code: i.municipal_code for i in (*INSPECTION_ITEMS, *PENALTY_ITEMS)}


def city_inspection(rec: dict[str, Any], gxsj: str, rng: random.Random) -> dict[str, Any]:
    """How a city clerk types a district inspection into the municipal system (wbxtly null)."""
    ent = rec["enterprise"]
    jcjg, sfla = JCJG_SFLA[rec["result"]]
    start = rec["started_at"].replace("-", "").replace(":", "").replace(" ", "")
    return {
        "wbxtly": None, "wbxtbh": None, "qymc": ent["name"], "tyshxydm": ent["uscc"], "qydz": ent["address"],
        "xzqhdm": ent["region_code"], "jcsxbm": _MUNI_CODE[rec["item_code"]], "jclx": JCLX[rec["inspection_type"]],
        "jckssj": start[:10] + "0000",  # typed to the hour: only the date is part of the natural key
        "jcjssj": rec["ended_at"].replace("-", "").replace(":", "").replace(" ", ""),
        "zfry": ",".join(_cert(u) for u in rec["officers"]), "jcjg": jcjg, "sfla": sfla,
        "yhsl": rec["hazard_count"] + (1 if rng.random() < 0.1 else 0), "zdyhsl": rec["major_hazard_count"],
        "wsbh": rec["document_no"], "zfjgdm": _org(rec["dept_code"]), "jlzt": "ZC", "gxsj": gxsj,
    }  # fmt: skip


def bracket_variant(decision_no: str, rng: random.Random) -> str:
    """The same decision number as typed elsewhere: other brackets, or full-width digits."""
    kind = rng.randrange(3)
    if kind == 0:
        return decision_no.replace("〔", "[").replace("〕", "]")
    if kind == 1:
        return decision_no.replace("（", "(").replace("）", ")").replace("〔", "（").replace("〕", "）")
    return decision_no.translate(_FULL_DIGITS)


def city_penalty(rec: dict[str, Any], gxsj: str, cfjdswh: str) -> dict[str, Any]:
    """How a city clerk types a district penalty into the municipal system (wbxtly null)."""
    party = rec["party"]
    return {
        "wbxtly": None, "wbxtbh": None, "cfjdswh": cfjdswh, "dsrlx": DSRLX[party["type"]], "dsrmc": party["name"],
        "tyshxydm": party["uscc"], "fddbr": party["legal_rep"], "zjlx": ZJLX.get(party["id_type"] or ""),
        "zjhm": party["id_no"], "jcjlbh": None, "jcsxbm": _MUNI_CODE[rec["item_code"]], "wfxw": rec["violation"],
        "wfss": rec["facts"], "cfyj": rec["basis"], "cflb": ",".join(CFLB[t] for t in rec["penalty_types"]),
        "fkje": rec["fine_yuan"], "mswfsdje": rec["confiscation_yuan"], "cfjdrq": rec["decided_on"],
        "cxlx": "JY" if rec["procedure"] == "summary" else "YB", "ajzt": AJZT[rec["status"]],
        "zfry": ",".join(_cert(u) for u in rec["officers"]), "zfjgdm": _org(rec["dept_code"]),
        "xzqhdm": REGION_CODE, "gxsj": gxsj,
    }  # fmt: skip


def _random_gxsj(rng: random.Random, w: _Window) -> str:
    day = w.start + rng.randrange(w.city_days) * 86400
    return _ts(w.not_after_end(day + rng.randint(8 * 3600 + 1800, 18 * 3600), day))


def _city_only(
    rng: random.Random,
    n: int,
    w: _Window,
    ents: list[dict[str, Any]],
    region: str,
    taken: set[tuple[str, ...]],
) -> list[dict[str, Any]]:
    """Inspections typed in at the city with no district twin (for ``region``); ``taken``: district keys."""
    out = []
    for _ in range(n):
        if region == REGION_CODE:
            ent = rng.choice(ents)
            dept = rng.choice(DEPARTMENTS)
            certs = [_cert(u) for u in _officers(rng, dept.code)]
            if rng.random() < 0.3:  # joint inspection with the city's own team
                certs[-1] = rng.choice([c for c, _, org in CITY_OFFICERS if org == "YJJ-SJ-01"])
            org, name, uscc, addr = dept.municipal_org_code, ent["name"], ent["uscc"], ent["address"]
        else:
            org = next(o for o, _, r in CITY_ORGS if r == region)
            certs = rng.sample([c for c, _, o in CITY_OFFICERS if o == org], 2)
            name = f"天津{rng.choice(_TRADE)}{rng.choice(('商贸', '餐饮管理', '物业管理'))}有限公司"
            uscc, addr = (
                make_uscc("91" + region, rng),
                f"天津市{next(m for o, m, _ in CITY_ORGS if o == org)[3:6]}某路{rng.randint(1, 300)}号",
            )
        gxsj = _random_gxsj(rng, w)
        day = gxsj[:10].replace("-", "")
        jcjg = rng.choice(("0", "1"))
        item = rng.choice(INSPECTION_ITEMS).municipal_code
        while (uscc, item, day) in taken:  # a real twin would not be "city-only"
            item = rng.choice(INSPECTION_ITEMS).municipal_code
        out.append({
            "wbxtly": None, "wbxtbh": None, "qymc": name, "tyshxydm": uscc, "qydz": addr, "xzqhdm": region,
            "jcsxbm": item, "jclx": rng.choice(("RCJC", "ZXJC", "JBHC")),
            "jckssj": day + "093000", "jcjssj": day + "110000", "zfry": ",".join(certs), "jcjg": jcjg,
            "sfla": "N", "yhsl": 0 if jcjg == "0" else rng.randint(1, 5), "zdyhsl": 0,
            "wsbh": f"津应急检记〔{gxsj[:4]}〕{rng.randint(1, 9999)}号", "zfjgdm": org, "jlzt": "ZC", "gxsj": gxsj,
        })  # fmt: skip
    return out


def generate(
    seed: int = 1,
    inspections: int = 1000,
    penalties: int | None = None,
    year: int = 2025,
    hand_typed_share: float = 0.05,
    city_only_share: float = 0.01,
    other_region_share: float = 0.005,
    bad_records: int = 0,
    until: datetime | None = None,
    days: int = 30,
) -> Dataset:
    """Generate a dataset; ``penalties`` defaults to one per 30 inspections. Same seed, same data.

    With ``until`` (Beijing wall time) the data covers the ``days`` ending then instead of ``year``."""
    w = _Window.of_year(year) if until is None else _Window.ending(until, days)
    rng = random.Random(seed)
    m = max(1, inspections // 30) if penalties is None else penalties
    ents = [
        _enterprise(rng, rng.randrange(len(_STREETS))) for _ in range(max(50, min(inspections // 3, 12000)))
    ]
    ents = list({e["uscc"]: e for e in ents}.values())
    ent_by_uscc = {e["uscc"]: e for e in ents}
    insp = _inspections(rng, inspections, w, ents)
    pens = _penalties(rng, m, w, insp, ent_by_uscc) if m and insp else []
    data = Dataset(
        seed,
        year if until is None else until.year,
        [{k: v for k, v in e.items() if k != "street_no"} for e in ents],
        insp,
        pens,
        first_day=_ts(w.start, "%Y-%m-%d"),
        until=None if w.end is None else _ts(w.end),
    )

    for rec in rng.sample(
        [r for r in insp if r["status"] == "submitted"], round(hand_typed_share * len(insp))
    ):
        data.twins.append(Twin("inspection", rec["id"], len(data.city_inspections), True))
        data.city_inspections.append(city_inspection(rec, _random_gxsj(rng, w), rng))
    decided = [p for p in pens if p["status"] in ("decided", "closed")]
    for n, rec in enumerate(rng.sample(decided, round(hand_typed_share * len(decided)))):
        exact = n % 3 != 2
        number = rec["decision_no"] if exact else bracket_variant(rec["decision_no"], rng)
        if exact and rng.random() < 0.1:
            number += " "  # a trailing space: the city trims before comparing
        data.twins.append(Twin("penalty", rec["id"], len(data.city_penalties), exact))
        data.city_penalties.append(city_penalty(rec, _random_gxsj(rng, w), number))
    taken: set[tuple[str, ...]] = {
        (r["enterprise"]["uscc"], _MUNI_CODE[r["item_code"]], r["started_at"][:10].replace("-", ""))
        for r in insp
    }
    n_city = max(1, round(city_only_share * len(insp)))
    data.city_inspections += _city_only(rng, n_city, w, ents, REGION_CODE, taken)
    for region in ("120101", "120102"):
        n_other = max(1, round(other_region_share * len(insp) / 2))
        data.city_inspections += _city_only(rng, n_other, w, ents, region, taken)
    for n in range(max(1, round(city_only_share * len(pens))) if decided else 0):  # city-only penalties
        src = rng.choice(decided)
        data.city_penalties.append(
            city_penalty(src, _random_gxsj(rng, w), f"津滨应急罚〔{src['decided_on'][:4]}〕{n + 1}号")
        )

    synced = [r for r in (*insp, *pens) if r["status"] in ("submitted", "decided", "closed")]
    synced = [r for r in synced if (r.get("enterprise") or r["party"])["uscc"]]
    for rec in rng.sample(synced, min(bad_records, len(synced))):
        key = "enterprise" if "enterprise" in rec else "party"
        holder = rec[key] = dict(rec[key])
        good = holder["uscc"]
        holder["uscc"] = good[:17] + ("0" if good[17] != "0" else "1")
        data.bad_ids.append(rec["id"])
    return data
