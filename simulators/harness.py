"""Start the simulated systems for the tests, the benchmarks, the soak and the demo, and stop them again.

Either in this process (a uvicorn thread per system, the state objects at hand) or as
``python -m simulators serve`` in a process of its own (its memory and CPU not counted as the
caller's, and it outlives a daemon that is killed). Both give the systems' URLs and the ``/_sim/...``
admin calls. ``simulators.daemon_config`` writes the zhifa-sync configuration that points at them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import httpx

from simulators import credit, datagen, district, hlwjg, municipal
from simulators.daemon_config import secrets_env
from simulators.server import RunningServer, start

SYSTEMS = ("district", "municipal", "credit", "hlwjg")
HTTP_SYSTEMS = ("district", "municipal", "credit")
# what answers once a simulator listens (the 前置库 is a database: its port is the collector's hooks)
_READY_PATH = {name: "/_sim/faults" for name in HTTP_SYSTEMS} | {"hlwjg": "/_sim/hlwjg/stats"}
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # where ``python -m simulators`` finds this package
_State = TypeVar("_State")


def free_port() -> int:
    """A loopback port free right now (another socket may take it before the caller binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> float:
    """Poll until ``predicate()`` is true; the seconds it took (AssertionError naming ``what`` on timeout)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


def admin_get(url: str) -> Any:
    """A ``/_sim/...`` read, tried again on a time-out: on CI one such answer once took over 30 s (cause
    not found; not reproduced in local runs under load), and what the callers measure is the store, not
    this call. A simulator that really hangs fails all three."""
    return _admin("GET", url, None)


def admin_post(url: str, body: Any = None) -> Any:
    """A ``/_sim/...`` change (fault knobs, pause/resume: setting the same twice is harmless), retried
    on a time-out as :func:`admin_get` is."""
    return _admin("POST", url, body)


def _admin(method: str, url: str, body: Any) -> Any:
    for attempt in (1, 2, 3):
        started = time.monotonic()
        try:
            return httpx.request(method, url, json=body, timeout=60).json()
        except httpx.TimeoutException:
            print(f"harness: {url} did not answer in {time.monotonic() - started:.0f} s (try {attempt})")
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Plan:
    """What to start: which systems, the data set they serve (as ``simulators.datagen`` generates it),
    their fault knobs by system, and the 前置库 database the exchange's collector reads."""

    systems: tuple[str, ...] = ("district", "municipal")
    inspections: int = 1000
    penalties: int | None = None  # None: one per 30 inspections
    seed: int = 1
    year: int = 2025
    until: datetime | None = None  # Beijing wall time: the data covers the ``days`` ending then, not ``year``
    days: int = 30
    hand_typed_share: float = 0.05
    bad_records: int = 0
    credit_events: int = 0  # published by the credit platform for companies penalised in the data set
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    exchange_url: str | None = None  # SQLAlchemy URL of the 前置库 (needed with "hlwjg")
    collector_interval_s: float = 5.0

    def __post_init__(self) -> None:
        unknown = [s for s in (*self.systems, *self.faults) if s not in SYSTEMS]
        if unknown:
            raise ValueError(f"unknown simulators {unknown}: known are {list(SYSTEMS)}")
        if "hlwjg" in self.systems and not self.exchange_url:
            raise ValueError("the 前置库 simulator (hlwjg) needs exchange_url")

    def dataset(self) -> datagen.Dataset:
        """The data set the simulators serve: the same plan, the same data."""
        return datagen.generate(
            seed=self.seed,
            inspections=self.inspections,
            penalties=self.penalties,
            year=self.year,
            hand_typed_share=self.hand_typed_share,
            bad_records=self.bad_records,
            until=self.until,
            days=self.days,
        )


class Simulators:
    """Running simulators: their base URLs by system, and the ``/_sim/...`` admin calls."""

    def __init__(self, urls: dict[str, str], exchange_url: str | None) -> None:
        self.urls = urls
        self.exchange_url = exchange_url

    def get(self, system: str, path: str) -> Any:
        return admin_get(self.urls[system] + path)

    def post(self, system: str, path: str, body: Any = None) -> Any:
        return admin_post(self.urls[system] + path, body)

    def set_faults(self, spec: Mapping[str, Mapping[str, Any]]) -> None:
        """Change fault knobs while they run, by system."""
        for system, knobs in spec.items():
            self.post(system, "/_sim/faults", dict(knobs))

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class InProcess(Simulators):
    """Simulators served from threads of this process, with their data set and state objects."""

    def __init__(
        self,
        data: datagen.Dataset,
        states: dict[str, object],
        servers: dict[str, RunningServer],
        exchange_url: str | None,
    ) -> None:
        super().__init__({name: srv.url for name, srv in servers.items()}, exchange_url)
        self.data = data
        self.states = states
        self.servers = servers

    @property
    def district(self) -> district.DistrictState:
        return self._state("district", district.DistrictState)

    @property
    def municipal(self) -> municipal.MunicipalState:
        return self._state("municipal", municipal.MunicipalState)

    @property
    def credit(self) -> credit.CreditState:
        return self._state("credit", credit.CreditState)

    @property
    def collector(self) -> hlwjg.Collector:
        return self._state("hlwjg", hlwjg.Collector)

    def _state(self, name: str, kind: type[_State]) -> _State:
        state = self.states.get(name)
        if not isinstance(state, kind):
            raise LookupError(f"the {name} simulator is not running here (running: {sorted(self.states)})")
        return state

    def stop(self) -> None:
        if isinstance(collector := self.states.get("hlwjg"), hlwjg.Collector):
            collector.stop()
            collector.engine.dispose()
        for srv in self.servers.values():
            srv.stop()


def start_in_process(
    plan: Plan, *, host: str = "127.0.0.1", ports: Mapping[str, int] | None = None
) -> InProcess:
    """Load the plan's data set into the simulators and serve each from a thread (port 0: any free one)."""
    data = plan.dataset()
    states: dict[str, object] = {}
    servers: dict[str, RunningServer] = {}
    sims = InProcess(data, states, servers, plan.exchange_url)
    try:
        for name in SYSTEMS:
            if name in plan.systems:
                state, app = _BUILD[name](plan, data)
                states[name] = state
                servers[name] = start(app, host, (ports or {}).get(name, 0))
    except BaseException:
        sims.stop()
        raise
    sims.urls.update({name: srv.url for name, srv in servers.items()})
    return sims


def _district(plan: Plan, data: datagen.Dataset) -> tuple[object, Any]:
    state = district.DistrictState(seed=plan.seed)
    state.load(data)
    state.faults.update(dict(plan.faults.get("district", {})))
    return state, district.create_app(state)


def _municipal(plan: Plan, data: datagen.Dataset) -> tuple[object, Any]:
    state = municipal.MunicipalState(seed=plan.seed)
    state.load(data)
    state.faults.update(dict(plan.faults.get("municipal", {})))
    return state, municipal.create_app(state)


def _credit(plan: Plan, data: datagen.Dataset) -> tuple[object, Any]:
    state = credit.CreditState(seed=plan.seed)
    knobs = dict(plan.faults.get("credit", {}))
    if unknown := sorted(set(knobs) - set(credit.DEFAULT_FAULTS)):
        raise KeyError(f"unknown credit fault knobs: {unknown}")
    state.faults.update(knobs)
    for spec in credit.event_specs(data, plan.credit_events):
        state.add_event(**spec)
    return state, credit.create_app(state)


def _hlwjg(plan: Plan, data: datagen.Dataset) -> tuple[object, Any]:
    collector = hlwjg.Collector(hlwjg.open_exchange(str(plan.exchange_url)))
    collector.run_in_thread(plan.collector_interval_s)
    return collector, hlwjg.create_admin_app(collector)


_BUILD: dict[str, Callable[[Plan, datagen.Dataset], tuple[object, Any]]] = {
    "district": _district,
    "municipal": _municipal,
    "credit": _credit,
    "hlwjg": _hlwjg,
}


class SimulatorsExited(RuntimeError):
    """The simulators' process ended while starting; the message ends with the tail of its output."""


class Process(Simulators):
    """``python -m simulators serve`` in a process of its own; its output goes to a file."""

    def __init__(self, plan: Plan, ports: dict[str, int], log: Path | None) -> None:
        super().__init__({n: f"http://127.0.0.1:{p}" for n, p in ports.items()}, plan.exchange_url)
        # a file, never a pipe: nobody reads a pipe while the simulators run, and a full pipe (64 KiB of
        # log lines) would block the server thread that logs — the simulator would stop answering
        self._out: IO[bytes] = log.open("ab+") if log else tempfile.TemporaryFile()  # noqa: SIM115
        self._out_start = self._out.tell()
        self.proc = subprocess.Popen(
            _serve_command(plan, ports), cwd=_PACKAGE_ROOT, stdout=self._out, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        """What the process has written so far (its last 2000 characters)."""
        self._out.flush()
        self._out.seek(self._out_start)
        return self._out.read().decode(errors="replace")[-2000:]

    def listening(self) -> bool:
        """Every simulator answers its admin hook (SimulatorsExited if the process has ended)."""
        if self.proc.poll() is not None:
            raise SimulatorsExited(f"the simulators exited ({self.proc.returncode}): {self.output()}")
        try:
            return all(
                httpx.get(url + _READY_PATH[name], timeout=2).status_code == 200
                for name, url in self.urls.items()
            )
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        terminate(self.proc, 15)
        self._out.close()


def start_process(plan: Plan, *, log: Path | None = None, timeout_s: float = 120) -> Process:
    """Start ``python -m simulators serve`` on free ports and return once every simulator listens.

    A port found free can be taken before the simulators bind it (by any connection's ephemeral port:
    the test suite makes thousands): then they are started again on other ports, up to 3 times."""
    for attempt in (1, 2, 3):
        ports = {name: free_port() for name in SYSTEMS if name in plan.systems}
        sims = Process(plan, ports, log)
        try:
            wait_for(sims.listening, timeout_s, "the simulators to listen", every=0.1)
            return sims
        except SimulatorsExited as exc:
            sims.stop()
            if "Address already in use" not in str(exc) or attempt == 3:
                raise
            print(
                f"harness: one of the ports {sorted(ports.values())} was taken before the simulators bound it; again"
            )
        except BaseException:
            sims.stop()
            raise
    raise AssertionError("unreachable")


def _serve_command(plan: Plan, ports: Mapping[str, int]) -> list[str]:
    """The ``python -m simulators serve`` command line for ``plan`` (-1: a system not started)."""
    cmd = [sys.executable, "-m", "simulators", "serve", "--seed", str(plan.seed),
           "--inspections", str(plan.inspections), "--year", str(plan.year),
           "--hand-typed-share", str(plan.hand_typed_share), "--bad-records", str(plan.bad_records),
           "--credit-events", str(plan.credit_events),
           # by system, even where empty: flat knobs would reach every system
           "--faults", json.dumps({name: dict(plan.faults.get(name, {})) for name in HTTP_SYSTEMS})]  # fmt: skip
    for name in HTTP_SYSTEMS:
        cmd += [f"--{name}-port", str(ports.get(name, -1))]
    if plan.penalties is not None:
        cmd += ["--penalties", str(plan.penalties)]
    if plan.until is not None:
        cmd += ["--until", plan.until.isoformat(timespec="seconds"), "--days", str(plan.days)]
    if "hlwjg" in ports:
        cmd += ["--hlwjg-url", str(plan.exchange_url), "--hlwjg-port", str(ports["hlwjg"]),
                "--collector-interval", str(plan.collector_interval_s)]  # fmt: skip
    return cmd


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, wait; SIGKILL after ``timeout``; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def zhifa(config: Path, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A real ``zhifa-sync`` process (``python -m zhifa_sync``) with the simulators' secrets in its
    environment; its JSON log lines appended to ``log`` when given, else dropped."""
    env = {**os.environ, **secrets_env(), "ZHIFA_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    with log.open("ab") if log is not None else open(os.devnull, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "zhifa_sync", "-c", str(config), *args],
            cwd=_PACKAGE_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
