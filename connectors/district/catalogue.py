"""The district platform's reference data (users, items, departments) against the mapping tables' keys."""

from __future__ import annotations

from datetime import date

from connectors.contract.mapping import CheckReport, Mappings
from connectors.contract.roles import Officer
from connectors.district.client import DistrictClient


class DistrictCatalogue:
    def __init__(self, client: DistrictClient) -> None:
        self.client = client

    def officers(self) -> list[Officer]:
        return [
            Officer(
                cert_no=str(u.get("cert_no") or "").strip(),
                name=str(u.get("name") or "").strip(),
                user_id=str(u.get("id")),
                active=bool(u.get("active", True)),
            )
            for u in self.client.list_all("/api/v1/users")
        ]

    def check(self, maps: Mappings, report: CheckReport, today: date) -> None:
        users = {o.user_id: o for o in self.officers()}
        items = {str(i.get("code")): str(i.get("kind") or "") for i in self.client.list_all("/api/v1/items")}
        depts = {str(d.get("code")) for d in self.client.list_all("/api/v1/depts")}
        for at in maps.rows("officers"):
            uid, cert, name = at.key[0], at.values.get("cert_no"), at.values.get("name")
            user = users.get(uid)
            if user is None:
                report.error(at, "district_user_id", f"区平台没有用户 {uid} (/api/v1/users): 请核对用户 id")
                continue
            if user.cert_no and cert and user.cert_no != cert:
                report.warn(
                    at, "cert_no", f"区平台登记 {uid} 的执法证号是 {user.cert_no}, 本表为 {cert}: 请核对"
                )
            if user.name and name and user.name != name:
                report.warn(at, "name", f"区平台登记 {uid} 的姓名是 {user.name}, 本表为 {name}: 请核对")
        for at in maps.rows("items"):
            code, kind = at.key[0], at.values.get("kind")
            if code not in items:
                report.error(
                    at, "district_item_code", f"区平台没有事项 {code} (/api/v1/items): 请核对事项编码"
                )
            elif kind and items[code] and items[code] != kind:
                report.error(at, "kind", f"区平台的事项 {code} 是 {items[code]}, 本表为 {kind}: 请改正")
        for at in maps.rows("departments"):
            if at.key[0] not in depts:
                report.error(
                    at, "district_dept_code", f"区平台没有部门 {at.key[0]} (/api/v1/depts): 请核对部门代码"
                )
