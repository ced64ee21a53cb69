"""``make soak``: every flow under faults, the daemon SIGKILLed mid-backfill; then count every target.

    python -m bench.soak [--inspections 3000] [--penalties N] [--kills 8] [--seed 2025] [--state-dir DIR]

The four simulated systems run in their own process (``python -m simulators serve``, the 前置库
collector included), so they outlive the kills. With faults on in all of them — 5xx, answers held
beyond the daemon's timeout, connections dropped after the change was stored, rate limits, district
tokens expiring early, credit signatures rejected once, the collector paused for part of the time —
``zhifa-sync sync --once`` (all five flows, configured as ``make demo`` does) runs as a real process
and is SIGKILLed at random moments of a full-year backfill, then restarted, ``--kills`` times; one
more run under faults finishes on its own. Then the faults are switched off and runs repeat until one
reports nothing failed and nothing left to retry, the collector has caught up and its feedback is read.

Each target is then counted from the simulators' own stores against sets derived independently from
the generated data set and the documented rules. Exit code 1 unless nothing is missing, duplicated,
unexpected or in the wrong state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from simulators import credit, datagen, district, hlwjg, municipal
from simulators.credit_rules import normalise_wsh
from simulators.universe import ITEMS, REGION_CODE
from tests.e2e.procs import free_port, wait_for, zhifa

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1.5  # the daemon's HTTP timeout; a held answer waits longer than that
SLOW_MS = 2000
COLLECTOR_INTERVAL_S = 1.0
HAND_TYPED_SHARE = 0.05
BAD_RECORDS = 2
CREDIT_EVENTS = 24


def faults_on(seed: int, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The knobs of the fault phase, per simulator (``extra`` merged over them)."""
    spec = _faults(seed)
    for system, knobs in (extra or {}).items():
        spec[system] = {**spec[system], **knobs}
    return spec


def _faults(seed: int) -> dict[str, dict[str, Any]]:
    common = {"error_rate": 0.10, "slow_rate": 0.05, "slow_ms": SLOW_MS, "drop_after_store_rate": 0.05}
    return {
        # documented 20 calls/s per token; tokens die after 5 s although expires_in says 7200
        "district": {**common, "rate_limits": True, "token_ttl_s": 5, "seed": seed},
        # the documented 10 calls/s would make the soak take many minutes: a lower ceiling than the
        # daemon's pace still answers E4290 often
        "municipal": {**common, "rate_limits": True, "rate_limit_per_s": 60, "seed": seed + 1},
        # the documented 5 calls/s (the daemon keeps to 4 of its own accord); 401 once in a while
        "credit": {**common, "rate_limits": True, "reject_signature_once_rate": 0.2},
    }


FAULTS_OFF: dict[str, dict[str, Any]] = {
    "district": {"error_rate": 0, "slow_rate": 0, "drop_after_store_rate": 0, "rate_limits": False,
                 "token_ttl_s": None},
    "municipal": {"error_rate": 0, "slow_rate": 0, "drop_after_store_rate": 0, "rate_limits": False},
    "credit": {"error_rate": 0, "slow_rate": 0, "drop_after_store_rate": 0, "rate_limits": False,
               "reject_signature_once_rate": 0},
}  # fmt: skip
SECRETS = {
    "ZS_DISTRICT_PASSWORD": district.DISTRICT_PASSWORD,
    "ZS_MUNICIPAL_SECRET": municipal.MUNICIPAL_APP_SECRET,
    "ZS_CREDIT_SECRET": credit.APP_SECRET,
}


# -- the simulators' process ---------------------------------------------------------------------
@dataclass
class Sims:
    """``python -m simulators serve`` with all four systems, in its own process."""

    proc: subprocess.Popen[bytes]
    urls: dict[str, str]
    exchange_url: str

    def get(self, system: str, path: str) -> Any:
        return httpx.get(self.urls[system] + path, timeout=60).json()

    def post(self, system: str, path: str, body: Any = None) -> Any:
        return httpx.post(self.urls[system] + path, json=body, timeout=60).json()

    def set_faults(self, spec: dict[str, dict[str, Any]]) -> None:
        for system, knobs in spec.items():
            self.post(system, "/_sim/faults", knobs)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_simulators(state: Path, args: argparse.Namespace) -> Sims:
    """Start the four simulators on free ports with the fault knobs on; returns once all of them answer."""
    ports = {name: free_port() for name in ("district", "municipal", "credit", "hlwjg")}
    exchange_url = f"sqlite:///{state / 'qianzhiku.db'}"
    cmd = [sys.executable, "-m", "simulators", "serve", "--seed", str(args.seed),
           "--inspections", str(args.inspections), "--hand-typed-share", str(HAND_TYPED_SHARE),
           "--bad-records", str(BAD_RECORDS), "--credit-events", str(CREDIT_EVENTS),
           "--hlwjg-url", exchange_url, "--collector-interval", str(COLLECTOR_INTERVAL_S),
           "--faults", json.dumps(faults_on(args.seed, json.loads(args.faults)))]  # fmt: skip
    for name, port in ports.items():
        cmd += [f"--{name}-port", str(port)]
    if args.penalties is not None:
        cmd += ["--penalties", str(args.penalties)]
    log = (state / "simulators.log").open("ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    sims = Sims(proc, {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}, exchange_url)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the simulators exited: see {state / 'simulators.log'}")
        try:
            httpx.get(sims.urls["hlwjg"] + "/_sim/hlwjg/stats", timeout=2).raise_for_status()
            return all(
                httpx.get(sims.urls[n] + "/_sim/faults", timeout=2).is_success for n in ports if n != "hlwjg"
            )
        except httpx.HTTPError:
            return False

    wait_for(up, 120, "the simulators to listen", every=0.2)
    return sims


def write_config(state: Path, sims: Sims, year: int) -> Path:
    """All five flows as ``make demo`` configures them; short timeouts and back-off for a quick soak."""
    mappings = state / "mappings"
    shutil.copytree(ROOT / "mappings", mappings, ignore=shutil.ignore_patterns("*.md"), dirs_exist_ok=True)
    retry = {"attempts": 5, "initial_wait_s": 0.05, "max_wait_s": 1.0}
    http = {"retry": retry, "timeout_s": TIMEOUT_S}
    systems = {
        "district": {"type": "district", "base_url": sims.urls["district"], "username": district.DISTRICT_USER,
                     "password": {"env": "ZS_DISTRICT_PASSWORD"}, **http},
        "municipal": {"type": "municipal", "base_url": sims.urls["municipal"], "app_key": municipal.MUNICIPAL_APP_KEY,
                      "app_secret": {"env": "ZS_MUNICIPAL_SECRET"}, "region_code": REGION_CODE, "concurrency": 8,
                      **http},
        # small batches and a client-side pace above the platform's 5 calls/s: more calls, some of
        # them 429, so the credit platform's faults get their chance
        "credit": {"type": "credit", "base_url": sims.urls["credit"], "app_key": credit.APP_ID,
                   "app_secret": {"env": "ZS_CREDIT_SECRET"}, "batch_size": 5, "rate_limit_per_s": 8, **http},
        "hlwjg": {"type": "hlwjg", "url": {"env": "ZS_HLWJG_URL"}},
    }  # fmt: skip
    start = f"{year}-01-01 00:00:00"
    flows = [
        ("district-inspections", "district", "inspection", ["municipal", "hlwjg"]),
        ("district-penalties", "district", "penalty", ["municipal", "credit", "hlwjg"]),
        ("city-inspections", "municipal", "inspection", ["district"]),
        ("city-penalties", "municipal", "penalty", ["district"]),
        ("credit-events", "credit", "credit_event", ["district"]),
    ]
    pipelines = [
        {
            "name": n,
            "source": s,
            "kind": k,
            "targets": t,
            "start": start,
            # pages of 250 from the district: big enough that municipal is pushed from a push process
            # (sync/push_process.py), which the kills then hit too
            "batch_size": 250 if s == "district" else 100,
            "clock_margin_s": 0,
        }  # the simulators share one clock
        for n, s, k, t in flows
    ]
    config = {
        "database": {"url": f"sqlite:///{state / 'ledger.db'}"},
        "mappings_dir": str(mappings),
        "holidays_file": str(mappings / "holidays.csv"),
        "systems": systems,
        "pipelines": pipelines,
    }
    path = state / "zhifa-sync.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# -- the ledger, read directly ----------------------------------------------------------------------
def ledger_count(state: Path, sql: str) -> int:
    path = state / "ledger.db"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


PROGRESS = "select count(*) from deliveries"
TO_RETRY = "select count(*) from failures where state in ('open', 'retry') and error_kind = 'transient'"
AWAITING_FEEDBACK = "select count(*) from deliveries where target = 'hlwjg' and state = 'sent'"


# -- what must be where -------------------------------------------------------------------------------
_MUNI_ITEM = {i.code: i.municipal_code for i in ITEMS}


@dataclass
class Expected:
    """One target's expectation: ids that must be there live, ids that must be there withdrawn, and
    ids that may be absent or withdrawn (a record never sent and already void is not written at all)."""

    live: set[str] = field(default_factory=set)
    withdrawn: set[str] = field(default_factory=set)
    absent_or_withdrawn: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return len(self.live) + len(self.withdrawn)


def expectations(data: datagen.Dataset, city_ids: dict[str, list[str]]) -> dict[str, Expected]:
    """From the data set and the documented rules alone (domain.md): drafts and filed cases go nowhere,
    nor do invalid records; summary-procedure penalties not to credit; void/revoked as withdrawals
    (the 前置库 never gets a record that was void before its first write); district copies of city
    records are not sent on; city records reach the district unless they are the twin of a district
    record (linked instead) or of another region."""
    bad = set(data.bad_ids)
    insp = [r for r in data.inspections if r["status"] != "draft" and r["id"] not in bad]
    pens = [r for r in data.penalties if r["status"] != "filed" and r["id"] not in bad]
    out = {name: Expected() for name in ("municipal/jcjl", "municipal/xzcf", "credit", "hlwjg/check",
                                          "hlwjg/punish", "district/inspections", "district/penalties")}  # fmt: skip
    for r in insp:
        void = r["status"] == "void"
        (out["municipal/jcjl"].withdrawn if void else out["municipal/jcjl"].live).add(r["id"])
        (out["hlwjg/check"].absent_or_withdrawn if void else out["hlwjg/check"].live).add(r["id"])
    for r in pens:
        revoked = r["status"] == "revoked"
        (out["municipal/xzcf"].withdrawn if revoked else out["municipal/xzcf"].live).add(r["id"])
        (out["hlwjg/punish"].absent_or_withdrawn if revoked else out["hlwjg/punish"].live).add(r["id"])
        if r["procedure"] == "general":
            (out["credit"].withdrawn if revoked else out["credit"].live).add(r["id"])
    twins = {(t.kind, t.city_index) for t in data.twins}
    for n, rec in enumerate(data.city_inspections):
        if ("inspection", n) not in twins and rec["xzqhdm"] == REGION_CODE:
            out["district/inspections"].live.add(city_ids["jcjl"][n])
    for n, rec in enumerate(data.city_penalties):
        if ("penalty", n) not in twins and rec["xzqhdm"] == REGION_CODE:
            out["district/penalties"].live.add(city_ids["xzcf"][n])
    return out


def city_record_ids(data: datagen.Dataset) -> dict[str, list[str]]:
    """The ids the municipal system gives the city's records when it loads the data set (in order)."""
    state = municipal.MunicipalState()
    return {
        "jcjl": [state.add_hand_typed("jcjl", r) for r in data.city_inspections],
        "xzcf": [state.add_hand_typed("xzcf", r) for r in data.city_penalties],
    }


def known_usccs(data: datagen.Dataset) -> set[str]:
    """The district platform's 企业库: its enterprises and every party of its records."""
    out = {e["uscc"] for e in data.enterprises}
    for r in (*data.inspections, *data.penalties):
        holder = r.get("enterprise") or r.get("party") or {}
        if holder.get("uscc"):
            out.add(holder["uscc"])
    return out


# -- counting what is there ---------------------------------------------------------------------------
@dataclass
class Row:
    target: str
    key: str
    expected: int
    present: int
    missing: int
    duplicated: int
    unexpected: int
    wrong_state: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.wrong_state)


def compare(target: str, key: str, exp: Expected, present: dict[str, list[bool]], dups: int = 0) -> Row:
    """``present``: id → one "withdrawn?" flag per copy held by the target."""
    wanted = exp.live | exp.withdrawn
    copies = sum(max(0, len(v) - 1) for v in present.values())
    wrong = sum(1 for i in exp.live if i in present and any(present[i]))
    wrong += sum(1 for i in exp.withdrawn if i in present and not all(present[i]))
    wrong += sum(1 for i in exp.absent_or_withdrawn if i in present and not all(present[i]))
    return Row(
        target=target,
        key=key,
        expected=len(wanted),
        present=len(wanted & present.keys()),
        missing=len(wanted - present.keys()),
        duplicated=max(copies, dups),
        unexpected=len(present.keys() - wanted - exp.absent_or_withdrawn),
        wrong_state=wrong,
    )


def key_surplus(present_keys: Iterable[Any], expected_keys: Iterable[Any]) -> int:
    """Records beyond what the natural keys allow: the same decision typed in twice."""
    have, want = Counter(present_keys), Counter(expected_keys)
    return sum(max(0, n - want[k]) for k, n in have.items())


def count_targets(sims: Sims, data: datagen.Dataset, exp: dict[str, Expected]) -> list[Row]:
    bad = set(data.bad_ids)
    twin_of = {(t.kind, t.city_index): t.district_id for t in data.twins}
    rows = []
    # municipal: ours by wbxtbh; beyond that, no natural key more often than the data set has it
    synced = {r["id"] for r in (*data.inspections, *data.penalties)} - bad
    for kind, city_kind, label in (("inspection", "jcjl", "检查"), ("penalty", "xzcf", "处罚")):
        recs = sims.get("municipal", f"/_sim/records/{city_kind}")
        ours: dict[str, list[bool]] = {}
        for r in recs:
            if r.get("wbxtly") == municipal.WBXTLY:
                ours.setdefault(r["wbxtbh"], []).append(r.get("jlzt" if kind == "inspection" else "ajzt") in ("ZF", "YCX"))  # fmt: skip
        e = exp[f"municipal/{city_kind}"]
        wanted = e.live | e.withdrawn
        if kind == "inspection":
            have = [(r["tyshxydm"], r["jcsxbm"], (r["jckssj"] or "")[:8]) for r in recs]
            want = [(r["enterprise"]["uscc"], _MUNI_ITEM[r["item_code"]], r["started_at"][:10].replace("-", ""))
                    for r in data.inspections if r["id"] in wanted]  # fmt: skip
            city = data.city_inspections
            want += [(c["tyshxydm"], c["jcsxbm"], c["jckssj"][:8]) for n, c in enumerate(city)
                     if twin_of.get((kind, n)) not in synced]  # fmt: skip
        else:
            have = [normalise_wsh(r["cfjdswh"] or "") for r in recs]
            want = [normalise_wsh(r["decision_no"]) for r in data.penalties if r["id"] in wanted]
            want += [normalise_wsh(c["cfjdswh"]) for n, c in enumerate(data.city_penalties)
                     if twin_of.get((kind, n)) not in synced]  # fmt: skip
        rows.append(compare(f"municipal {label}", "wbxtbh; 自然键", e, ours, key_surplus(have, want)))
    # credit: by SJBS, and no decision number (normalised) twice
    records = sims.get("credit", "/_sim/records")["records"]
    by_sjbs: dict[str, list[bool]] = {}
    for r in records:
        by_sjbs.setdefault(r["SJBS"], []).append(r["status"] == "已撤销")
    wsh = Counter((normalise_wsh(r.get("CF_WSH") or ""), r.get("CF_CFJGDM")) for r in records)
    rows.append(
        compare("credit 双公示", "SJBS; CF_WSH", exp["credit"], by_sjbs, sum(n - 1 for n in wsh.values()))
    )
    # 前置库: rows the exchange platform accepted (national store), by CD_ID, with their feedback
    collector = hlwjg.Collector(hlwjg.open_exchange(sims.exchange_url))
    try:
        last_status = {(f["TABLE_NAME"], f["CD_ID"]): f["STATUS"] for f in collector.feedback()}
        for table, name, label in ((hlwjg.CHECK_ACTION, "check", "检查"), (hlwjg.PUNISH, "punish", "处罚")):
            accepted = collector.accepted(table, include_deleted=True)
            held = {cd: [bool(r["DELETED"])] for cd, r in accepted.items()}
            row = compare(f"hlwjg {label}", "CD_ID; 反馈", exp[f"hlwjg/{name}"], held)
            rejected = [cd for (t, cd), s in last_status.items() if t == table and s != "1"]
            row.wrong_state += len(rejected)  # the last verdict on a row we wrote must be "accepted"
            if table == hlwjg.PUNISH:
                codes = Counter(normalise_wsh(r.get("PUNISH_ACTION_CODE") or "") for r in accepted.values()
                                if not r["DELETED"])  # fmt: skip
                row.duplicated = max(row.duplicated, sum(n - 1 for n in codes.values()))
            rows.append(row)
    finally:
        collector.engine.dispose()
    # district: copies of city records by (origin, source_id); credit events by event_id
    for kind, label in (("inspections", "市→区 检查"), ("penalties", "市→区 处罚")):
        copies: dict[str, list[bool]] = {}
        for r in sims.get("district", f"/_sim/{kind}"):
            if r.get("origin", "district") != "district":
                key = r["source_id"] if r["origin"] == "municipal" else f"{r['origin']}:{r['source_id']}"
                copies.setdefault(key, []).append(r["status"] in ("void", "revoked"))
        rows.append(compare(f"district {label}", "(origin, source_id)", exp[f"district/{kind}"], copies))
    events = sims.get("district", "/_sim/credit-events")
    known = known_usccs(data)
    specs = credit.event_specs(data, CREDIT_EVENTS)
    want_events = Counter(
        (s["uscc"], s["type"].lower(), s["occurred_at"]) for s in specs if s["uscc"] in known
    )
    got = Counter((e["uscc"], e["kind"], _iso(e["occurred_at"])) for e in events)
    ids = Counter(e["event_id"] for e in events)
    rows.append(
        Row(
            target="district 信用事件",
            key="event_id",
            expected=sum(want_events.values()),
            present=sum(min(n, got[k]) for k, n in want_events.items()),
            missing=sum(max(0, n - got[k]) for k, n in want_events.items()),
            duplicated=max(
                sum(n - 1 for n in ids.values()), sum(max(0, got[k] - n) for k, n in want_events.items())
            ),
            unexpected=sum(n for k, n in got.items() if k not in want_events),
            wrong_state=0,
        )
    )
    return rows


def _iso(beijing: str) -> str:
    """``2025-12-10 10:00:00`` → ``2025-12-10T10:00:00+08:00`` (how the credit feed writes it)."""
    return beijing.replace(" ", "T") + "+08:00"


# -- the soak -----------------------------------------------------------------------------------------
@dataclass
class Soak:
    kills: int = 0
    finished_runs: int = 0
    push_processes: Counter[str] = field(default_factory=Counter)  # events of the daemons' push processes
    clean_runs: int = 0
    converged: bool = False
    paused_s: float = 0.0
    backlog_at_resume: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    killed_in: Counter[str] = field(default_factory=Counter)
    rows: list[Row] = field(default_factory=list)
    left: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.converged and all(r.ok for r in self.rows)


def _pending(sims: Sims) -> int:
    stats = sims.get("hlwjg", "/_sim/hlwjg/stats")
    return sum(t["pending"] for t in stats["tables"].values())


LATE_PIPELINES = ("district-penalties", "city-inspections", "city-penalties", "credit-events")
RUNNING = "select pipeline from runs where status = 'running' and id > {after} order by id desc limit 1"


def kill_marks(rng: random.Random, kills: int, exp: dict[str, Expected]) -> list[tuple[str, Any]]:
    """Where each kill lands: most at random points of the inspections' backfill (a number of ledger
    rows to wait for), the last third somewhere in the pipelines that run after it."""
    rows = sum(exp[k].total + len(exp[k].absent_or_withdrawn) for k in ("municipal/jcjl", "hlwjg/check"))
    late = kills // 3
    early = sorted(rng.uniform(0.02, 0.9) * rows for _ in range(kills - late))
    marks: list[tuple[str, Any]] = [("rows", n) for n in early]
    return marks + [("pipeline", LATE_PIPELINES[n % len(LATE_PIPELINES)]) for n in range(late)]


def _kill_phase(
    args: argparse.Namespace, state: Path, sims: Sims, config: Path, exp: dict[str, Expected], result: Soak
) -> None:
    """Start ``sync --once`` and SIGKILL it at the next mark, ``args.kills`` times; the 前置库 collector is
    paused from the second process until the last one that is killed."""
    rng = random.Random(args.seed)
    marks = kill_marks(rng, args.kills, exp)
    resume_at = max(2, args.kills)
    paused_since: float | None = None
    procs = 0
    while result.kills < args.kills and procs < 4 * args.kills:
        if procs == 1:
            sims.post("hlwjg", "/_sim/hlwjg/pause")
            paused_since = time.monotonic()
        if procs == resume_at and paused_since is not None:
            result.backlog_at_resume = _pending(sims)
            sims.post("hlwjg", "/_sim/hlwjg/resume")
            result.paused_s, paused_since = time.monotonic() - paused_since, None
        procs += 1
        after = ledger_count(state, "select coalesce(max(id), 0) from runs")
        proc = zhifa(config, "sync", "--once", log=state / "daemon.log")
        what, mark = marks[result.kills]
        deadline = time.monotonic() + 120

        while proc.poll() is None and not _reached(state, what, mark, after) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            try:  # from the page just committed, or the start of the pipeline, to wherever it is now
                proc.wait(rng.uniform(0.0, 1.5))
            except subprocess.TimeoutExpired:
                proc.kill()
                result.kills += 1
                started_any = ledger_count(state, f"select count(*) from runs where id > {after}")
                result.killed_in[
                    _running(state, after) or ("between pipelines" if started_any else "start-up")
                ] += 1
            proc.wait()
        if proc.returncode >= 0:
            result.finished_runs += 1
    if paused_since is not None:
        result.backlog_at_resume = _pending(sims)
        sims.post("hlwjg", "/_sim/hlwjg/resume")
        result.paused_s = time.monotonic() - paused_since


def _reached(state: Path, what: str, mark: Any, after: int) -> bool:
    if what == "rows":
        return ledger_count(state, PROGRESS) >= mark
    return _running(state, after) == mark


def _running(state: Path, after: int) -> str | None:
    """The pipeline the current process is running (its runs have ids above ``after``)."""
    path = state / "ledger.db"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            row = conn.execute(RUNNING.format(after=int(after))).fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def run(args: argparse.Namespace, state: Path, data: datagen.Dataset) -> Soak:
    """Faults on, kills, one run to the end under faults; faults off, runs until clean; count."""
    result = Soak()
    exp = expectations(data, city_record_ids(data))
    os.environ.update(SECRETS)
    started = time.monotonic()
    sims = start_simulators(state, args)
    os.environ["ZS_HLWJG_URL"] = sims.exchange_url
    try:
        config = write_config(state, sims, data.year)
        log = state / "daemon.log"
        result.timings["start"] = time.monotonic() - started
        _kill_phase(args, state, sims, config, exp, result)
        proc = zhifa(config, "sync", "--once", log=log)  # the rest of the backfill, still under faults
        try:
            proc.wait(900)
            result.finished_runs += 1
        except subprocess.TimeoutExpired:  # the clean runs below carry on from where it was
            proc.kill()
            proc.wait()
        result.timings["faults"] = time.monotonic() - started - result.timings["start"]
        for system in ("district", "municipal"):
            stats = sims.get(system, "/_sim/stats")
            result.faults[system], result.calls[system] = stats["faults"], sum(stats["calls"].values())
        result.faults["credit"] = sims.get("credit", "/_sim/stats")
        result.calls["credit"] = result.faults["credit"].get("calls", 0)

        sims.set_faults(FAULTS_OFF)
        phase = time.monotonic()
        for _ in range(args.max_clean_runs):
            rc = zhifa(config, "sync", "--once", log=log).wait(900)
            result.clean_runs += 1
            wait_for(lambda: _pending(sims) == 0, 60, "the 前置库 collector to catch up", every=0.2)
            result.left = {
                "to_retry": ledger_count(state, TO_RETRY),
                "awaiting_feedback": ledger_count(state, AWAITING_FEEDBACK),
            }
            if rc == 0 and not any(result.left.values()):
                result.converged = True
                break
        result.timings["clean"] = time.monotonic() - phase
        phase = time.monotonic()
        result.rows = count_targets(sims, data, exp)
        result.timings["count"] = time.monotonic() - phase
        for line in log.read_text(encoding="utf-8").splitlines():
            if '"push_process_' in line:
                with contextlib.suppress(ValueError):
                    result.push_processes[json.loads(line).get("event", "?")] += 1
    finally:
        sims.stop()
    result.timings["total"] = time.monotonic() - started
    return result


# -- the report -----------------------------------------------------------------------------------------
def report(args: argparse.Namespace, data: datagen.Dataset, soak: Soak) -> str:
    f = soak.faults
    spec = faults_on(args.seed, json.loads(args.faults))
    knobs = "; ".join(
        f"{system} " + ", ".join(f"{k}={v}" for k, v in sorted(ks.items()) if k != "seed")
        for system, ks in spec.items()
    )
    d, m, c = f.get("district", {}), f.get("municipal", {}), f.get("credit", {})
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"data: {len(data.inspections):,} inspections, {len(data.penalties):,} penalties, "
        f"{len(data.city_inspections)}+{len(data.city_penalties)} city records ({len(data.twins)} hand-typed twins), "
        f"{len(data.bad_ids)} invalid, {CREDIT_EVENTS} credit events; seed {args.seed}",
        f"faults: {knobs}; the daemon's HTTP timeout {TIMEOUT_S:g} s",
        f"daemon: {soak.kills} SIGKILLs ({', '.join(f'{n} in {p}' for p, n in soak.killed_in.items())}), {soak.finished_runs} runs finished under faults, "
        f"{soak.clean_runs} runs after the faults were switched off ({'converged' if soak.converged else 'NOT converged: ' + json.dumps(soak.left)})",
        f"push processes (municipal, pages of 250): {soak.push_processes['push_process_started']} started, "
        f"{soak.push_processes['push_process_ready']} ready, {soak.push_processes['push_process_lost']} lost",
        "",
        "| faults injected | 5xx / 503 | timeouts (held > client timeout) | dropped after store | rate limited "
        "| token expired (401) | signature rejected (401) | E5000 系统繁忙 | calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| district | {d.get('5xx', 0)} | {d.get('slow', 0)} | {d.get('drop', 0)} | {d.get('429', 0)} | "
        f"{d.get('401', 0)} | – | – | {soak.calls.get('district', 0):,} |",
        f"| municipal | {m.get('5xx', 0)} | {m.get('slow', 0)} | {m.get('drop', 0)} | {m.get('E4290', 0)} | – | – "
        f"| {m.get('E5000', 0)} | {soak.calls.get('municipal', 0):,} |",
        f"| credit | {c.get('errors_injected', 0)} | {c.get('slow_injected', 0)} | {c.get('dropped_after_store', 0)} "
        f"| {c.get('rate_limited', 0)} | – | {c.get('signature_rejected_injected', 0)} | – | {soak.calls.get('credit', 0):,} |",
        f"| hlwjg 前置库 | collector paused {soak.paused_s:.0f} s, {soak.backlog_at_resume:,} rows waiting at resume "
        "| | | | | | | |",
        "",
        "| target | counted by | expected | present | missing | duplicated | unexpected | wrong state |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in soak.rows:
        lines.append(
            f"| {r.target} | {r.key} | {r.expected:,} | {r.present:,} | {r.missing} | {r.duplicated} "
            f"| {r.unexpected} | {r.wrong_state} |"
        )
    t = soak.timings
    lines += [
        "",
        f"time: {t.get('total', 0):.0f} s — start {t.get('start', 0):.1f} s, faults and kills {t.get('faults', 0):.0f} s, "
        f"clean runs {t.get('clean', 0):.0f} s, counting {t.get('count', 0):.1f} s",
        f"verdict: {'PASS — every record on every target exactly once' if soak.ok else 'FAIL'}",
    ]
    return "\n".join(lines)


def dataset(args: argparse.Namespace) -> datagen.Dataset:
    """The data set the simulators serve (``python -m simulators serve`` is given the same arguments)."""
    return datagen.generate(seed=args.seed, inspections=args.inspections, penalties=args.penalties,
                            hand_typed_share=HAND_TYPED_SHARE, bad_records=BAD_RECORDS)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0] if __doc__ else None
    )
    ap.add_argument("--inspections", type=int, default=3000, help="district inspections (14000: a full year)")
    ap.add_argument("--penalties", type=int, default=None, help="default: one per 30 inspections")
    ap.add_argument("--kills", type=int, default=8, help="SIGKILLs of the daemon during the backfill")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--max-clean-runs", type=int, default=6, help="runs without faults before giving up")
    ap.add_argument("--state-dir", default=None, help="keep simulators' files, ledger and logs here")
    ap.add_argument(
        "--faults",
        default="{}",
        help='knobs merged over the defaults, e.g. \'{"district": {"error_rate": 0.3}}\'',
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    state = Path(args.state_dir) if args.state_dir else Path(tempfile.mkdtemp(prefix="zhifa-soak-"))
    state.mkdir(parents=True, exist_ok=True)
    data = dataset(args)
    soak = run(args, state, data)
    print(report(args, data, soak))
    if soak.ok and not args.state_dir:
        shutil.rmtree(state, ignore_errors=True)
    else:
        print(f"state kept in {state} (daemon.log, simulators.log, ledger.db, qianzhiku.db)")
    return 0 if soak.ok else 1


if __name__ == "__main__":
    sys.exit(main())
