"""One bad record, one failure to handle (issue 18 item 14): a record that failed on three targets is
one row of the failure list, retried or resolved once for every target from its page or the CLI,
each target's failure keeping its own detail and its own audit entry."""

from __future__ import annotations

from pathlib import Path

from simulators import daemon_config
from sync.ledger import Ledger
from tests.support.cli import run_cli
from tests.support.console import Console, add_failure, csrf_of

TARGETS = ("credit", "hlwjg", "municipal")
MESSAGE = "记录 P-5001 数据不合规: party.uscc: 统一社会信用代码 91120116MA05JD8N7D 校验位错误 (应为 C)"


def _bad_everywhere(ledger: Ledger) -> list[int]:
    return [
        add_failure(
            ledger,
            "P-5001",
            target=t,
            error_kind="validation",
            stage="validate",
            doc_no="（滨海）应急罚〔2026〕51号",
            message=MESSAGE,
        )
        for t in TARGETS
    ]


def _states(ledger: Ledger, ids: list[int]) -> set[str]:
    return {f["state"] for i in ids if (f := ledger.get_failure(i))}


def test_the_list_shows_a_record_once_with_its_targets(console: Console) -> None:
    ids = _bad_everywhere(console.ledger)
    html = console.login("viewer").get("/failures", params={"q": "P-5001"}).text
    assert html.count('rowspan="3"') == 3  # record, party and pipeline cells span the three targets
    assert "3 个目标" in html
    for i in ids:
        assert f"#{i}</a>" in html  # each target's failure still has its own line and page


def test_resolve_and_retry_once_for_every_target_from_the_page(console: Console) -> None:
    ids = _bad_everywhere(console.ledger)
    op = console.login("op")
    page = op.get(f"/failures/{ids[0]}").text
    assert "同一记录在各目标系统的失败" in page and "全部 3 个目标重试" in page
    r = op.post(f"/failures/{ids[1]}/retry-record", data={"csrf": csrf_of(page)})
    assert r.status_code == 303
    assert _states(console.ledger, ids) == {"retry"}
    r = op.post(f"/failures/{ids[2]}/resolve-record", data={"csrf": csrf_of(page), "note": "已在区平台作废"})
    assert r.status_code == 303
    assert _states(console.ledger, ids) == {"resolved"}
    audit, _ = console.ledger.audit_page(limit=50, offset=0, failures_only=True)
    resolved = [a for a in audit if a["action"] == "resolve" and a["failure_id"] in ids]
    assert len(resolved) == 3 and {a["detail"] for a in resolved} == {"已在区平台作废"}
    assert len([a for a in audit if a["action"] == "retry" and a["failure_id"] in ids]) == 3


def test_the_cli_takes_the_record_too(console: Console, tmp_path: Path) -> None:
    ids = _bad_everywhere(console.ledger)
    built = daemon_config.build(
        {"district": "http://127.0.0.1:9", "municipal": "http://127.0.0.1:9"},
        db_url=str(console.ledger.engine.url),
        mappings_dir=daemon_config.copy_mappings(tmp_path / "mappings"),
    )
    config = daemon_config.write(built, tmp_path / "zhifa-sync.yaml")
    ran = run_cli(config, "failures", "retry", "--all-targets", str(ids[0]), "--queue")
    assert ran.returncode == 0, ran.stderr
    assert "已将 3 条" in ran.stdout and _states(console.ledger, ids) == {"retry"}
    ran = run_cli(config, "failures", "resolve", "--record", "P-5001", "--note", "重复记录, 无需同步")
    assert ran.returncode == 0, ran.stderr
    assert "已处理 3 条" in ran.stdout and _states(console.ledger, ids) == {"resolved"}
