"""Pushing records one call at a time, and turning what happened into ledger outcomes.

The same code runs in the daemon's own threads and in a push process (``sync.push_process``): a
few workers take the jobs of a page from one queue; a target that refuses our credentials is not
called again for the rest of the page; every other error becomes the record's own failure.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from connectors.contract.errors import ConnectorError, FatalConnectorError, MappingMissing, RecordInvalid
from connectors.contract.roles import Push, Target
from connectors.contract.states import Stage
from sync import outcomes
from sync.outcomes import Outcome, Subject

log = structlog.get_logger("zhifa.pipeline")


@dataclass(frozen=True, slots=True)
class Job(Push):
    """A push planned by the engine: for which target, and the hash of the payload (what the ledger
    compares the next version with)."""

    target: str
    digest: str

    def subject(self, system: str, kind: str) -> Subject:
        return Subject(system, kind, self.record.id, self.target)


class Pusher:
    """Delivers the jobs of one source kind to one single-record target.

    ``observe`` receives the seconds of each push (the daemon's histogram, or a list a push process
    sends back); ``mapping_version`` is asked only when a record is parked."""

    def __init__(
        self,
        system: str,
        kind: str,
        name: str,
        target: Target,
        mapping_version: Callable[[], str],
        observe: Callable[[float], None],
        *,
        debug: bool = False,
    ) -> None:
        self.system, self.kind, self.name, self.target = system, kind, name, target
        self.mapping_version = mapping_version
        self.observe = observe
        self.debug = debug

    def push_each(self, todo: deque[Job], fatal: dict[str, FatalConnectorError]) -> list[Outcome]:
        """Take jobs from ``todo`` until it is empty (the workers of a page share it). After a
        ``FatalConnectorError`` (kept in ``fatal``) the rest fail with it without a call."""
        out: list[Outcome] = []
        while True:
            try:
                job = todo.popleft()  # atomic: the workers of a page share the queue
            except IndexError:
                return out
            refused = fatal.get(job.target)
            if refused is not None:  # the target refused us as a whole (credentials): don't hammer it
                out.append(self.failure(job, refused))
                continue
            try:
                out.append(self.push(job))
            except FatalConnectorError as exc:
                fatal.setdefault(job.target, exc)
                out.append(self.failure(job, exc))

    def push(self, job: Job) -> Outcome:
        started = time.monotonic()
        # No per-record bind_contextvars here: at ~50 µs a push it costs more than the push's own Python
        # work; the task runs in a copy of the run's context (pipeline, run_id), and lines about one
        # record name it (record_id=, system=).
        try:
            done = self.target.deliver(job)
        except FatalConnectorError:
            raise
        except (ConnectorError, MappingMissing, RecordInvalid) as exc:
            return self.failure(job, exc)
        except Exception as exc:  # a bug must not stop the other records
            log.exception("push_crashed", record_id=job.record.id, system=job.target)
            return self.failure(job, exc)
        finally:
            self.observe(time.monotonic() - started)
        if self.debug:  # resolving the lazy logger for a line nobody reads costs ~5 µs a record
            log.debug(
                "pushed",
                record_id=job.record.id,
                system=job.target,
                action=done.action,
                target_id=done.target_id,
            )
        return outcomes.delivered(job.subject(self.system, self.kind), job.digest, done, job.payload)

    def failure(self, job: Job, exc: Exception) -> Outcome:
        return outcomes.failed(
            job.subject(self.system, self.kind),
            job.record,
            Stage.PUSH,
            exc,
            self.mapping_version,
            job.payload,
        )
