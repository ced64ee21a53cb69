"""Pipeline leases: one holder per pipeline across processes, on SQLite (flock) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import create_engine, text

from sync.lease import LeaseLoss, Leases, advisory_key


def test_second_holder_is_refused_until_the_first_releases(ledger_url: str) -> None:
    """While one lease holds a pipeline another is refused; other pipelines are free; release frees it."""
    a, b = Leases(create_engine(ledger_url)), Leases(create_engine(ledger_url))
    try:
        with a.hold("district-inspections") as held:
            assert held
            with b.hold("district-inspections") as other:
                assert not other
            with b.hold("district-penalties") as other:
                assert other
        with b.hold("district-inspections") as again:
            assert again
    finally:
        a.close()
        b.close()


def test_a_lease_is_released_when_its_process_dies(ledger_url: str, tmp_path: Path) -> None:
    """A process killed while holding the lease leaves it free for the next one (kernel / server release)."""
    script = textwrap.dedent(f"""
        import sys, time
        from sqlalchemy import create_engine
        from sync.lease import Leases
        with Leases(create_engine({ledger_url!r})).hold("p") as held:
            print("held" if held else "refused", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        mine = Leases(create_engine(ledger_url))
        with mine.hold("p") as held:
            assert not held
        proc.kill()
        proc.wait()
        with mine.hold("p") as held:
            assert held
        mine.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sqlite_lock_file_sits_next_to_the_database(tmp_path: Path) -> None:
    """The SQLite lease is a file beside the ledger (a writable state path under systemd); none in memory."""
    assert Leases(create_engine(f"sqlite:///{tmp_path / 'l.db'}")).lock_path("p") == tmp_path / "l.db.p.lock"
    memory = Leases(create_engine("sqlite://"))
    assert memory.lock_path("p") is None
    with memory.hold("p") as held:
        assert held


def test_advisory_key_is_stable_and_separates_schemas() -> None:
    """The lock key is a fixed signed 64-bit number per (database, schema, pipeline)."""
    key = advisory_key("zhifa", "public", "district-inspections")
    assert key == advisory_key("zhifa", "public", "district-inspections")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("zhifa", "other", "district-inspections")


def _take_lease_away(leases: Leases, url: str, pipeline: str) -> None:
    """What happens to a held lease in the field: on PostgreSQL its session is ended (an administrator's
    pg_terminate_backend, as a restart or a dead-peer timeout would); on SQLite the lock file is removed
    (a clean-up of the state folder)."""
    if url.startswith("sqlite"):
        path = leases.lock_path(pipeline)
        assert path is not None
        path.unlink()
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        ended = conn.scalar(
            text(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                " where application_name = :name and pid <> pg_backend_pid()"
            ),
            {"name": f"zhifa-sync lease {leases.owner}"},
        )
    engine.dispose()
    assert ended == 1


def test_a_lease_lost_then_taken_over_is_told_and_cleared_when_its_run_ends(ledger_url: str) -> None:
    """Two holders: A's lease goes (session ended / lock file removed): lost; B takes it: taken over, B
    named; A's run ends: told once more, then nothing. B's lease, never lost, has no problem."""
    a = Leases(create_engine(ledger_url), "host-a:aaaaaa")
    b = Leases(create_engine(ledger_url), "host-b:bbbbbb")
    try:
        with a.hold("p") as held:
            assert held and a.problems() == {}
            _take_lease_away(a, ledger_url, "p")
            (lost,) = a.problems().values()
            assert (lost.pipeline, lost.loss, lost.holder) == ("p", LeaseLoss.LOST, None)
            assert "会话已断开" in lost.reason or "已被删除" in lost.reason
            with b.hold("p") as other:
                assert other  # the second instance gets the pipeline: both now think they hold it
                taken = a.problems()["p"]
                assert taken.loss is LeaseLoss.TAKEN_OVER and "host-b:bbbbbb" in str(taken.holder)
                assert b.problems() == {}
        assert a.problems()["p"].loss is LeaseLoss.LOST  # found again at release: told once ...
        assert a.problems() == {}  # ... then cleared
        with a.hold("p") as again:
            assert again and a.problems() == {}  # a fresh lease is a lease
    finally:
        a.close()
        b.close()
