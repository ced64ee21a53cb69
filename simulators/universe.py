"""The demo district's reference data: departments, officers and catalogue items in every system.

Deterministic and shared by all four simulators (and by the generator of the shipped demo mapping
tables), so that the simulated systems agree with each other the way real ones do. Nothing here is
imported by the daemon: simulators are written from the interface descriptions alone.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

REGION_CODE = "120116"
REGION_NAME = "天津市滨海新区"
CITY_CODE = "120000"

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def make_uscc(prefix: str, rng: random.Random) -> str:
    """A valid GB 32100 code: ``prefix`` (e.g. "91" + region) padded with random characters."""
    body = prefix
    while len(body) < 17:
        body += rng.choice(_USCC_ALPHABET)
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=False))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


@dataclass(frozen=True)
class Department:
    code: str  # district dept code
    name: str
    municipal_org_code: str
    agency_name: str  # 实施机构 / 处罚机关
    agency_uscc: str
    cd_source: str  # 前置库 sender code


@dataclass(frozen=True)
class Officer:
    user_id: str  # district user id
    name: str
    cert_no: str  # 执法证号
    dept_code: str
    active: bool
    valid_to: str  # yyyy-MM-dd, registration in 互联网+监管


@dataclass(frozen=True)
class Item:
    code: str  # district 权责清单 code
    name: str
    kind: str  # inspection | penalty
    municipal_code: str
    hlwjg_code: str  # 14-digit 监管事项目录编码


_STREETS = [
    "塘沽街道",
    "新港街道",
    "新河街道",
    "大沽街道",
    "新北街道",
    "北塘街道",
    "胡家园街道",
    "杭州道街道",
    "新村街道",
    "汉沽街道",
    "寨上街道",
    "茶淀街道",
    "大港街道",
    "古林街道",
    "海滨街道",
    "太平镇",
    "小王庄镇",
    "中塘镇",
    "经济技术开发区",
    "保税区",
    "高新区",
]
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
_GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉萍红娥玲建国文辉力俊峰宇浩凯鹏飞斌波宁海鑫亮晨阳雪梅琳颖"

_INSPECTION_ITEMS = [
    "对危险化学品生产企业的监督检查",
    "对危险化学品经营企业的监督检查",
    "对危险化学品使用企业的监督检查",
    "对烟花爆竹经营单位的监督检查",
    "对非煤矿山企业的监督检查",
    "对冶金企业的监督检查",
    "对有色金属企业的监督检查",
    "对建材企业的监督检查",
    "对机械制造企业的监督检查",
    "对轻工企业的监督检查",
    "对纺织企业的监督检查",
    "对烟草企业的监督检查",
    "对商贸企业的监督检查",
    "对粉尘涉爆企业的监督检查",
    "对涉氨制冷企业的监督检查",
    "对有限空间作业的监督检查",
    "对生产经营单位安全生产教育培训情况的监督检查",
    "对生产经营单位事故隐患排查治理情况的监督检查",
    "对生产经营单位应急预案管理情况的监督检查",
    "对生产经营单位安全生产标准化建设情况的监督检查",
    "对危险化学品重大危险源的监督检查",
    "对化工园区的监督检查",
    "对加油站的监督检查",
    "对仓储物流企业的监督检查",
    "对港口危险货物作业的监督检查",
    "对小微企业安全生产的监督检查",
    "对劳动密集型企业的监督检查",
    "对特种作业人员持证上岗情况的监督检查",
    "对安全评价机构的监督检查",
    "对生产安全事故整改措施落实情况的监督检查",
]
_PENALTY_ITEMS = [
    "对未按规定对从业人员进行安全生产教育和培训的处罚",
    "对未如实记录安全生产教育和培训情况的处罚",
    "对未将事故隐患排查治理情况如实记录或者未向从业人员通报的处罚",
    "对未按照规定制定生产安全事故应急救援预案的处罚",
    "对特种作业人员未按照规定经专门的安全作业培训并取得相应资格上岗作业的处罚",
    "对未在有较大危险因素的生产经营场所和有关设施、设备上设置明显的安全警示标志的处罚",
    "对安全设备的安装、使用、检测、改造和报废不符合国家标准或者行业标准的处罚",
    "对未对安全设备进行经常性维护、保养和定期检测的处罚",
    "对未为从业人员提供符合国家标准或者行业标准的劳动防护用品的处罚",
    "对未采取措施消除事故隐患的处罚",
    "对生产经营单位主要负责人未履行安全生产管理职责的处罚",
    "对未按照规定设置安全生产管理机构或者配备安全生产管理人员的处罚",
    "对危险化学品生产企业未取得安全生产许可证擅自生产的处罚",
    "对未经许可经营危险化学品的处罚",
    "对危险化学品储存不符合规定的处罚",
    "对粉尘防爆措施不符合规定的处罚",
    "对有限空间作业未执行审批制度的处罚",
    "对未建立事故隐患排查治理制度的处罚",
    "对拒绝、阻碍安全生产监督检查的处罚",
    "对生产安全事故发生单位负有责任的处罚",
]


def _make_universe() -> tuple[list[Department], list[Officer], list[Item], str, str]:
    rng = random.Random(20211120)
    bureau_name = "天津市滨海新区应急管理局"
    bureau_uscc = make_uscc("11" + REGION_CODE, rng)
    depts = [
        Department(
            "BH-ZFDD-01",
            "滨海新区应急管理局执法大队",
            "YJJ-BH-01",
            bureau_name,
            bureau_uscc,
            REGION_CODE + "YJGLJ",
        )
    ]
    for i, street in enumerate(_STREETS, start=2):
        depts.append(
            Department(
                f"BH-JD-{i:02d}",
                f"滨海新区{street}综合执法队",
                f"YJJ-BH-{i:02d}",
                f"天津市滨海新区人民政府{street}办事处" if "区" not in street else f"天津{street}管理委员会",
                make_uscc("11" + REGION_CODE, rng),
                f"{REGION_CODE}JD{i:02d}",
            )
        )
    officers: list[Officer] = []
    for i in range(266):
        name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
        dept = depts[0] if i < 90 else depts[1 + (i - 90) % (len(depts) - 1)]
        officers.append(
            Officer(
                user_id=f"u{1001 + i}",
                name=name,
                cert_no=f"{REGION_CODE}{19001 + i:05d}",
                dept_code=dept.code,
                active=i % 53 != 52,  # a few officers left the service
                valid_to=f"{2027 + i % 3}-12-31",
            )
        )
    items: list[Item] = []
    for n, name in enumerate(_INSPECTION_ITEMS, start=1):
        items.append(
            Item(f"QZJC-{n:04d}", name, "inspection", f"{CITY_CODE}-AQJC-{n:04d}", f"1200000{n:07d}")
        )
    for n, name in enumerate(_PENALTY_ITEMS, start=1):
        items.append(Item(f"QZCF-{n:04d}", name, "penalty", f"{CITY_CODE}-AQCF-{n:04d}", f"1200001{n:07d}"))
    return depts, officers, items, bureau_name, bureau_uscc


DEPARTMENTS, OFFICERS, ITEMS, BUREAU_NAME, BUREAU_USCC = _make_universe()
INSPECTION_ITEMS = [i for i in ITEMS if i.kind == "inspection"]
PENALTY_ITEMS = [i for i in ITEMS if i.kind == "penalty"]
DEPT_BY_CODE = {d.code: d for d in DEPARTMENTS}
OFFICERS_BY_DEPT: dict[str, list[Officer]] = {}
for _o in OFFICERS:
    if _o.active:
        OFFICERS_BY_DEPT.setdefault(_o.dept_code, []).append(_o)


def check_icode(item: Item, dept: Department) -> str:
    """The 检查实施清单编码 of an inspection item carried out by a department's agency."""
    return f"{dept.agency_uscc}1{item.hlwjg_code[-7:]}"


def write_mappings(directory: Path) -> None:
    """Write the demo district's mapping tables (items, departments, officers, 检查实施清单)."""
    directory.mkdir(parents=True, exist_ok=True)

    def write(name: str, header: list[str], rows: list[list[str]]) -> None:
        with (directory / name).open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)

    write(
        "items.csv",
        ["district_item_code", "district_item_name", "kind", "municipal_item_code", "hlwjg_item_code"],
        [[i.code, i.name, i.kind, i.municipal_code, i.hlwjg_code] for i in ITEMS],
    )
    write(
        "departments.csv",
        [
            "district_dept_code",
            "district_dept_name",
            "municipal_org_code",
            "region_code",
            "agency_name",
            "agency_uscc",
            "hlwjg_cd_source",
        ],
        [
            [d.code, d.name, d.municipal_org_code, REGION_CODE, d.agency_name, d.agency_uscc, d.cd_source]
            for d in DEPARTMENTS
        ],
    )
    write(
        "officers.csv",
        ["district_user_id", "name", "cert_no"],
        [[o.user_id, o.name, o.cert_no] for o in OFFICERS],
    )
    write(
        "hlwjg_check_implement.csv",
        ["district_item_code", "agency_uscc", "check_icode"],
        [[i.code, d.agency_uscc, check_icode(i, d)] for i in INSPECTION_ITEMS for d in DEPARTMENTS],
    )


if __name__ == "__main__":  # python -m simulators.universe mappings/
    import sys

    write_mappings(Path(sys.argv[1] if len(sys.argv) > 1 else "mappings"))
