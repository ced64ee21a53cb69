"""The 前置库 connector on each database it is written for, against the exchange platform's collector:
SQLite, PostgreSQL and MariaDB (MySQL's ``DATETIME`` keeps whole seconds, its names are `quoted`, its
text is utf8mb4). Oracle and 达梦 cannot run here; the statements are compiled for Oracle in
tests/unit/test_hlwjg_dialects.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from connectors import systems
from connectors.contract.records import parse_record
from connectors.contract.roles import Context, Push
from simulators import hlwjg as sim
from tests.support.records import enterprise, inspection
from tests.support.targets import secrets, tables

AT = datetime(2025, 6, 20, 10, 0, 0, 250_000)  # the daemon's clock stands still: all within one second
NAME = "天津𠀾𡈼化工有限公司"  # characters outside the BMP: 4 bytes in UTF-8, utf8mb4 on MySQL


def test_batches_within_one_second_get_strictly_later_cd_times_and_are_all_collected(
    exchange_url: str, tmp_path: Path
) -> None:
    """Three batches written in the same clock second: each CD_TIME strictly later than the one before
    (on a whole-second column, the next second), every row collected, the name kept byte for byte."""
    exchange = sim.open_exchange(exchange_url)
    collector = sim.Collector(exchange, clock=lambda: datetime(2025, 6, 21).timestamp())
    cfg = systems.HlwjgConfig.model_validate({"type": "hlwjg", "url": {"env": "UNUSED"}})
    system = systems.create("hlwjg", cfg, secrets(), engine=sa.create_engine(exchange_url), clock=lambda: AT)
    try:
        target = system.target("inspection")
        target.begin_run("inspection")
        ctx = Context(tables(tmp_path / "mappings"), lambda kind, sid, t: None)
        ids = [f"JC20250000{n:02d}" for n in range(1, 4)]
        for rid in ids:
            record = parse_record("inspection", inspection(rid, enterprise=enterprise(name=NAME)))
            target.deliver(Push(record, target.translate(record, ctx), None))
            assert [f["CD_ID"] for f in collector.collect_once()] == [rid]  # collected before the next
        with exchange.connect() as conn:
            t = sim.check_action
            rows = conn.execute(sa.select(t.c.CD_ID, t.c.CD_TIME).order_by(t.c.CD_TIME)).all()
    finally:
        system.close()
        exchange.dispose()
    times = [r.CD_TIME for r in rows]
    assert (
        [r.CD_ID for r in rows] == ids
        and times == sorted(set(times))
        and times[0] >= AT.replace(microsecond=0)
    )
    if exchange_url.startswith("mysql"):
        assert all(t.microsecond == 0 for t in times)  # whole seconds, one apart
    accepted = collector.accepted(sim.CHECK_ACTION)
    assert set(accepted) == set(ids) and {a["SUPERVISE_OBJECT"] for a in accepted.values()} == {NAME}
