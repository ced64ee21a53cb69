"""``zhifa-sync alerts test``: a test message to every configured alert channel, the result of each."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("alerts", help="告警: 向每个告警渠道发送测试消息 (test)")
    sp = p.add_subparsers(dest="alerts_action", required=True)
    t = sp.add_parser("test", help="向每个已配置的告警渠道发送一条测试消息, 并逐个显示结果")
    t.set_defaults(func=cmd_test)


def cmd_test(args: argparse.Namespace) -> int:
    from connectors.contract.clock import beijing_now
    from sync.alerts.channels import DeliveryError, Message, channel_name, send
    from zhifa_sync.context import settings_from_args

    settings, _secrets = settings_from_args(args)
    channels = settings.alerts.channels
    if not channels:
        print("未配置告警渠道 (配置文件 alerts.channels)。")
        return 1
    msg = Message.of(
        "test", "告警测试", f"这是一条来自执法数据同步服务的测试消息 ({beijing_now():%Y-%m-%d %H:%M:%S})。"
    )
    failed = 0
    for i, channel in enumerate(channels):
        try:
            send(channel, msg)
        except (DeliveryError, ValueError) as exc:
            failed += 1
            print(f"{channel_name(channel, i)} ({channel.type}): 失败 — {exc}")
        else:
            print(f"{channel_name(channel, i)} ({channel.type}): 已发送")
    print(f"共 {len(channels)} 个渠道, {len(channels) - failed} 个成功, {failed} 个失败。")
    return 1 if failed else 0
