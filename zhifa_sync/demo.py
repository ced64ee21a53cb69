"""``make demo``: the four simulated systems with a realistic month of data, every pipeline run once.

The month is the one ending now (Beijing time), as a bureau installing zhifa-sync today would have it:
the decisions of the last 7 working days are published on time by the first run, the older ones were
already past their due date when first read (history before the installation, reported apart).

Starts the simulators on loopback ports, writes ``demo-state/zhifa-sync.yaml`` pointing the daemon at
them, runs ``zhifa-sync sync --once`` (the real command), shows ``zhifa-sync status`` and says where
to look next. The ledger stays in ``demo-state/`` for `failures list`, `status` and the console.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from connectors.contract.clock import beijing_now
from simulators import daemon_config, harness

ROOT = Path(__file__).resolve().parents[1]
LOG_NAME = "zhifa-sync.log"  # in the state folder: every JSON log line of the demo's runs


DAYS = 30  # the demo's month


def start_simulators(state_dir: Path, inspections: int, seed: int) -> harness.InProcess:
    """The four simulators in this process, seeded with the month up to now and a few credit events."""
    plan = harness.Plan(
        systems=harness.SYSTEMS,
        inspections=inspections,
        seed=seed,
        until=beijing_now(),
        days=DAYS,
        hand_typed_share=0.05,
        bad_records=2,
        # The documented limits (municipal 10 calls/s) would make a demo of a month take minutes; the
        # benchmarks and the fault tests run with them on.
        faults={
            "district": {"rate_limit_per_s": 200},
            "municipal": {"rate_limit_per_s": 200},
            "credit": {"rate_limits": False},
        },
        exchange_url=f"sqlite:///{state_dir / 'qianzhiku.db'}",
        collector_interval_s=1.0,
    )
    sims = harness.start_in_process(plan)
    # a few events of the kinds the credit office publishes, for companies of the district
    kinds = ["REPAIRED", "BLACKLIST_ADD", "EXPIRED", "BLACKLIST_REMOVE", "WITHDRAWN"]
    for n, pen in enumerate([p for p in sims.data.penalties if p["party"].get("uscc")][:10]):
        sims.credit.add_event(
            kinds[n % len(kinds)],
            pen["party"]["uscc"],
            cf_wsh=pen.get("decision_no"),
            occurred_at=sims.data.event_time(n),
        )
    return sims


def configure(sims: harness.InProcess, state_dir: Path) -> dict[str, Any]:
    """Every flow against the simulators, the ledger in ``state_dir``, the shipped mapping tables."""
    knobs = daemon_config.Knobs(
        retry=daemon_config.Retry(attempts=5, initial_wait_s=0.2, max_wait_s=5),
        concurrency=8,
        start=f"{sims.data.first_day} 00:00:00",
    )
    return daemon_config.build(
        sims.urls,
        db_url=f"sqlite:///{state_dir / 'ledger.db'}",
        mappings_dir=ROOT / "mappings",
        flows=daemon_config.FLOWS,
        knobs=knobs,
        extra={"holidays_file": str(ROOT / "mappings" / "holidays.csv")},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo")
    parser.add_argument(
        "--inspections", type=int, default=1200, help="about a month of a district's inspections"
    )
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--state-dir", default=str(ROOT / "demo-state"))
    args = parser.parse_args(argv)

    state_dir = Path(args.state_dir)
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, mode=0o700)  # the ledger in it holds personal data
    sims = start_simulators(state_dir, args.inspections, args.seed)
    data = sims.data
    config = configure(sims, state_dir)
    os.environ.update(daemon_config.secrets_env(sims.exchange_url))
    config_path = daemon_config.write(config, state_dir / "zhifa-sync.yaml")

    print("== zhifa-sync demo ==")
    print(
        f"区平台 (district) 模拟数据: {len(data.inspections)} 条检查, {len(data.penalties)} 件处罚"
        f" (含 {len(data.twins)} 条市里已手工录入的记录, 2 条数据有误的记录)"
    )
    for name, spec in config["systems"].items():
        print(f"  {name:10} {spec.get('base_url', '(前置库 SQLite)')}")
    print(f"配置文件: {config_path}\n")

    from zhifa_sync.cli import main as cli

    print("== 第一次运行: 每个管道一次 (zhifa-sync sync --once) ==")
    started = time.monotonic()
    rc = (
        cli(["-c", str(config_path), "--log-format", "json", "sync", "--once"])
        if os.environ.get("ZHIFA_DEMO_LOGS")
        else _quiet(cli, ["-c", str(config_path), "sync", "--once"], state_dir)
    )
    print(
        f"\n用时 {time.monotonic() - started:.1f} 秒 (退出码 {rc}: 有失败时为 1, 这是演示数据中故意放入的错误记录)"
    )
    if "hlwjg" in config["systems"]:
        time.sleep(2.5)  # let the 前置库 collector write feedback, then read it
        print(
            "\n== 第二次运行: 数据未变 (只重读游标前的重叠窗口 overlap_s, 全部未变化, 什么也不推送;"
            " 前置库的回执在此时读回) =="
        )
        _quiet(cli, ["-c", str(config_path), "sync", "--once"], state_dir)
    print("\n== zhifa-sync status ==")
    cli(["-c", str(config_path), "status"])
    print("\n下一步 (what to look at next; 无需设置任何密钥环境变量):")
    for what, command in next_steps(config_path):
        print(f"  {what:8} {command}")
    print(f"""  日志:       {state_dir / LOG_NAME} (两次运行的全部 JSON 日志行, 身份证号已脱敏)
  账本:       {state_dir / "ledger.db"} (SQLite; 保留在原处)
模拟系统随本命令退出而停止; 再次运行 make demo 会重新生成。""")
    sims.stop()
    return 0


def next_steps(config_path: Path) -> list[tuple[str, str]]:
    """The follow-up commands the demo prints, as a user pastes them from the checkout's folder.

    None of them contacts a system, so none needs the simulators' secrets (tests run them as printed)."""
    cli = f".venv/bin/zhifa-sync -c {config_path}"
    return [
        ("失败记录:", f"{cli} failures list"),
        ("某条详情:", f"{cli} failures show <编号>"),
        ("运行状态:", f"{cli} status"),
        ("控制台账号:", f"{cli} users add admin --role admin"),
        ("运维控制台:", f"{cli} console   (http://127.0.0.1:8640/)"),
    ]


def _quiet(cli: Any, argv: list[str], state_dir: Path) -> int:
    """Run the CLI with its JSON log going to a file, as under systemd, and the tables to the terminal.

    The log goes to the file at the descriptor level too (``dup2`` on fd 2), so the push processes the
    run starts, which inherit fd 2 rather than ``sys.stderr``, log there as well: nothing but the
    summary reaches stdout, terminal or not."""
    sys.stdout.flush()
    sys.stderr.flush()
    with (state_dir / LOG_NAME).open("a", encoding="utf-8") as log:
        saved_fd = os.dup(2)
        saved = sys.stderr
        os.dup2(log.fileno(), 2)
        sys.stderr = log
        try:
            rc: int = cli(["--log-format", "json", *argv])
        finally:
            sys.stderr.flush()
            sys.stderr = saved
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
    return rc


if __name__ == "__main__":
    sys.exit(main())
