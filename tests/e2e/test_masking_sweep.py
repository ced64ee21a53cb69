"""The masking sweep (issue 15 item 4): a demo-sized sync of every flow against the four simulators, then
every console page and every CLI output an operator reads, searched for any 18-character run that is a
valid 身份证号. Some people's numbers are chosen to pass the USCC check too (the 3 % that leaked)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import date, timedelta
from pathlib import Path

import httpx
import openpyxl
import pytest

from console.app import create_app
from console.peers import SERVER_OPTIONS
from console.users import add_user
from simulators import daemon_config, harness
from simulators.server import serving
from sync.config import load_settings
from sync.ledger import Ledger
from tests.support.console import csrf_of
from tests.support.ids import first_valid_id_passing_uscc, unmasked_ids
from zhifa_sync import demo
from zhifa_sync.cli import main as cli

PASSWORD = "sweep passphrase 2026"


def run_cli(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        cli(list(argv))
    return out.getvalue() + err.getvalue()


def plant_ids(sims: harness.InProcess) -> list[str]:
    """Make some penalties natural persons whose 身份证号 are also valid USCCs; glue one into the facts."""
    district = sims.district
    penalties = district.records("penalties")
    assert len(penalties) >= 6, "too few penalties in the data set"
    planted = []
    day = date(1980, 1, 1)
    for n, pen in enumerate(penalties[:6]):
        number = first_valid_id_passing_uscc(day)
        day += timedelta(days=40)
        planted.append(number)
        party = {
            "type": "2",
            "name": f"张{n}",
            "uscc": None,
            "legal_rep": None,
            "id_type": "SFZ",
            "id_no": number,
        }
        broken = {"fine_yuan": "三千元"} if n >= 3 else {}  # fails validation: its record is shown in full
        district.update("penalties", pen["id"], party=party, **broken)
    district.update("penalties", penalties[0]["id"], facts=f"当事人(证件ID{planted[1]})未按规定培训")
    return planted


def console_texts(url: str, ledger: Ledger) -> dict[str, str]:
    """Every page of the console, logged in as an administrator, and the report workbook's cells."""
    add_user(ledger, "sweep", PASSWORD, "admin")
    texts: dict[str, str] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        token = csrf_of(client.get("/login").text)
        client.post("/login", data={"username": "sweep", "password": PASSWORD, "csrf": token})
        pages = ["/", "/runs", "/audit", "/unmapped", "/report", "/failures?state=all"]
        rows, total = ledger.query_failures(limit=10_000)
        pages += [f"/failures?state=all&page={n}" for n in range(2, total // 50 + 2)]
        pages += [f"/failures/{r['id']}" for r in rows]
        pages += [f"/failures?state=all&q={r['party_code']}" for r in rows if r.get("party_code")][:20]
        for path in pages:
            r = client.get(path)
            assert r.status_code == 200, path
            texts[path] = r.text
        xlsx = client.get("/report.xlsx")
        if xlsx.status_code == 200:
            wb = openpyxl.load_workbook(io.BytesIO(xlsx.content))
            texts["/report.xlsx"] = "\n".join(
                str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row
            )
    return texts


def test_no_unmasked_id_anywhere_an_operator_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state_dir = tmp_path / "demo-state"
    state_dir.mkdir(mode=0o700)
    sims = demo.start_simulators(state_dir, inspections=300, seed=2025)
    try:
        planted = plant_ids(sims)
        sims.municipal.faults.update(error_rate=0.2, seed=7)  # failed attempts keep payloads and answers
        config = demo.configure(sims, state_dir)
        for name, value in daemon_config.secrets_env(sims.exchange_url).items():
            monkeypatch.setenv(name, value)
        cfg = str(daemon_config.write(config, state_dir / "zhifa-sync.yaml"))
        texts = {"sync --once": run_cli("-c", cfg, "--log-format", "json", "sync", "--once")}
        texts["status"] = run_cli("-c", cfg, "status")
        texts["failures list"] = run_cli("-c", cfg, "failures", "list", "--state", "all", "--limit", "10000")
        settings, _ = load_settings(Path(cfg))
        ledger = Ledger.connect(settings.database.url)
        try:
            rows, total = ledger.query_failures(limit=10_000)
            assert total >= 3, "the sweep needs failures to look at"
            for r in rows:
                texts[f"failures show {r['id']}"] = run_cli("-c", cfg, "failures", "show", str(r["id"]))
                stored = ledger.get_failure(r["id"]) or {}
                texts[f"failures[{r['id']}] stored"] = json.dumps(
                    {k: stored.get(k) for k in ("payload", "response", "message", "party_code")},
                    ensure_ascii=False,
                    default=str,
                )
            month = str(sims.data.penalties[0]["decided_on"])[:7]
            texts["report monthly"] = run_cli("-c", cfg, "report", "monthly", "--month", month)
            with serving(create_app(ledger, settings), **SERVER_OPTIONS) as server:
                texts.update(console_texts(server.url, ledger))
        finally:
            ledger.close()
    finally:
        sims.stop()
    leaks = {where: found for where, text in texts.items() if (found := unmasked_ids(text))}
    assert leaks == {}
    everything = "\n".join(texts.values())
    assert any(p[:4] + "*" * 10 + p[-4:] in everything for p in planted), "the planted people never showed up"
