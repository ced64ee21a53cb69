"""``make demo``: the four simulated systems with a realistic month of data, every pipeline run once.

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

import yaml

from simulators import datagen, district, municipal
from simulators.server import start

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "ZHIFA_DISTRICT_PASSWORD": district.DISTRICT_PASSWORD,
    "ZHIFA_MUNICIPAL_SECRET": municipal.MUNICIPAL_APP_SECRET,
}


def build(state_dir: Path, inspections: int, seed: int) -> tuple[dict[str, Any], list[Any], Any]:
    """Seed and start the simulators; return the daemon's config, the servers and the dataset."""
    data = datagen.generate(seed=seed, inspections=inspections, hand_typed_share=0.05, bad_records=2)
    dstate, mstate = district.DistrictState(seed=seed), municipal.MunicipalState(seed=seed)
    dstate.load(data)
    mstate.load(data)
    # The documented limits (municipal 10 calls/s) would make a demo of a month take minutes; the
    # benchmarks and the fault tests run with them on.
    for state in (dstate, mstate):
        state.faults.update(rate_limit_per_s=200)
    servers = [start(district.create_app(dstate)), start(municipal.create_app(mstate))]
    retry = {"attempts": 5, "initial_wait_s": 0.2, "max_wait_s": 5}
    systems: dict[str, Any] = {
        "district": {
            "type": "district",
            "base_url": servers[0].url,
            "username": district.DISTRICT_USER,
            "password": {"env": "ZHIFA_DISTRICT_PASSWORD"},
            "retry": retry,
        },
        "municipal": {
            "type": "municipal",
            "base_url": servers[1].url,
            "app_key": municipal.MUNICIPAL_APP_KEY,
            "app_secret": {"env": "ZHIFA_MUNICIPAL_SECRET"},
            "region_code": "120116",
            "concurrency": 8,
            "retry": retry,
        },
    }
    targets = {"inspection": ["municipal"], "penalty": ["municipal"]}
    extra_pipelines: list[dict[str, Any]] = []
    from simulators import credit

    cstate = credit.CreditState(seed=seed)
    cstate.faults.update(rate_limits=False)
    servers.append(start(credit.create_app(cstate)))
    SECRETS["ZHIFA_CREDIT_SECRET"] = credit.APP_SECRET
    systems["credit"] = {
        "type": "credit",
        "base_url": servers[-1].url,
        "app_key": credit.APP_ID,
        "app_secret": {"env": "ZHIFA_CREDIT_SECRET"},
        "retry": retry,
    }
    targets["penalty"].append("credit")
    # a few events of the kinds the credit office publishes, for companies of the district
    kinds = ["REPAIRED", "BLACKLIST_ADD", "EXPIRED", "BLACKLIST_REMOVE", "WITHDRAWN"]
    for n, pen in enumerate([p for p in data.penalties if p["party"].get("uscc")][:10]):
        cstate.add_event(
            kinds[n % len(kinds)],
            pen["party"]["uscc"],
            cf_wsh=pen.get("decision_no"),
            occurred_at=f"{data.year}-12-{10 + n:02d}T10:00:00+08:00",
        )
    extra_pipelines.append(
        {
            "name": "credit-events",
            "source": "credit",
            "kind": "credit_event",
            "targets": ["district"],
            "start": f"{data.year}-01-01 00:00:00",
        }
    )
    from simulators import hlwjg

    url = f"sqlite:///{state_dir / 'qianzhiku.db'}"
    collector = hlwjg.Collector(hlwjg.open_exchange(url))
    collector.run_in_thread(1.0)
    servers.append(collector)
    SECRETS["ZHIFA_HLWJG_URL"] = url
    systems["hlwjg"] = {"type": "hlwjg", "url": {"env": "ZHIFA_HLWJG_URL"}}
    targets["inspection"].append("hlwjg")
    targets["penalty"].append("hlwjg")
    pipelines = [
        {
            "name": "district-inspections",
            "source": "district",
            "kind": "inspection",
            "targets": targets["inspection"],
            "start": f"{data.year}-01-01 00:00:00",
        },
        {
            "name": "district-penalties",
            "source": "district",
            "kind": "penalty",
            "targets": targets["penalty"],
            "start": f"{data.year}-01-01 00:00:00",
        },
        # Flow 3: records typed in at the city for our region → district (ours never come back).
        {
            "name": "city-inspections",
            "source": "municipal",
            "kind": "inspection",
            "targets": ["district"],
            "start": f"{data.year}-01-01 00:00:00",
        },
        {
            "name": "city-penalties",
            "source": "municipal",
            "kind": "penalty",
            "targets": ["district"],
            "start": f"{data.year}-01-01 00:00:00",
        },
        *extra_pipelines,
    ]
    config = {
        "database": {"url": f"sqlite:///{state_dir / 'ledger.db'}"},
        "mappings_dir": str(ROOT / "mappings"),
        "holidays_file": str(ROOT / "mappings" / "holidays.csv"),
        "systems": systems,
        "pipelines": pipelines,
    }
    return config, servers, data


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
    state_dir.mkdir(parents=True)
    config, servers, data = build(state_dir, args.inspections, args.seed)
    os.environ.update(SECRETS)
    config_path = state_dir / "zhifa-sync.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")

    print("== zhifa-sync demo ==")
    print(
        f"区平台 (district) 模拟数据: {len(data.inspections)} 条检查, {len(data.penalties)} 件处罚"
        f" (含 {len(data.twins)} 条市里已手工录入的记录, 2 条数据有误的记录)"
    )
    for name, spec in config["systems"].items():
        print(f"  {name:10} {spec.get('base_url', '(前置库 SQLite)')}")
    print(f"配置文件: {config_path}\n")

    from zhifa_sync.cli import main as cli

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
        _quiet(cli, ["-c", str(config_path), "sync", "--once"], state_dir)
    print("\n== zhifa-sync status ==")
    cli(["-c", str(config_path), "status"])
    print(f"""
下一步 (what to look at next):
  失败记录:   .venv/bin/zhifa-sync -c {config_path} failures list
  某条详情:   .venv/bin/zhifa-sync -c {config_path} failures show <编号>
  运维控制台: .venv/bin/zhifa-sync -c {config_path} users add admin --role admin
              .venv/bin/zhifa-sync -c {config_path} console   (http://127.0.0.1:8640/)
  日志:       {state_dir / "zhifa-sync.log"} (JSON, 身份证号已脱敏)
  账本:       {state_dir / "ledger.db"} (SQLite; 保留在原处)
模拟系统随本命令退出而停止; 再次运行 make demo 会重新生成。""")
    for srv in servers:
        srv.stop()
    return 0


def _quiet(cli: Any, argv: list[str], state_dir: Path) -> int:
    """Run the CLI with its JSON log going to a file, as under systemd, and the tables to the terminal."""
    log = (state_dir / "zhifa-sync.log").open("a", encoding="utf-8")
    saved = sys.stderr
    sys.stderr = log
    try:
        rc: int = cli(["--log-format", "json", *argv])
    finally:
        sys.stderr = saved
        log.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
