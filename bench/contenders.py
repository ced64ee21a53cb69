"""The loops zhifa-sync is measured against: the ceiling for the job, a script's loop, and dlt.

Each pages the district simulator and posts every record to the municipal simulator, translating
codes with plain dict look-ups from the mapping tables: no validation, ledger or retries.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.backfill import PAGE, START
from connectors.rest import HttpSession
from simulators import daemon_config, district, municipal
from simulators.harness import Simulators

SAVE = "/openapi/jcjl/save"


@dataclass(frozen=True, slots=True)
class Loop:
    """What a loop did: wall seconds and records posted."""

    secs: float
    n: int


def _table(name: str) -> dict[str, dict[str, str]]:
    with (daemon_config.REPO_MAPPINGS / f"{name}.csv").open(encoding="utf-8-sig") as fh:
        return {row[next(iter(row))]: row for row in csv.DictReader(fh)}


def _compact(when: Any) -> str:
    """``2025-03-01 09:30:00`` → ``20250301093000``, the city's time format."""
    return str(when).replace("-", "").replace(":", "").replace(" ", "")[:14]


class Poster:
    """Translate a district inspection with plain dict look-ups and post it to the municipal simulator
    (``httpx.Client.post``, as a script would). ``lean``: post straight through the pooled transport,
    the way zhifa-sync's connectors do (``connectors.rest.HttpSession``) — the ceiling for that path."""

    def __init__(self, sims: Simulators, concurrency: int, *, lean: bool = False) -> None:
        self.items, self.types = _table("items"), _table("inspection_types")
        self.results, self.officers, self.depts = (
            _table("inspection_results"),
            _table("officers"),
            _table("departments"),
        )
        url = sims.urls["municipal"]
        self.client = httpx.Client(
            base_url=url, timeout=30, limits=httpx.Limits(max_connections=concurrency + 2)
        )
        self.session = (
            HttpSession("municipal", url, timeout_s=30, max_connections=concurrency + 2) if lean else None
        )

    def body(self, r: dict[str, Any]) -> dict[str, Any]:
        """The city's ``jcjl`` fields for a district inspection."""
        e = r["enterprise"]
        if isinstance(e, str):  # dlt hands nested objects over as JSON text
            e = json.loads(e)
        officers = r["officers"] if isinstance(r["officers"], list) else json.loads(r["officers"])
        result = self.results[r["result"]]
        return {
            "wbxtly": municipal.WBXTLY,
            "wbxtbh": r["id"],
            "qymc": e["name"],
            "tyshxydm": e["uscc"],
            "qydz": e.get("address"),
            "xzqhdm": e["region_code"],
            "jcsxbm": self.items[r["item_code"]]["municipal_item_code"],
            "jclx": self.types[r["inspection_type"]]["municipal_code"],
            "jckssj": _compact(r["started_at"]),
            "jcjssj": _compact(r["ended_at"]),
            "zfry": ",".join(self.officers[u]["cert_no"] for u in officers),
            "jcjg": result["municipal_jcjg"],
            "sfla": result["municipal_sfla"],
            "yhsl": r["hazard_count"],
            "zdyhsl": r["major_hazard_count"],
            "wsbh": r.get("document_no"),
            "zfjgdm": self.depts[r["dept_code"]]["municipal_org_code"],
            "jlzt": "ZF" if r["status"] == "void" else "ZC",
        }

    def __call__(self, r: dict[str, Any]) -> None:
        ts = str(int(time.time() * 1000))
        key, secret = municipal.MUNICIPAL_APP_KEY, municipal.MUNICIPAL_APP_SECRET
        sign = hashlib.md5(f"{key}{secret}{ts}".encode()).hexdigest().upper()
        headers = {"appKey": key, "timestamp": ts, "sign": sign}
        if self.session is not None:
            self.session.request("POST", SAVE, json=self.body(r), headers=headers)
        else:
            self.client.post(SAVE, json=self.body(r), headers=headers)


def token(sims: Simulators) -> str:
    """A district bearer token."""
    d = httpx.post(
        sims.urls["district"] + "/api/auth/token",
        json={"username": district.DISTRICT_USER, "password": district.DISTRICT_PASSWORD},
    )
    return str(d.json()["data"]["access_token"])


def pages(sims: Simulators) -> Iterator[list[dict[str, Any]]]:
    """The district's inspections page by page (page numbers: nothing changes during a benchmark)."""
    d = httpx.Client(base_url=sims.urls["district"], timeout=30)
    headers = {"Authorization": f"Bearer {token(sims)}"}
    page = 1
    while True:
        params: dict[str, str | int] = {
            "start_time": START,
            "end_time": "2099-01-01 00:00:00",
            "page": page,
            "page_size": PAGE,
        }
        data = d.get("/api/v1/inspections", params=params, headers=headers).json()["data"]
        yield [r for r in data["items"] if r["status"] != "draft"]
        if page * PAGE >= data["total"]:
            return
        page += 1


def script_loop(sims: Simulators, concurrency: int) -> Loop:
    """A script's loop: fetch a page, post its records with a thread pool (``httpx.Client``), next page."""
    post = Poster(sims, concurrency)
    started = time.monotonic()
    n = 0
    with ThreadPoolExecutor(concurrency) as pool:
        for rows in pages(sims):
            list(pool.map(post, rows))
            n += len(rows)
    return Loop(time.monotonic() - started, n)


def ceiling_loop(sims: Simulators, concurrency: int) -> Loop:
    """The ceiling: pages fetched by one thread while ``concurrency`` workers post from a shared queue
    straight through a pooled transport — no wait between pages, no future per record, no ledger,
    validation, mapping files or retries."""
    post = Poster(sims, concurrency, lean=True)
    todo: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
    done = [0] * concurrency

    def worker(i: int) -> None:
        while (r := todo.get()) is not None:
            post(r)
            done[i] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for w in workers:
        w.start()
    for rows in pages(sims):
        for r in rows:
            todo.put(r)
    for _ in workers:
        todo.put(None)
    for w in workers:
        w.join()
    return Loop(time.monotonic() - started, sum(done))


def has_dlt() -> bool:
    """Whether dlt is installed (``pip install 'zhifa-sync[bench]'``), saying so when it is not."""
    try:
        import dlt  # noqa: F401
    except ImportError:
        print("dlt is not installed (pip install 'zhifa-sync[bench]'): skipping the dlt contender")
        return False
    return True


def dlt_peer(sims: Simulators, concurrency: int, workdir: Path) -> Loop:
    """The same job with dlt: its REST client (page-number paginator) and a custom destination posting
    each record, concurrently, to the municipal simulator."""
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt-data")
    os.environ["DLT_PROJECT_DIR"] = str(workdir)
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    import dlt
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    post = Poster(sims, concurrency)
    pool = ThreadPoolExecutor(concurrency)
    count = [0]
    paginator = PageNumberPaginator(
        base_page=1, page_param="page", total_path="data.total", maximum_page=None, stop_after_empty_page=True
    )
    client = RESTClient(
        base_url=sims.urls["district"],
        auth=BearerTokenAuth(token(sims)),
        paginator=paginator,
        data_selector="data.items",
    )

    def inspections() -> Iterator[list[dict[str, Any]]]:
        params = {"start_time": START, "end_time": "2099-01-01 00:00:00", "page_size": PAGE}
        for page in client.paginate("/api/v1/inspections", params=params):
            yield [r for r in page if r["status"] != "draft"]

    def to_municipal(items: Any, table: Any) -> None:  # a page of records; its table schema
        list(pool.map(post, items))
        count[0] += len(items)

    # called, not used as decorators: dlt's decorators are untyped
    resource = dlt.resource(inspections, name="inspections", write_disposition="append", max_table_nesting=0)
    destination = dlt.destination(
        to_municipal, name="municipal", batch_size=500, max_table_nesting=0, skip_dlt_columns_and_tables=True
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{os.getpid()}_{time.monotonic_ns()}",
        destination=destination,
        pipelines_dir=str(workdir / "pipelines"),
    )
    started = time.monotonic()
    pipeline.run(resource())
    elapsed = time.monotonic() - started
    pool.shutdown()
    return Loop(elapsed, count[0])
