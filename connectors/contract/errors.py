"""Every error zhifa-sync raises, sorted by what happens next.

- ``RetriableError``: a blip (network, timeout, 5xx, 429, 系统繁忙, rate limit) — retry with back-off,
  and if it keeps failing, log a failure that later runs retry on their own.
- ``FatalConnectorError``: the call cannot work as configured (wrong credentials) — stop the run.
- ``RecordInvalid``: one record is bad — fail that record for every target, go on with the others.
- ``MappingMissing``: a code has no row in a mapping table — park the record until the table is fixed.
- ``TargetRejected``: the target refused the record (its own validation) — a failure for that target.
- ``ConflictError``: the target holds something that needs a person to decide.
"""

from __future__ import annotations

from dataclasses import dataclass


class ZhifaError(Exception):
    """Root of all zhifa-sync errors."""

    kind = "internal"


class ConfigError(ZhifaError):
    """The configuration is unusable; ``errors`` lists every problem with its path."""

    kind = "config"

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("配置文件有误:\n" + "\n".join(f"  {e}" for e in errors))


class ConnectorError(ZhifaError):
    """An error talking to an external system."""

    def __init__(
        self, message: str, *, system: str = "", code: str | None = None, response: str | None = None
    ):
        self.system = system
        self.code = code
        self.response = response
        super().__init__(message)


class RetriableError(ConnectorError):
    """A transient failure: retrying later may succeed."""

    kind = "transient"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        system: str = "",
        code: str | None = None,
        response: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, system=system, code=code, response=response)


class BadResponse(RetriableError):
    """The system answered with something that is not its documented format (an HTML page, garbage)."""


class FatalConnectorError(ConnectorError):
    """The system cannot be used as configured (wrong credentials, unknown app)."""

    kind = "auth"


class TargetRejected(ConnectorError):
    """The target validated the record and refused it."""

    kind = "rejected"


class ConflictError(ConnectorError):
    """The target holds a record that conflicts with ours; a person has to decide."""

    kind = "conflict"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RecordInvalid(ZhifaError):
    """A source record fails validation of the canonical model."""

    kind = "validation"

    def __init__(self, record_id: str, errors: list[FieldError]) -> None:
        self.record_id = record_id
        self.errors = errors
        super().__init__(f"记录 {record_id} 数据不合规: " + "; ".join(str(e) for e in errors))


class MappingMissing(ZhifaError):
    """A code has no mapping; names the table, the key and what to do."""

    kind = "mapping"

    def __init__(
        self, table: str, key: str, column: str, what: str = "", *, row_missing: bool = False
    ) -> None:
        self.table = table
        self.key = key
        self.column = column
        label = f"{what} " if what else ""
        if row_missing:
            text = f"映射表 {table} 中没有{label}{key} 这一行 (需要列 {column}): 请在 mappings/{table} 中补充该行"
        else:
            text = f"映射表 {table} 中{label}{key} 的 {column} 列为空: 请在 mappings/{table} 中填写"
        super().__init__(text)


class CatalogueMismatch(MappingMissing):
    """A mapped code the target's catalogue does not hold (or no longer: an officer past VALID_TO).

    Parked like a missing mapping: the fix is in the mapping table, or on the target's side; the
    record is replayed when the tables change."""

    def __init__(self, table: str, key: str, column: str, message: str) -> None:
        self.table, self.key, self.column = table, key, column
        ZhifaError.__init__(self, message)
