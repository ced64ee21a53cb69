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
    RECORD = "record"  # writing the outcome to the ledger


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"  # finished, some records failed
    INTERRUPTED = "interrupted"  # stopped after the page in hand (SIGTERM)
    ERROR = "error"  # the run could not go on (source down, credentials refused, a crash)
    SKIPPED = "skipped"  # another instance holds the pipeline right now
    PAUSED = "paused"  # an operator paused the pipeline: not run until resumed
    CRASHED = "crashed"  # its process died mid-run (killed, crashed, power): closed by the next run


class AuditAction(StrEnum):
    RETRY = "retry"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_LOCKED = "login_locked"
    MAPPINGS_RELOAD = "mappings_reload"
    MAPPINGS_REFUSED = "mappings_refused"
    PIPELINE_PAUSE = "pipeline_pause"
    PIPELINE_RESUME = "pipeline_resume"
    PIPELINE_RUN_NOW = "pipeline_run_now"
    PIPELINE_BACKFILL = "pipeline_backfill"
    MAPPINGS_UPLOAD = "mappings_upload"
    MAPPINGS_ROLLBACK = "mappings_rollback"
    RECONCILE_REPAIR = "reconcile_repair"
    USER_CREATE = "user_create"
    USER_DISABLE = "user_disable"
    USER_ENABLE = "user_enable"
    USER_PASSWORD = "user_password"
    USER_ROLE = "user_role"


class Finding(StrEnum):
    """What reconciliation found wrong with a record on a target."""

    MISSING = "missing"  # in the source, not delivered or not on the target
    STALE = "stale"  # the target holds an older version than the source's
    EXTRA = "extra"  # on the target with our id, no source record
    DIVERGED = "diverged"  # same version, but the target's content is not what we sent


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
    # published late, but already past its due date when zhifa-sync first read it (records.first_seen):
    # history from before the installation, not a delay of the daemon
    LATE_WHEN_READ = "late_when_read"
    OVERDUE = "overdue"
    PENDING = "pending"


class Kind(StrEnum):
    """The kinds of record the pipelines carry."""

    INSPECTION = "inspection"
    PENALTY = "penalty"
    CREDIT_EVENT = "credit_event"


class ClockSkew(StrEnum):
    """Why a record read looks stamped by a source clock that stepped back."""

    OLDER_THAN_SEEN = "older_than_seen"  # updated_at before the version already read (and delivered)
    BEHIND_CURSOR = "behind_cursor"  # new or changed, yet stamped before what the pipeline had read


class Alert(StrEnum):
    """What an alert is about (``sync.alerts``); urgent ones are sent even in quiet hours."""

    FAILURES = "failures"  # a digest of the failures new since the last one
    DUE_SOON = "due_soon"  # 双公示 decisions due within N working days
    OVERDUE = "overdue"
    CIRCUIT_OPEN = "circuit_open"
    MAPPINGS_REFUSED = "mappings_refused"
    LEDGER_DOWN = "ledger_down"
    PIPELINE_STUCK = "pipeline_stuck"  # a run given up after stuck_after_s without progress
    LEASE_LOST = "lease_lost"  # a run's lease gone from under it (and perhaps held by another instance)


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
        Stage.RECORD: "记账",
    },
    RunStatus: {
        RunStatus.RUNNING: "运行中",
        RunStatus.OK: "成功",
        RunStatus.FAILED: "有失败",
        RunStatus.INTERRUPTED: "中断",
        RunStatus.ERROR: "出错",
        RunStatus.SKIPPED: "由其他实例运行",
        RunStatus.PAUSED: "已暂停",
        RunStatus.CRASHED: "异常终止",
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
        AuditAction.PIPELINE_PAUSE: "暂停管道",
        AuditAction.PIPELINE_RESUME: "恢复管道",
        AuditAction.PIPELINE_RUN_NOW: "立即运行管道",
        AuditAction.PIPELINE_BACKFILL: "从指定日期重新读取",
        AuditAction.MAPPINGS_UPLOAD: "上传并应用映射表",
        AuditAction.MAPPINGS_ROLLBACK: "恢复映射表的上一版本",
        AuditAction.RECONCILE_REPAIR: "对账补推",
        AuditAction.USER_CREATE: "新建账号",
        AuditAction.USER_DISABLE: "停用账号",
        AuditAction.USER_ENABLE: "启用账号",
        AuditAction.USER_PASSWORD: "重设密码",
        AuditAction.USER_ROLE: "修改角色",
    },
    Finding: {
        Finding.MISSING: "缺失",
        Finding.STALE: "版本落后",
        Finding.EXTRA: "多余",
        Finding.DIVERGED: "内容不一致",
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
        Timeliness.LATE_WHEN_READ: "首次读到时已逾期",
        Timeliness.OVERDUE: "逾期未公示",
        Timeliness.PENDING: "未到期未公示",
    },
    ClockSkew: {
        ClockSkew.OLDER_THAN_SEEN: "更新时间早于已同步的版本",
        ClockSkew.BEHIND_CURSOR: "新的修改, 更新时间却早于已读到的位置",
    },
    Kind: {
        Kind.INSPECTION: "检查",
        Kind.PENALTY: "行政处罚",
        Kind.CREDIT_EVENT: "信用事件",
    },
    Alert: {
        Alert.FAILURES: "新增失败记录",
        Alert.DUE_SOON: "双公示即将到期",
        Alert.OVERDUE: "双公示已逾期",
        Alert.CIRCUIT_OPEN: "目标系统熔断",
        Alert.MAPPINGS_REFUSED: "映射表被拒绝",
        Alert.LEDGER_DOWN: "账本数据库无法连接",
        Alert.PIPELINE_STUCK: "管道运行卡住",
        Alert.LEASE_LOST: "管道租约丢失",
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


# -- the words for a canonical record's fields (the failure page's 不合规字段 table) -------------------
FIELD_LABELS: dict[str, str] = {
    "(记录)": "整条记录",
    "id": "记录编号",
    "origin": "数据来源",
    "status": "状态",
    "updated_at": "更新时间",
    "dept_code": "执法部门代码",
    "item_code": "事项代码",
    "source_codes": "来源代码",
    "officers": "执法人员",
    "external_officers": "外部执法人员",
    "external_officers.cert_no": "外部执法人员证号",
    "external_officers.name": "外部执法人员姓名",
    "enterprise": "检查对象",
    "enterprise.name": "检查对象名称",
    "enterprise.uscc": "检查对象统一社会信用代码",
    "enterprise.address": "检查对象地址",
    "enterprise.region_code": "检查对象行政区划",
    "inspection_type": "检查类型",
    "plan_id": "检查计划编号",
    "started_at": "检查开始时间",
    "ended_at": "检查结束时间",
    "result": "检查结果",
    "hazard_count": "隐患数",
    "major_hazard_count": "重大隐患数",
    "document_no": "文书编号",
    "decision_no": "决定书文号",
    "party": "当事人",
    "party.type": "当事人类型",
    "party.name": "当事人名称",
    "party.uscc": "当事人统一社会信用代码",
    "party.legal_rep": "法定代表人",
    "party.id_type": "证件类型",
    "party.id_no": "证件号码",
    "inspection_id": "关联检查编号",
    "violation": "违法行为",
    "facts": "违法事实",
    "basis": "处罚依据",
    "penalty_types": "处罚种类",
    "fine_yuan": "罚款金额 (元)",
    "confiscation_yuan": "没收金额 (元)",
    "license_action": "许可证处理",
    "license_action.type": "许可证处理方式",
    "license_action.license_name": "许可证名称",
    "license_action.license_no": "许可证编号",
    "license_action.period": "暂扣期限",
    "procedure": "程序类型",
    "decided_on": "决定日期",
    "double_penalty": "双罚制",
    "eventId": "事件编号",
    "type": "事件类型",
    "uscc": "统一社会信用代码",
    "cfWsh": "处罚文书号",
    "xybm": "信用编码",
    "occurredAt": "发生时间",
}


def field_label(path: str) -> str:
    """The Chinese name of a record field path (``party.id_no`` → 证件号码; ``officers.0`` → 执法人员 第1项);
    a path not in the table is shown as it is."""
    parts = path.split(".")
    plain = ".".join(p for p in parts if not p.isdigit())
    found = FIELD_LABELS.get(plain) or FIELD_LABELS.get(parts[0])
    if found is None:
        return path
    index = next((p for p in parts if p.isdigit()), None)
    return found + (f" 第{int(index) + 1}项" if index is not None else "")
