"""``python -m simulators serve``: run the simulated systems in the foreground.

    python -m simulators serve --district-port 8701 --municipal-port 8702 \\
        [--inspections N --penalties M --seed S] [--faults '{"error_rate": 0.05}']

``--faults`` applies to every simulator, or per system with ``{"district": {...}, "municipal": {...}}``.
The credit simulator (``simulators/credit.py``, port 8703) is started too when it is present.
"""

from __future__ import annotations

import argparse
import importlib
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


def _optional_app(module: str) -> Any:
    """``create_app()`` of a colleague's simulator, or None while it does not exist yet."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    factory = getattr(mod, "create_app", None)
    return factory() if factory is not None else None


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
    credit_app = _optional_app("simulators.credit") if args.credit_port >= 0 else None
    if credit_app is not None:
        running.append(("credit", start(credit_app, args.host, args.credit_port)))
    # hlwjg is an exchange database, not an HTTP service: its colleague's module adds its own option.

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
