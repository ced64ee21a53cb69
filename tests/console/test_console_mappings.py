"""Mapping tables from the console: an administrator uploads a corrected table, sees its check with
file:line problems and the rows that change, applies it only when clean, and restores the version
before; operators and viewers cannot; the files on disk and the ledger's versions say what happened."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from console.app import create_app
from simulators import daemon_config, municipal
from simulators.server import serving
from sync.ledger import Ledger
from sync.mapping import files as mapping_files
from tests.support.console import PASSWORD, SETTINGS, csrf_of
from zhifa_sync.app import App

TABLE = "inspection_types.csv"


@dataclass
class Site:
    url: str
    mappings: Path
    ledger: Ledger

    def login(self, username: str) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)
        page = client.get("/login")
        r = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf": csrf_of(page.text)}
        )
        assert r.status_code == 303
        return client


@pytest.fixture
def site(ledger: Ledger, users: None, tmp_path: Path) -> Iterator[Site]:
    mappings = daemon_config.copy_mappings(tmp_path / "mappings")
    settings = SETTINGS.model_copy(update={"mappings_dir": mappings})
    with serving(create_app(ledger, settings)) as server:
        yield Site(server.url, mappings, ledger)


def _upload(
    client: httpx.Client, content: bytes, name: str = TABLE, table: str = "inspection_types"
) -> httpx.Response:
    token = csrf_of(client.get("/mappings").text)
    return client.post(
        "/mappings/check", data={"csrf": token, "table": table}, files={"file": (name, content, "text/csv")}
    )


def _edited(site: Site) -> bytes:
    text = (site.mappings / TABLE).read_text(encoding="utf-8-sig")
    return text.replace("01,日常检查,RCJC,9", "01,日常检查(修订),RCJC,9").encode("utf-8")


def test_admin_checks_sees_the_change_applies_and_restores(site: Site) -> None:
    admin = site.login("admin")
    original = (site.mappings / TABLE).read_bytes()
    page = _upload(admin, _edited(site))
    assert page.status_code == 200 and "检查通过" in page.text
    assert "日常检查(修订)" in page.text and "修改" in page.text
    assert (site.mappings / TABLE).read_bytes() == original, "a check alone changes nothing"
    token = page.text.split('name="token" value="')[1].split('"')[0]
    r = admin.post("/mappings/apply", data={"csrf": csrf_of(page.text), "token": token})
    assert r.status_code == 303
    assert "日常检查(修订)" in (site.mappings / TABLE).read_text(encoding="utf-8-sig")
    assert (
        mapping_files.load(site.mappings).tables["inspection_types"].rows[("01",)].values["name"]
        == "日常检查(修订)"
    )
    listing = admin.get("/mappings").text
    assert "已应用" in listing and "admin" in listing
    (version,) = site.ledger.mapping_versions()
    assert version.applied_by == "admin" and version.replaced_content == original

    r = admin.post(f"/mappings/versions/{version.id}/rollback", data={"csrf": csrf_of(listing)})
    assert r.status_code == 303
    assert (site.mappings / TABLE).read_bytes() == original
    actions = [e["action"] for e in site.ledger.audit(limit=5)]
    assert actions[:2] == ["mappings_rollback", "mappings_upload"]


def test_a_broken_table_is_shown_with_file_and_line_and_cannot_be_applied(site: Site) -> None:
    admin = site.login("admin")
    broken = _edited(site) + b"06,,RCJC,9\n01,duplicate,RCJC,9\n"
    page = _upload(admin, broken)
    assert page.status_code == 200 and "检查未通过" in page.text
    assert TABLE in page.text and 'name="token"' not in page.text
    assert "日常检查(修订)" not in (site.mappings / TABLE).read_text(encoding="utf-8-sig")
    assert site.ledger.mapping_versions() == []


def test_refused_uploads_say_why(site: Site) -> None:
    admin = site.login("admin")
    for content, name, table, says in (
        (b"x", "notes.txt", "inspection_types", "不是 CSV 或 xlsx"),
        (b"a,b\n", TABLE, "no_such_table", "未知的映射表"),
        (b"", TABLE, "inspection_types", "是空的"),
    ):
        r = _upload(admin, content, name, table)
        assert r.status_code == 303
        assert says in admin.get(r.headers["location"]).text, says


def test_only_administrators_upload(site: Site) -> None:
    for who in ("op", "viewer"):
        client = site.login(who)
        page = client.get("/mappings")
        assert page.status_code == 200 and 'action="/mappings/check"' not in page.text
        assert _upload(client, _edited(site)).status_code == 403


def test_an_apply_token_works_once_and_only_for_its_uploader(site: Site) -> None:
    admin = site.login("admin")
    page = _upload(admin, _edited(site))
    token = page.text.split('name="token" value="')[1].split('"')[0]
    other = site.login("op")
    r = other.post("/mappings/apply", data={"csrf": csrf_of(other.get("/mappings").text), "token": token})
    assert r.status_code == 403
    r = admin.post("/mappings/apply", data={"csrf": csrf_of(page.text), "token": token})
    assert r.status_code == 303 and "已应用" in admin.get(r.headers["location"]).text
    r = admin.post("/mappings/apply", data={"csrf": csrf_of(page.text), "token": token})
    assert "已过期或已应用" in admin.get(r.headers["location"]).text
    assert len(site.ledger.mapping_versions()) == 1


# -- the upload check against the live catalogues (the service's ``check_live``) -------------------------


@pytest.fixture
def live_site(ledger: Ledger, users: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The console as the service serves it: ``check_live`` from an ``App`` whose municipal system is the
    simulator on loopback and whose 前置库 cannot be opened (its catalogue is unreachable)."""
    mappings = daemon_config.copy_mappings(tmp_path / "mappings")
    for name, value in daemon_config.secrets_env(
        f"sqlite:///{tmp_path / 'no-such-dir' / 'hlwjg.db'}"
    ).items():
        monkeypatch.setenv(name, value)
    with serving(municipal.create_app(municipal.MunicipalState())) as m:
        config = daemon_config.build(
            {"municipal": m.url, "hlwjg": ""},
            db_url=f"sqlite:///{tmp_path / 'service-ledger.db'}",
            mappings_dir=mappings,
            flows=(),
        )
        service = App.from_config(daemon_config.write(config, tmp_path / "zhifa-sync.yaml"))
        app = create_app(ledger, service.settings, check_live=service.check_mappings_live)
        with serving(app) as server:
            yield Site(server.url, mappings, ledger)
        service.ledger.close()


def _items(site: Site, municipal_code: str) -> bytes:
    text = (site.mappings / "items.csv").read_text(encoding="utf-8-sig")
    line = next(x for x in text.splitlines() if x.startswith("QZJC-0007,"))
    return text.replace(line, line.replace("120000-AQJC-0007", municipal_code)).encode("utf-8")


def test_an_upload_with_a_code_the_live_catalogue_lacks_cannot_be_applied(live_site: Site) -> None:
    """Offline clean, but the municipal item dictionary has no such code: shown with file:line, no apply;
    the unreachable 前置库 is named as not checked."""
    admin = live_site.login("admin")
    page = _upload(admin, _items(live_site, "120000-AQJC-0999"), "items.csv", "items").text
    assert "检查通过" in page
    assert "在线核对未通过" in page and "120000-AQJC-0999 不在市系统事项字典" in page
    assert "目标系统目录无法访问, 未做在线检查: hlwjg" in page
    assert 'name="token"' not in page


def test_an_upload_the_live_catalogue_accepts_can_be_applied(live_site: Site) -> None:
    """A real change the municipal catalogue knows passes the live check and offers "apply"."""
    admin = live_site.login("admin")
    text = (live_site.mappings / "items.csv").read_text(encoding="utf-8-sig")
    edited = text.replace("对有色金属企业的监督检查", "对有色金属企业的监督检查(修订)").encode("utf-8")
    page = _upload(admin, edited, "items.csv", "items").text
    assert "在线核对未通过" not in page
    assert 'name="token"' in page


def test_without_the_service_the_check_page_says_no_live_check_was_made(site: Site) -> None:
    """The console run alone cannot build systems: the page says the live check was not made."""
    page = _upload(site.login("admin"), _edited(site)).text
    assert "检查通过" in page and "目标系统目录无法访问, 未做在线检查" in page
