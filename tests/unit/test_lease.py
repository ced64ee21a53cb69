"""Pipeline leases: one holder per pipeline across processes, on SQLite (flock) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import create_engine

from sync.lease import Leases, advisory_key


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
