"""``python -m simulators serve``: run the simulated systems in the foreground.

    python -m simulators serve --district-port 8701 --municipal-port 8702 \\
        [--inspections N --penalties M --seed S] [--faults '{"error_rate": 0.05}']

``--faults`` applies to every simulator, or per system with ``{"district": {...}, "municipal": {...},
"credit": {...}}``. The credit simulator (port 8703) is started too, with ``--credit-events N`` events
published for penalised companies. ``--hlwjg-url sqlite:///qianzhiku.db`` also runs the 互联网+监管
前置库 collector over that database every ``--collector-interval`` seconds, with
``POST /_sim/hlwjg/pause|resume`` and ``GET /_sim/hlwjg/stats`` on ``--hlwjg-port`` (8704).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from simulators import credit, daemon_config, district, municipal
from simulators.harness import HTTP_SYSTEMS, Plan, start_in_process
from simulators.universe import REGION_CODE


def _faults_for(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    if any(k in spec for k in ("district", "municipal", "credit", "hlwjg")):
        return dict(spec.get(name) or {})
    return dict(spec)


def _credit_faults(spec: dict[str, Any]) -> dict[str, Any]:
    """The credit simulator's knobs from ``--faults``: strict when given per system, else the ones it has."""
    if "credit" in spec:
        return dict(spec["credit"] or {})  # unknown knobs are refused when they are applied
    return {k: v for k, v in _faults_for("credit", spec).items() if k in credit.DEFAULT_FAULTS}


def plan(args: argparse.Namespace) -> Plan:
    """What ``serve`` starts: the systems whose port is not -1, the 前置库 collector with ``--hlwjg-url``."""
    spec = json.loads(args.faults) if args.faults else {}
    ports = {"district": args.district_port, "municipal": args.municipal_port, "credit": args.credit_port}
    systems = [name for name in HTTP_SYSTEMS if ports[name] >= 0]
    faults = {"district": _faults_for("district", spec), "municipal": _faults_for("municipal", spec)}
    faults["credit"] = _credit_faults(spec)
    return Plan(
        systems=(*systems, *(["hlwjg"] if args.hlwjg_url else [])),
        inspections=args.inspections,
        penalties=args.penalties,
        seed=args.seed,
        year=args.year,
        until=args.until,
        days=args.days,
        hand_typed_share=args.hand_typed_share,
        bad_records=args.bad_records,
        credit_events=args.credit_events,
        faults={name: knobs for name, knobs in faults.items() if name in systems},
        exchange_url=args.hlwjg_url,
        collector_interval_s=args.collector_interval,
    )


def credentials(urls: dict[str, str], exchange_url: str | None) -> list[str]:
    """Every credential a configuration for the running simulators needs, one line per system."""
    lines = {
        "district": f"district  username {district.DISTRICT_USER!r} password {district.DISTRICT_PASSWORD!r}",
        "municipal": f"municipal app_key {municipal.MUNICIPAL_APP_KEY!r} app_secret "
        f"{municipal.MUNICIPAL_APP_SECRET!r} region_code {REGION_CODE!r}",
        "credit": f"credit    app_key {credit.APP_ID!r} app_secret {credit.APP_SECRET!r}",
        "hlwjg": f"hlwjg     url {exchange_url!r}",
    }
    return [line for name, line in lines.items() if name in urls]


def trial_config(urls: dict[str, str]) -> dict[str, Any]:
    """A zhifa-sync configuration for these simulators: every flow whose source runs, secrets by env."""
    flows = [n for n, f in daemon_config.FLOWS.items() if f.source in urls]
    return daemon_config.build(
        urls,
        db_url="sqlite:///zhifa-sync.db",  # next to the configuration file
        mappings_dir=daemon_config.REPO_MAPPINGS,
        flows=flows,
        extra={"holidays_file": str(daemon_config.REPO_MAPPINGS / "holidays.csv")},
    )


def trial_instructions(urls: dict[str, str], exchange_url: str | None) -> str:
    """What to set and write to try ``zhifa-sync run`` against these simulators."""
    env = {k: v for k, v in daemon_config.secrets_env(exchange_url).items() if _system_of(k) in urls}
    config = yaml.safe_dump(trial_config(urls), allow_unicode=True, sort_keys=False)
    return "\n".join(
        [
            "\n# credentials (the simulators' own; a trial configuration needs every one):",
            *credentials(urls, exchange_url),
            "\n# environment for zhifa-sync (the configuration reads the secrets from these):",
            *(f"export {k}={shlex.quote(v)}" for k, v in env.items()),
            "\n# trial configuration (save as zhifa-sync.yaml, or use --write-config PATH), then:",
            "#   .venv/bin/zhifa-sync -c zhifa-sync.yaml check && .venv/bin/zhifa-sync -c zhifa-sync.yaml run",
            config,
        ]
    )


def _system_of(variable: str) -> str:
    return next(name for name, var in daemon_config.SECRET_ENV.items() if var == variable)


def serve(args: argparse.Namespace) -> int:
    ports = {"district": args.district_port, "municipal": args.municipal_port, "credit": args.credit_port,
             "hlwjg": args.hlwjg_port}  # fmt: skip
    try:
        sims = start_in_process(plan(args), host=args.host, ports=ports)
    except KeyError as exc:
        if "fault knob" not in str(exc):
            raise
        raise SystemExit(f"--faults: {exc.args[0]}") from None
    data = sims.data
    print(f"data: {len(data.inspections)} inspections, {len(data.penalties)} penalties, "
          f"{len(data.city_inspections)}+{len(data.city_penalties)} city records ({len(data.twins)} hand-typed twins)")  # fmt: skip
    for name, url in sims.urls.items():
        print(f"{name:10s} {url}")
    print(trial_instructions(sims.urls, args.hlwjg_url))
    if args.write_config:
        daemon_config.write(trial_config(sims.urls), Path(args.write_config))
        print(f"# written: {args.write_config}")
    sys.stdout.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    sims.stop()
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m simulators`` (``harness`` writes it for a plan)."""
    parser = argparse.ArgumentParser(prog="python -m simulators", description="simulated external systems")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the simulators in the foreground")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--district-port", type=int, default=8701)
    p.add_argument("--municipal-port", type=int, default=8702)
    p.add_argument(
        "--credit-port",
        type=int,
        default=8703,
        help="-1: do not start the credit simulator (the same for --district-port, --municipal-port)",
    )
    p.add_argument("--credit-events", type=int, default=0, help="credit events to publish for the district")
    p.add_argument("--hlwjg-url", default=None, help="SQLAlchemy URL of the 前置库: run its collector too")
    p.add_argument("--collector-interval", type=float, default=5.0, help="seconds between collections")
    p.add_argument("--hlwjg-port", type=int, default=8704, help="port of the collector's /_sim/hlwjg/ hooks")
    p.add_argument("--inspections", type=int, default=1000)
    p.add_argument("--penalties", type=int, default=None, help="default: one per 30 inspections")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--year", type=int, default=2025)
    p.add_argument(
        "--until",
        type=datetime.fromisoformat,
        default=None,
        help="Beijing wall time, e.g. 2026-12-07T21:00:00: data of the --days ending then instead of --year",
    )
    p.add_argument("--days", type=int, default=30, help="with --until: how many days the data covers")
    p.add_argument("--hand-typed-share", type=float, default=0.05)
    p.add_argument("--bad-records", type=int, default=0)
    p.add_argument(
        "--write-config", metavar="PATH", help="also write the printed trial configuration to PATH"
    )
    p.add_argument("--faults", default=None, help="JSON fault knobs, e.g. '{\"error_rate\": 0.05}'")
    return parser


def main(argv: list[str] | None = None) -> int:
    return serve(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
