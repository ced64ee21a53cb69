"""Every HTTP call has an overall deadline and a size cap, and a peer that keeps failing trips a
circuit breaker: real sockets, through the hostile proxy (``tests/support/hostile.py``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.breaker import CircuitOpen, CircuitState
from connectors.contract.config import CircuitConfig, RetryConfig
from connectors.contract.errors import RetriableError
from connectors.contract.health import HealthState
from connectors.rest import CallLimits, RestClient
from tests.support.hostile import Hostile, Mode

BODY = json.dumps({"code": 0, "data": [{"id": i, "name": "天津测试有限公司"} for i in range(20)]}).encode()


class _Json(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def peer() -> Iterator[Hostile]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = Hostile(f"http://127.0.0.1:{server.server_address[1]}", drip_s=0.2, inflate_bytes=8 << 20)
    yield proxy
    proxy.close()
    server.shutdown()


@pytest.fixture(autouse=True)
def _clean(peer: Hostile) -> None:
    peer.clear()
    peer.calls.clear()


def client(peer: Hostile, *, deadline_s: float = 1.0, cap: int = 1 << 20, failures: int = 3) -> RestClient:
    return RestClient(
        "市系统",
        peer.url,
        timeout_s=5,
        concurrency=1,
        rate_limit_per_s=0,
        retry=RetryConfig(attempts=1),
        limits=CallLimits(deadline_s, cap, CircuitConfig(failures=failures, cool_down_s=0.5)),
    )


def get(c: RestClient, path: str = "/api/list") -> Any:
    return c.call(lambda: c.send("GET", path).json())


def test_a_normal_answer_passes(peer: Hostile) -> None:
    assert get(client(peer))["data"][0]["name"] == "天津测试有限公司"


@pytest.mark.parametrize("mode", [Mode.DRIP, Mode.STALL])
def test_a_drip_or_a_stall_ends_at_the_overall_deadline(peer: Hostile, mode: Mode) -> None:
    # drip: one byte per 0.2 s, each read well inside the 5 s read timeout: without an overall
    # deadline this call takes ~2 minutes; stall: 5 s (the read timeout)
    peer.set("/api", mode)
    started = time.monotonic()
    with pytest.raises(RetriableError, match=r"市系统 响应超过总时限 1 秒") as got:
        get(client(peer, deadline_s=1.0))
    assert time.monotonic() - started < 2.0
    assert got.value.code == "deadline"


def test_a_huge_answer_is_refused_at_the_cap_without_reading_it_all(peer: Hostile) -> None:
    peer.set("/api", Mode.INFLATE)  # 8 MB against a 1 MB cap
    with pytest.raises(RetriableError, match=r"市系统 响应超过大小上限 1 MB") as got:
        get(client(peer, cap=1 << 20))
    assert got.value.code == "too_big"


def test_truncated_and_garbled_answers_are_transient_failures(peer: Hostile) -> None:
    c = client(peer)
    peer.set("/api", Mode.TRUNCATE)
    with pytest.raises(RetriableError, match="连接失败或被中断"):
        get(c)


def test_the_breaker_opens_after_n_failures_probes_after_the_cool_down_and_closes(peer: Hostile) -> None:
    c = client(peer, deadline_s=0.3, failures=3)
    peer.set("/api", Mode.STALL)
    for _ in range(3):
        with pytest.raises(RetriableError, match="总时限"):
            get(c)
    assert c.breaker.state is CircuitState.OPEN and c.health.report().state is HealthState.CIRCUIT_OPEN
    started = time.monotonic()
    for _ in range(50):  # fail fast: no call reaches the dead peer
        with pytest.raises(CircuitOpen, match="市系统 已熔断: 连续 3 次调用失败"):
            get(c)
    assert time.monotonic() - started < 0.5
    assert peer.calls["/api"] == 3
    time.sleep(0.6)  # cool-down over: one probe, which fails → open again
    with pytest.raises(RetriableError, match="总时限"):
        get(c)
    with pytest.raises(CircuitOpen):
        get(c)
    assert peer.calls["/api"] == 4
    peer.clear()
    time.sleep(0.6)  # the peer is back: the probe succeeds and the breaker closes
    assert get(c)["code"] == 0
    assert str(c.breaker.state) == CircuitState.CLOSED and c.health.report().state is HealthState.DEGRADED


def test_a_hanging_statement_on_the_exchange_database_ends_at_its_timeout(pg_schema_url: str) -> None:
    import sqlalchemy as sa

    from connectors.contract.config import SecretRef
    from connectors.hlwjg import connect_args
    from connectors.hlwjg.config import HlwjgConfig

    cfg = HlwjgConfig(type="hlwjg", url=SecretRef(env="X"), statement_timeout_s=1)
    url = sa.make_url(pg_schema_url)
    engine = sa.create_engine(url, connect_args=connect_args(url, cfg))
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("show search_path")).startswith("t_")  # the URL's options kept
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                conn.execute(sa.text("select pg_sleep(10)"))
    finally:
        engine.dispose()
    assert time.monotonic() - started < 5
