"""``zhifa-sync trace <文号 | 信用代码 | 记录编号 | 目标系统编号>``: where one record went."""

from __future__ import annotations

import argparse
from typing import Any

from connectors.contract.states import Action, DeliveryState, ErrorKind, FailureState, Kind, label
from connectors.contract.validators import mask_text
from sync.cli_format import table
from sync.ledger.trace import RecordTrace


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("trace", help="记录追踪: 按文号、统一社会信用代码、记录编号或目标系统编号查找")
    p.add_argument("query", help="决定书文号 / 统一社会信用代码 / 来源记录编号 / 目标系统中的编号")
    p.set_defaults(func=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    from zhifa_sync.context import app_from_args

    app = app_from_args(args)
    try:
        refs = app.ledger.find_records(args.query)
        if not refs:
            print(f"未找到与 {mask_text(args.query)} 相关的记录")
            return 1
        if len(refs) > 1:
            rows = app.ledger.record_summaries(refs)
            print(f"找到 {len(rows)} 条记录, 逐条列出:\n")
        for ref in refs:
            found = app.ledger.trace(ref)
            if found is not None:
                print(render_trace(found))
                print()
    finally:
        app.close()
    return 0


def render_trace(t: RecordTrace) -> str:
    """The trace of one record as plain text (personal data masked)."""
    r = t.record
    lines = [
        f"记录 {t.ref.system}/{label(Kind, t.ref.kind)}/{t.ref.source_id}"
        f"  文号 {r.get('doc_no') or '-'}  当事人 {r.get('party_name') or '-'} {r.get('party_code') or ''}",
        "",
        "版本 (每个读到的不同版本):",
        table(
            [
                [i + 1, v["first_seen"], v["last_seen"], v["source_updated_at"], v["status"], v["pipeline"],
                 v["run_id"], v["record_hash"][:12]]
                for i, v in enumerate(t.versions)
            ],
            ["#", "首次读到", "最近读到", "来源更新时间", "状态", "管道", "运行", "摘要"],
        ),
    ]  # fmt: skip
    for tt in t.targets:
        d = tt.delivery or {}
        lines += [
            "",
            f"目标 {tt.target}: {label(DeliveryState, d.get('state')) or '未同步'}"
            f"  目标编号 {d.get('target_id') or '-'}"
            + ("  (关联了目标系统中手工录入的记录)" if d.get("linked") else "")
            + (f"  批次 {d['target_version']}" if d.get("target_version") else ""),
        ]
        for a in tt.attempts:
            lines.append(f"  {a['at']}  {label(Action, a['action'])}  运行 {a['run_id']}")
            if a["payload"]:
                lines.append(f"    发送: {mask_text(a['payload'])[:300]}")
            lines.append(f"    应答: {mask_text(a['response'] or '')[:300]}")
        for f in tt.failures:
            lines.append(
                f"  失败 #{f['id']} {label(FailureState, f['state'])} {label(ErrorKind, f['error_kind'])}:"
                f" {mask_text(f['message'])[:200]}  (zhifa-sync failures show {f['id']})"
            )
        for f in tt.feedback:
            lines.append(f"  前置库反馈: {mask_text(f['response'] or f['message'])[:200]}")
    for twin in t.twins:
        lines.append(f"\n同一记录在 {twin.system} 中: {twin.source_id} (zhifa-sync trace {twin.source_id})")
    return "\n".join(lines)
