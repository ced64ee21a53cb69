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
import signal
import sys
import threading
from typing import Any

from simulators import datagen, district, municipal
from simulators.server import RunningServer, start


def _faults_for(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    if any(k in spec for k in ("district", "municipal", "credit", "hlwjg")):
        return dict(spec.get(name) or {})
    return dict(spec)


def _credit_faults(spec: dict[str, Any]) -> dict[str, Any]:
    """The credit simulator's knobs from ``--faults``: strict when given per system, else the ones it has."""
    from simulators import credit

    if "credit" in spec:
        knobs = dict(spec["credit"] or {})
        unknown = set(knobs) - set(credit.DEFAULT_FAULTS)
        if unknown:
            raise SystemExit(f"unknown credit fault knobs: {sorted(unknown)}")
        return knobs
    return {k: v for k, v in _faults_for("credit", spec).items() if k in credit.DEFAULT_FAULTS}


def serve(args: argparse.Namespace) -> int:
    faults = json.loads(args.faults) if args.faults else {}
    data = datagen.generate(
        seed=args.seed,
        inspections=args.inspections,
        penalties=args.penalties,
        year=args.year,
        hand_typed_share=args.hand_typed_share,
        bad_records=args.bad_records,
    )
    dstate = district.DistrictState(seed=args.seed)
    dstate.load(data)
    dstate.faults.update(_faults_for("district", faults))
    mstate = municipal.MunicipalState(seed=args.seed)
    mstate.load(data)
    mstate.faults.update(_faults_for("municipal", faults))

    running: list[tuple[str, RunningServer]] = [
        ("district", start(district.create_app(dstate), args.host, args.district_port)),
        ("municipal", start(municipal.create_app(mstate), args.host, args.municipal_port)),
    ]
    if args.credit_port >= 0:
        from simulators import credit

        cstate = credit.CreditState(seed=args.seed)
        cstate.faults.update(_credit_faults(faults))
        for spec in credit.event_specs(data, args.credit_events):
            cstate.add_event(**spec)
        running.append(("credit", start(credit.create_app(cstate), args.host, args.credit_port)))
    collector = None
    if args.hlwjg_url:  # an exchange database, not an HTTP service: the port is for the admin hooks
        from simulators import hlwjg

        collector = hlwjg.Collector(hlwjg.open_exchange(args.hlwjg_url))
        collector.run_in_thread(args.collector_interval)
        running.append(("hlwjg", start(hlwjg.create_admin_app(collector), args.host, args.hlwjg_port)))

    print(f"data: {len(data.inspections)} inspections, {len(data.penalties)} penalties, "
          f"{len(data.city_inspections)}+{len(data.city_penalties)} city records ({len(data.twins)} hand-typed twins)")  # fmt: skip
    for name, srv in running:
        print(f"{name:10s} {srv.url}")
    print(f"district  user {district.DISTRICT_USER!r} password {district.DISTRICT_PASSWORD!r}")
    print(f"municipal appKey {municipal.MUNICIPAL_APP_KEY!r} appSecret {municipal.MUNICIPAL_APP_SECRET!r}")
    sys.stdout.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    if collector is not None:
        collector.stop()
    for _, srv in running:
        srv.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description="simulated external systems")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the simulators in the foreground")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--district-port", type=int, default=8701)
    p.add_argument("--municipal-port", type=int, default=8702)
    p.add_argument("--credit-port", type=int, default=8703, help="-1: do not start the credit simulator")
    p.add_argument("--credit-events", type=int, default=0, help="credit events to publish for the district")
    p.add_argument("--hlwjg-url", default=None, help="SQLAlchemy URL of the 前置库: run its collector too")
    p.add_argument("--collector-interval", type=float, default=5.0, help="seconds between collections")
    p.add_argument("--hlwjg-port", type=int, default=8704, help="port of the collector's /_sim/hlwjg/ hooks")
    p.add_argument("--inspections", type=int, default=1000)
    p.add_argument("--penalties", type=int, default=None, help="default: one per 30 inspections")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--hand-typed-share", type=float, default=0.05)
    p.add_argument("--bad-records", type=int, default=0)
    p.add_argument("--faults", default=None, help="JSON fault knobs, e.g. '{\"error_rate\": 0.05}'")
    args = parser.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
