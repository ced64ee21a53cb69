"""The municipal system's dictionaries (``/openapi/dict/jcsx|zfry|zfjg``) against the mapping tables."""

from __future__ import annotations

from datetime import date

from connectors.contract.mapping import CheckReport, Mappings
from connectors.contract.roles import Officer
from connectors.municipal.client import MunicipalClient

ITEM_KINDS = {"inspection": ("JC", "检查"), "penalty": ("CF", "处罚")}


class MunicipalCatalogue:
    def __init__(self, client: MunicipalClient) -> None:
        self.client = client

    def officers(self) -> list[Officer]:
        return [
            Officer(cert_no=str(d.get("zjh")), name=str(d.get("xm") or ""))
            for d in self.client.dictionary("zfry")
            if d.get("zjh")
        ]

    def check(self, maps: Mappings, report: CheckReport, today: date) -> None:
        self._items(maps, report)
        self._officers(maps, report)
        self._orgs(maps, report)

    def _items(self, maps: Mappings, report: CheckReport) -> None:
        jcsx = {str(d.get("bm")): str(d.get("lx") or "") for d in self.client.dictionary("jcsx")}
        for at in maps.rows("items"):
            code = at.values.get("municipal_item_code", "")
            if not code:
                continue
            if code not in jcsx:
                report.error(
                    at,
                    "municipal_item_code",
                    f"市系统事项编码 {code} 不在市系统事项字典 (/openapi/dict/jcsx) 中: 市系统会以"
                    " E2003 拒收; 请向市局核实正确编码后修改",
                )
                continue
            lx, kind = ITEM_KINDS.get(at.values.get("kind", ""), ("", ""))
            if lx and jcsx[code] and jcsx[code] != lx:
                report.error(
                    at,
                    "municipal_item_code",
                    f"市系统事项 {code} 的类别是 {jcsx[code]}, 而 {at.key[0]} 是{kind}事项 (应为 {lx}): 请核对",
                )

    def _officers(self, maps: Mappings, report: CheckReport) -> None:
        zfry = {o.cert_no: o.name for o in self.officers()}
        for at in maps.rows("officers"):
            cert, name = at.values.get("cert_no", ""), at.values.get("name", "")
            if not cert:
                continue
            if cert not in zfry:
                report.error(
                    at,
                    "cert_no",
                    f"执法证号 {cert} 未在市系统注册 (/openapi/dict/zfry): 市系统会以 E2004 拒收;"
                    " 请核对证号, 或请市局先登记该执法人员",
                )
            elif name and zfry[cert] and zfry[cert] != name:
                report.warn(
                    at, "name", f"执法证号 {cert} 在市系统登记的姓名是 {zfry[cert]}, 本表为 {name}: 请核对"
                )

    def _orgs(self, maps: Mappings, report: CheckReport) -> None:
        zfjg = {str(d.get("dm")): str(d.get("xzqhdm") or "") for d in self.client.dictionary("zfjg")}
        for at in maps.rows("departments"):
            org, region = at.values.get("municipal_org_code", ""), at.values.get("region_code", "")
            if not org:
                continue
            if org not in zfjg:
                report.error(
                    at,
                    "municipal_org_code",
                    f"执法机构代码 {org} 不在市系统执法机构字典 (/openapi/dict/zfjg) 中: 请向市局核实后修改",
                )
            elif region and zfjg[org] and zfjg[org] != region:
                report.warn(
                    at,
                    "region_code",
                    f"市系统登记 {org} 的行政区划代码是 {zfjg[org]}, 本表为 {region}: 请核对",
                )
