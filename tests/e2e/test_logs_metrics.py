"""Observability of a real sync: JSON log lines without secrets or unmasked 身份证号, and Prometheus series."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stderr
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.contract.validators import mask_id, uscc_problem
from console.app import create_app
from simulators import district, municipal
from simulators.server import serving
from tests.support.stack import Stack, make_stack
from zhifa_sync.cli import main as cli

ID_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


@dataclass
class Ran:
    stack: Stack
    lines: list[str]
    person_ids: set[str]
    broken_id: str


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """One full sync with JSON logs captured: natural-person penalties, one with a bad 身份证 check digit."""
    with (
        pytest.MonkeyPatch.context() as mp,
        make_stack(
            tmp_path_factory.mktemp("obs"), mp, inspections=150, penalties=40, seed=3, bad_records=1
        ) as stack,
    ):
        people = [p for p in stack.district.records("penalties") if (p.get("party") or {}).get("id_no")]
        assert len(people) >= 5, "the data set has too few natural-person penalties to prove anything"
        victim = next(p for p in people if p["party"].get("id_type") == "SFZ" and p["status"] == "decided")
        good = victim["party"]["id_no"]
        broken = good[:-1] + ("0" if good[-1] != "0" else "1")  # wrong check character: a validation failure
        stack.district.update("penalties", victim["id"], party={**victim["party"], "id_no": broken})
        stack.municipal.faults.update(error_rate=0.05, seed=2)  # failed attempts log the target's answers
        err = io.StringIO()
        with redirect_stderr(err):
            rc = cli(["-c", str(stack.config_path), "--log-format", "json", "sync", "--once"])
        assert rc == 1  # the broken records failed
        ids = {p["party"]["id_no"] for p in people} | {broken}
        yield Ran(stack, err.getvalue().splitlines(), ids, broken)


def test_every_log_line_is_json_and_carries_its_context(ran: Ran) -> None:
    """JSON lines only; each with event, level and timestamp; records' lines with pipeline and target system."""
    events = [json.loads(line) for line in ran.lines]  # raises on any non-JSON line
    assert len(events) > 10
    assert all({"event", "level", "timestamp"} <= set(e) for e in events)
    for e in events:
        if (
            "record_id" in e
        ):  # a record's line names its pipeline, and the target unless it failed at the source
            assert e.get("pipeline") and (e.get("system") or e["event"] == "record_invalid"), e
    finished = [e for e in events if e["event"] == "run_finished"]
    assert {e["pipeline"] for e in finished} == {"district-inspections", "district-penalties"}
    assert all(e.get("run_id") for e in finished)


def test_every_run_line_carries_the_run_id(ran: Ran) -> None:
    """Every line logged for a pipeline also names its run."""
    events = [json.loads(line) for line in ran.lines]
    assert all(e.get("run_id") for e in events if e.get("pipeline")), [
        e for e in events if not e.get("run_id")
    ][:3]


def test_no_secret_and_no_unmasked_id_number_in_any_line(ran: Ran) -> None:
    """Neither a configured password/app secret nor an unmasked 身份证号 reaches a log line."""
    text = "\n".join(ran.lines)
    for secret in (district.DISTRICT_PASSWORD, municipal.MUNICIPAL_APP_SECRET):
        assert secret not in text
    for number in ran.person_ids:
        assert number not in text and number.upper() not in text
    unmasked = [m for m in ID_LIKE.findall(text) if uscc_problem(m.upper()) is not None]
    assert unmasked == []
    assert mask_id(ran.broken_id) in text  # the failure was logged, masked


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_metrics_show_records_failures_lag_latency_and_last_success(ran: Ran) -> None:
    """/metrics after the run: the series operators alert on, with non-zero values for our pipelines."""
    app = ran.stack.app()
    try:
        with serving(create_app(app.ledger, app.settings)) as console:
            r = httpx.get(f"{console.url}/metrics", timeout=10)
    finally:
        app.close()
    assert r.status_code == 200
    s = _samples(r.text)

    def value(name: str, **labels: str) -> float:
        return sum(v for lab, v in s.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))

    for pipeline in ("district-inspections", "district-penalties"):
        assert value("zhifa_records_total", pipeline=pipeline, target="municipal", outcome="created") > 0
        # caught up: behind the source by the configured safety lag at most (plus the run's own time)
        lags = [v for lab, v in s["zhifa_pipeline_lag_seconds"] if lab.get("pipeline") == pipeline]
        assert len(lags) == 1 and 0 <= lags[0] < 120
        assert value("zhifa_pipeline_last_success_timestamp_seconds", pipeline=pipeline) > 0
    assert value("zhifa_failures_total", error_kind="validation") > 0
    assert value("zhifa_push_seconds_count", target="municipal") > 0
    assert value("zhifa_open_failures", error_kind="validation") > 0
