"""The names of every state a record, a delivery, a failure or a run can be in, and the one table of the
Chinese words shown for them (CLI, console, report and audit all read ``label``).

Members are ``StrEnum``: they are the strings the ledger stores, so a value read back from the database
compares equal to its member, and ``label`` also takes a plain string (an old row, a value from a form).
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What happened to one record on one target in a run."""

    CREATED = "created"
    UPDATED = "updated"
    LINKED = "linked"  # adopted a record typed in by hand on the target
    WITHDRAWN = "withdrawn"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # the target does not take it (or nothing to take back)
    SENT = "sent"  # written, the target's verdict comes later (前置库 feedback)
    FAILED = "failed"
    PARKED = "parked"  # waits for a mapping table to change

    @property
    def failed(self) -> bool:
        return self in (Action.FAILED, Action.PARKED)

    @property
    def delivered(self) -> bool:
        """Reached the target (or was taken back there): the ledger records a delivery."""
        return self in (Action.CREATED, Action.UPDATED, Action.LINKED, Action.WITHDRAWN, Action.SENT)


class DeliveryState(StrEnum):
    """What the ledger knows of a record on a target."""

    DELIVERED = "delivered"
    WITHDRAWN = "withdrawn"
    SENT = "sent"  # awaiting the target's asynchronous verdict
    FAILED = "failed"  # the target's verdict refused the version sent
    # Never stored: a record never confirmed on the target, but an earlier push of it ended without an
    # answer (a timeout), so the target may hold an older version.
    ATTEMPTED = "attempted"


class FailureState(StrEnum):
    OPEN = "open"
    PARKED = "parked"
    RETRY = "retry"  # an operator asked for a retry; the next run takes it
    RESOLVED = "resolved"


class ErrorKind(StrEnum):
    """Why a record failed, sorted by what happens next (see ``connectors.contract.errors``)."""

    VALIDATION = "validation"
    MAPPING = "mapping"
    REJECTED = "rejected"
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    AUTH = "auth"
    INTERNAL = "internal"


class Stage(StrEnum):
    """Where in a record's way a failure happened."""

    VALIDATE = "validate"
    MAP = "map"
    PUSH = "push"
    FEEDBACK = "feedback"


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"  # finished, some records failed
    INTERRUPTED = "interrupted"  # stopped after the page in hand (SIGTERM)
    ERROR = "error"  # the run could not go on (source down, credentials refused, a crash)
    SKIPPED = "skipped"  # another instance holds the pipeline right now


class AuditAction(StrEnum):
    RETRY = "retry"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_LOCKED = "login_locked"
    MAPPINGS_RELOAD = "mappings_reload"
    MAPPINGS_REFUSED = "mappings_refused"


class LoginLimit(StrEnum):
    """Which console login limit refused an attempt (``console.limits``)."""

    USER_ADDRESS = "user_address"  # wrong passwords for one name from one address
    ADDRESS = "address"  # wrong passwords from one address, whatever the name
    USER = "user"  # wrong passwords for one name, from every address
    GLOBAL = "global"  # wrong passwords on the whole console
    BUSY = "busy"  # too many logins being checked at the same moment


class Deadline(StrEnum):
    """Where a decision stands against its 7-working-day 双公示 deadline (today)."""

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    PENDING = "pending"
    PUBLISHED = "published"


class Timeliness(StrEnum):
    """How a month's decision was published, as the monthly report counts it."""

    ON_TIME = "on_time"
    LATE = "late"
    OVERDUE = "overdue"
    PENDING = "pending"


class Kind(StrEnum):
    """The kinds of record the pipelines carry."""

    INSPECTION = "inspection"
    PENALTY = "penalty"
    CREDIT_EVENT = "credit_event"


# -- the one table of words shown to people --------------------------------------------------------
LABELS: dict[type[StrEnum], dict[str, str]] = {
    Action: {
        Action.CREATED: "新增",
        Action.UPDATED: "更新",
        Action.LINKED: "关联手工录入",
        Action.WITHDRAWN: "作废/撤销",
        Action.UNCHANGED: "未变化",
        Action.SKIPPED: "不需同步",
        Action.SENT: "已写入待反馈",
        Action.FAILED: "失败",
        Action.PARKED: "待映射",
    },
    DeliveryState: {
        DeliveryState.DELIVERED: "已同步",
        DeliveryState.WITHDRAWN: "已撤回",
        DeliveryState.SENT: "已写入待反馈",
        DeliveryState.FAILED: "反馈失败",
        DeliveryState.ATTEMPTED: "结果未知",
    },
    FailureState: {
        FailureState.OPEN: "待处理",
        FailureState.PARKED: "待映射",
        FailureState.RETRY: "待重试",
        FailureState.RESOLVED: "已解决",
    },
    ErrorKind: {
        ErrorKind.MAPPING: "映射缺失",
        ErrorKind.VALIDATION: "数据不合规",
        ErrorKind.REJECTED: "目标拒收",
        ErrorKind.TRANSIENT: "暂时故障",
        ErrorKind.CONFLICT: "数据冲突",
        ErrorKind.AUTH: "认证失败",
        ErrorKind.INTERNAL: "内部错误",
    },
    Stage: {
        Stage.VALIDATE: "校验",
        Stage.MAP: "映射",
        Stage.PUSH: "推送",
        Stage.FEEDBACK: "回执",
    },
    RunStatus: {
        RunStatus.RUNNING: "运行中",
        RunStatus.OK: "成功",
        RunStatus.FAILED: "有失败",
        RunStatus.INTERRUPTED: "中断",
        RunStatus.ERROR: "出错",
        RunStatus.SKIPPED: "由其他实例运行",
    },
    AuditAction: {
        AuditAction.RETRY: "重试",
        AuditAction.RESOLVE: "标记已解决",
        AuditAction.REOPEN: "重新打开",
        AuditAction.LOGIN: "登录",
        AuditAction.LOGOUT: "退出",
        AuditAction.LOGIN_LOCKED: "登录锁定",
        AuditAction.MAPPINGS_RELOAD: "映射表更新",
        AuditAction.MAPPINGS_REFUSED: "映射表修改被拒绝",
    },
    LoginLimit: {
        LoginLimit.USER_ADDRESS: "该账号在本机的登录",
        LoginLimit.ADDRESS: "本机的登录",
        LoginLimit.USER: "该账号 (来自多个地址) 的登录",
        LoginLimit.GLOBAL: "控制台的全部登录",
        LoginLimit.BUSY: "同时进行的登录",
    },
    Deadline: {
        Deadline.OVERDUE: "已逾期",
        Deadline.DUE_SOON: "即将到期",
        Deadline.PENDING: "未到期",
        Deadline.PUBLISHED: "已公示",
    },
    Timeliness: {
        Timeliness.ON_TIME: "按期公示",
        Timeliness.LATE: "逾期后公示",
        Timeliness.OVERDUE: "逾期未公示",
        Timeliness.PENDING: "未到期未公示",
    },
    Kind: {
        Kind.INSPECTION: "检查",
        Kind.PENALTY: "行政处罚",
        Kind.CREDIT_EVENT: "信用事件",
    },
}


def label(enum: type[StrEnum], value: str | None) -> str:
    """The Chinese word for ``value`` of ``enum``; an unknown value (an old row) is shown as it is."""
    if value is None:
        return ""
    return LABELS[enum].get(value, value)


def labels(enum: type[StrEnum]) -> dict[str, str]:
    """``{value: word}`` for every member, in definition order (for filters and templates)."""
    table = LABELS[enum]
    return {m.value: table[m] for m in enum}
