"""Prometheus metrics, in one registry the console serves on ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

RECORDS = Counter(
    "zhifa_records_total",
    "Records handled, by pipeline, target and outcome",
    ["pipeline", "target", "outcome"],
    registry=REGISTRY,
)
FAILURES = Counter(
    "zhifa_failures_total",
    "Record failures, by pipeline, target and error kind",
    ["pipeline", "target", "error_kind"],
    registry=REGISTRY,
)
PUSH_SECONDS = Histogram(
    "zhifa_push_seconds",
    "Time to deliver one record to a target (all retries included)",
    ["target"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG_SECONDS = Gauge(
    "zhifa_pipeline_lag_seconds",
    "How far behind the source's newest change the pipeline is (sync.lag; 0 = caught up)",
    ["pipeline"],
    registry=REGISTRY,
)
CLOCK_SKEW = Counter(
    "zhifa_clock_skew_total",
    "Records read whose updated_at shows the source's clock stepped back, by pipeline and reason",
    ["pipeline", "reason"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "zhifa_pipeline_last_success_timestamp_seconds",
    "Unix time of the last run that finished without error",
    ["pipeline"],
    registry=REGISTRY,
)
OPEN_FAILURES = Gauge(
    "zhifa_open_failures",
    "Unresolved failures, by target and error kind",
    ["target", "error_kind"],
    registry=REGISTRY,
)
RECONCILE_FINDINGS = Gauge(
    "zhifa_reconcile_findings",
    "What the last reconciliation of a pipeline found, by target and kind (missing, stale, extra, diverged)",
    ["pipeline", "target", "kind"],
    registry=REGISTRY,
)
RECONCILE_REPAIRED = Counter(
    "zhifa_reconcile_repaired_total",
    "Records re-pushed by reconciliation (--repair), by pipeline and target",
    ["pipeline", "target"],
    registry=REGISTRY,
)
CIRCUIT_OPEN = Gauge(
    "zhifa_circuit_open",
    "1 while a system's circuit breaker holds calls back (it failed too often in a row), else 0",
    ["system"],
    registry=REGISTRY,
)
PIPELINE_STUCK = Gauge(
    "zhifa_pipeline_stuck",
    "1 while a run of the pipeline, given up as stuck (no progress for stuck_after_s), is still hanging, else 0",
    ["pipeline"],
    registry=REGISTRY,
)
