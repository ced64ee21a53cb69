"""Alerts against a local webhook receiver and a local SMTP server: what arrives, and when."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from connectors.contract.clock import BEIJING
from sync.alerts.delivery import Dispatcher
from sync.alerts.engine import Alerter, in_quiet_hours
from sync.config import Settings
from sync.ledger import Ledger
from sync.ledger.schema import failures
from tests.support.alert_receivers import (
    WebhookReceiver,
    free_port,
    self_signed_tls,
    smtp_receiver,
    webhook_receiver,
)
from tests.support.ids import id_number, unmasked_ids
from zhifa_sync.cli import main

PERSON = id_number(110101, date(1980, 5, 17), 123)
DAY = datetime(2026, 12, 7, 10, 0, tzinfo=BEIJING)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


@pytest.fixture
def rx() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


def settings(channels: list[dict[str, Any]], **alerts: Any) -> Settings:
    return Settings.model_validate(
        {"systems": {}, "pipelines": [], "alerts": {"channels": channels, **alerts}}
    )


_STARTED: list[Dispatcher] = []


@pytest.fixture(autouse=True)
def _stop_dispatchers() -> Iterator[None]:
    yield
    while _STARTED:
        d = _STARTED.pop()
        d.flush()
        d.stop()


def alerter(ledger: Ledger, s: Settings, clock: Clock) -> Alerter:
    dispatcher = Dispatcher(s.alerts.channels, attempts=3, wait_s=0.01)
    _STARTED.append(dispatcher)
    return Alerter(ledger, s, dispatcher, clock=clock)


def add_failure(
    ledger: Ledger, sid: str, *, kind: str = "rejected", pipeline: str = "district-penalties"
) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(insert(failures).values(
            pipeline=pipeline, system="district", kind="penalty", source_id=sid, target="credit", stage="push",
            error_kind=kind, message=f"当事人证件号 {PERSON} 不合规", doc_no=f"X罚〔2026〕{sid}号",
            party_name="张三", attempts=1, first_seen=DAY.replace(tzinfo=None),
            last_seen=DAY.replace(tzinfo=None), state="open",
        ))  # fmt: skip


def test_a_digest_of_new_failures_per_pipeline_and_kind_masked_and_sent_once(
    ledger: Ledger, rx: WebhookReceiver
) -> None:
    add_failure(ledger, "old")  # before the first start: history, not news
    s = settings([{"type": "webhook", "url": rx.url + "/hook"}])
    a = alerter(ledger, s, Clock(DAY))
    assert a.evaluate() == []
    for sid in ("1", "2", "3"):
        add_failure(ledger, sid)
    add_failure(ledger, "4", kind="transient", pipeline="district-inspections")
    sent = a.evaluate()
    a.dispatcher.flush()
    assert len(sent) == 1 and len(rx.hits) == 1  # one digest, not one message per record
    body = rx.hits[0].body
    assert body["title"] == "新增失败记录 (4 条)"
    assert "district-penalties · 目标拒收: 3 条" in body["text"]
    assert "district-inspections · 暂时故障: 1 条" in body["text"]
    assert "X罚〔2026〕1号" in body["text"] and "old" not in body["text"]
    assert PERSON not in body["text"] and not unmasked_ids(body["text"])
    assert PERSON[:4] + "*" * 10 + PERSON[-4:] in body["text"]
    assert a.evaluate() == []  # nothing new: nothing sent
    a.dispatcher.flush()
    assert len(rx.hits) == 1


def test_an_open_condition_is_told_once_then_recovery(ledger: Ledger, rx: WebhookReceiver) -> None:
    clock = Clock(DAY)
    a = alerter(ledger, settings([{"type": "webhook", "url": rx.url}]), clock)
    a.evaluate(lambda: {"credit": True})
    clock.at = DAY.replace(minute=1)
    a.evaluate(lambda: {"credit": True})  # still open: not told again
    clock.at = DAY.replace(minute=2)
    a.evaluate(lambda: {"credit": False})
    a.dispatcher.flush()
    titles = [h.body["title"] for h in rx.hits]
    assert titles == ["【紧急】目标系统熔断 (credit)", "已恢复: 目标系统熔断 (credit)"]
    assert "已恢复" in rx.hits[1].body["text"]


def test_what_was_told_survives_a_restart(ledger: Ledger, rx: WebhookReceiver) -> None:
    s = settings([{"type": "webhook", "url": rx.url}])
    alerter(ledger, s, Clock(DAY)).evaluate(mapping_problems=lambda: ["地区代码.csv:3: 重复的键"])
    again = alerter(ledger, s, Clock(DAY.replace(minute=5)))
    assert again.evaluate(mapping_problems=lambda: ["地区代码.csv:3: 重复的键"]) == []


def test_a_flapping_condition_is_told_at_most_once_per_interval(ledger: Ledger, rx: WebhookReceiver) -> None:
    clock = Clock(DAY)
    a = alerter(ledger, settings([{"type": "webhook", "url": rx.url}], min_interval_minutes=60), clock)
    opened, closed = (lambda: {"credit": True}), (lambda: {"credit": False})
    assert len(a.evaluate(opened)) == 1
    clock.at = DAY.replace(minute=1)
    assert len(a.evaluate(closed)) == 1  # 已恢复
    clock.at = DAY.replace(minute=2)
    assert a.evaluate(opened) == []  # within the hour: held
    clock.at = DAY.replace(hour=11, minute=3)
    assert [m.title for m in a.evaluate(opened)] == ["【紧急】目标系统熔断 (credit)"]


def test_quiet_hours_hold_a_digest_but_not_an_urgent_alert(ledger: Ledger, rx: WebhookReceiver) -> None:
    night = datetime(2026, 12, 7, 23, 30, tzinfo=BEIJING)
    clock = Clock(night)
    a = alerter(ledger, settings([{"type": "webhook", "url": rx.url}], quiet_hours="22:00-07:00"), clock)
    a.evaluate()
    add_failure(ledger, "1")
    assert [m.title for m in a.evaluate(lambda: {"credit": True})] == ["【紧急】目标系统熔断 (credit)"]
    add_failure(ledger, "2")
    clock.at = night.replace(day=8, hour=6, minute=59)
    assert [m.key for m in a.evaluate(lambda: {"credit": True})] == []
    clock.at = night.replace(day=8, hour=7, minute=0)
    sent = a.evaluate(lambda: {"credit": True})
    assert [m.title for m in sent] == ["新增失败记录 (2 条)"]  # held, then both in one digest


def test_quiet_hours_windows() -> None:
    at = datetime(2026, 12, 7, 12, 0, tzinfo=BEIJING)
    assert in_quiet_hours("22:00-07:00", at.replace(hour=23))
    assert in_quiet_hours("22:00-07:00", at.replace(hour=3))
    assert not in_quiet_hours("22:00-07:00", at)
    assert in_quiet_hours("12:00-13:00", at) and not in_quiet_hours(None, at)


def test_wecom_and_dingtalk_robots_signed(
    ledger: Ledger, rx: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECOM_URL", rx.url + "/cgi-bin/webhook/send?key=abc")
    monkeypatch.setenv("DING_URL", rx.url + "/robot/send?access_token=t0k")
    monkeypatch.setenv("DING_SECRET", "SEC-ding")
    s = settings([
        {"type": "wecom", "url": {"env": "WECOM_URL"}},
        {"type": "dingtalk", "url": {"env": "DING_URL"}, "secret": {"env": "DING_SECRET"}},
    ])  # fmt: skip
    a = alerter(ledger, s, Clock(DAY))
    a.evaluate(lambda: {"municipal": True})
    a.dispatcher.flush()
    wecom, ding = sorted(rx.hits, key=lambda h: h.path)
    assert wecom.path == "/cgi-bin/webhook/send" and wecom.query == {"key": "abc"}
    assert (
        wecom.body["msgtype"] == "markdown"
        and "目标系统熔断 (municipal)" in wecom.body["markdown"]["content"]
    )
    assert ding.body["msgtype"] == "markdown" and ding.body["markdown"]["title"].endswith("(municipal)")
    ts = ding.query["timestamp"]
    expected = base64.b64encode(hmac.new(b"SEC-ding", f"{ts}\nSEC-ding".encode(), hashlib.sha256).digest())
    assert ding.query["access_token"] == "t0k"
    assert base64.urlsafe_b64decode(ding.query["sign"]) == base64.b64decode(expected)
    assert abs(int(ts) - datetime.now().timestamp() * 1000) < 60_000


def test_a_failing_channel_is_retried_and_never_blocks(ledger: Ledger, rx: WebhookReceiver) -> None:
    rx.statuses = [500, 503]
    a = alerter(ledger, settings([{"type": "webhook", "url": rx.url}]), Clock(DAY))
    a.evaluate(lambda: {"credit": True})
    assert rx.wait(1)[0].body["title"] == "【紧急】目标系统熔断 (credit)"


def test_mail_through_a_local_smtp_server(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    with smtp_receiver(password="s3cret") as smtp:
        channel = {
            "type": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none", "username": "alerts",
            "password": {"env": "SMTP_PASSWORD"}, "from": "zhifa@example.gov.cn", "to": ["ops@example.gov.cn"],
        }  # fmt: skip
        a = alerter(ledger, settings([channel]), Clock(DAY))
        a.evaluate()
        add_failure(ledger, "9")
        a.evaluate()
        mail = smtp.wait(1)[0]
    assert mail["Subject"] == "[执法数据同步] 新增失败记录 (1 条)"
    assert mail["To"] == "ops@example.gov.cn"
    text = mail.get_content()
    assert "X罚〔2026〕9号" in text and PERSON not in text


def _smtp_settings(tmp_path: Path, port: int, security: str, ca_file: str | None) -> Settings:
    """An SMTP channel read from a YAML file as a bureau writes it: password and CA file beside it."""
    from sync.config import load_settings

    (tmp_path / "smtp.password").write_text("s3cret\n", encoding="utf-8")
    ca = f", ca_file: {ca_file}" if ca_file else ""
    cfg = tmp_path / "zhifa-sync.yaml"
    cfg.write_text(
        "systems: {}\npipelines: []\nalerts:\n  channels:\n"
        f"    - {{type: smtp, host: 127.0.0.1, port: {port}, security: {security}, username: alerts,"
        f" password: {{file: smtp.password}}, from: zhifa@example.gov.cn, to: [ops@example.gov.cn]{ca}}}\n",
        encoding="utf-8",
    )
    settings, _secrets = load_settings(cfg)
    return settings


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_over_starttls_and_ssl_trusts_the_bureaus_own_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    """STARTTLS / SSL to a server with a certificate from the bureau's CA: with ``ca_file`` (relative to
    the config file) the mail arrives, AUTH with the password from a secret file, masked."""
    from sync.alerts.channels import Message, send

    tls = self_signed_tls(tmp_path)
    monkeypatch.chdir("/")  # ca_file is found beside the config file, not in the working directory
    with smtp_receiver(password="s3cret", security=security, tls=tls) as smtp:  # type: ignore[arg-type]
        (channel,) = _smtp_settings(tmp_path, smtp.port, security, "ca.pem").alerts.channels
        send(channel, Message.of("failures", "新增失败记录 (1 条)", f"当事人证件号 {PERSON} 不合规"))
        (mail,) = smtp.wait(1)
    assert mail["Subject"] == "[执法数据同步] 新增失败记录 (1 条)"
    assert mail["From"] == "zhifa@example.gov.cn" and mail["To"] == "ops@example.gov.cn"
    text = mail.get_content()
    assert PERSON not in text and PERSON[:4] + "*" * 10 + PERSON[-4:] in text


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_certificate_the_channel_does_not_trust_is_refused_in_chinese(
    tmp_path: Path, security: str
) -> None:
    """Without ``ca_file`` the system's CAs do not know the bureau's CA: nothing is sent (no password
    either), and the error says the certificate is not trusted and how to point at the CA."""
    from sync.alerts.channels import DeliveryError, Message, send

    tls = self_signed_tls(tmp_path)
    with smtp_receiver(password="s3cret", security=security, tls=tls) as smtp:  # type: ignore[arg-type]
        (channel,) = _smtp_settings(tmp_path, smtp.port, security, None).alerts.channels
        with pytest.raises(DeliveryError) as info:
            send(channel, Message.of("failures", "新增失败记录 (1 条)", "测试"))
        assert smtp.mails == []
    message = str(info.value)
    assert message.startswith(f"邮件服务器 127.0.0.1:{smtp.port} 的证书不受信任")
    assert "ca_file" in message and "s3cret" not in message


def test_the_alerts_test_command_reports_every_channel(
    tmp_path: Path, rx: WebhookReceiver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DING_URL", rx.url + "/robot/send")
    (tmp_path / "ding.secret").write_text("x\n", encoding="utf-8")  # beside the file, named relative to it
    cfg = tmp_path / "zhifa-sync.yaml"
    cfg.write_text(
        "systems: {}\npipelines: []\nalerts:\n  channels:\n"
        f"    - {{type: webhook, name: 值班群, url: '{rx.url}/hook'}}\n"
        "    - {type: dingtalk, url: {env: DING_URL}, secret: {file: ding.secret}}\n"
        "    - {type: wecom, url: {env: NOT_SET_ANYWHERE}}\n",
        encoding="utf-8",
    )
    rc = main(["-c", str(cfg), "alerts", "test"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "值班群 (webhook): 已发送" in out
    assert "dingtalk#2 (dingtalk): 已发送" in out
    assert "wecom#3 (wecom): 失败 — 环境变量 NOT_SET_ANYWHERE 未设置" in out
    assert {h.path for h in rx.hits} == {"/hook", "/robot/send"}
    assert all(h.body.get("title") == "告警测试" or "告警测试" in str(h.body) for h in rx.hits)


def test_the_ledger_unreachable_is_urgent_and_clears_nothing_else(
    ledger: Ledger, rx: WebhookReceiver, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine

    clock = Clock(datetime(2026, 12, 7, 23, 0, tzinfo=BEIJING))  # quiet hours: urgent goes anyway
    a = alerter(ledger, settings([{"type": "webhook", "url": rx.url}]), clock)
    a.evaluate(mapping_problems=lambda: ["地区代码.csv:3: 重复的键"])
    good = ledger.engine
    ledger.engine = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}")
    try:
        assert [m.title for m in a.evaluate(mapping_problems=lambda: ["地区代码.csv:3: 重复的键"])] == [
            "【紧急】账本数据库无法连接"
        ]
    finally:
        ledger.engine.dispose()
        ledger.engine = good
    clock.at = clock.at.replace(minute=1)
    assert [m.title for m in a.evaluate(mapping_problems=lambda: ["地区代码.csv:3: 重复的键"])] == [
        "已恢复: 账本数据库无法连接"
    ]
    assert "ledger_down" in ledger.alert_states()  # what it held in memory is written once the ledger is back


def _penalty(ledger: Ledger, sid: str, decided: str) -> None:
    import json

    from sqlalchemy import insert as ins

    from sync.ledger.schema import records

    body = {
        "id": sid, "origin": "district", "status": "decided", "procedure": "general", "decided_on": decided,
        "decision_no": f"（滨海）应急罚〔2026〕{sid}号", "party": {"name": f"王五 {PERSON}"},
    }  # fmt: skip
    at = DAY.replace(tzinfo=None)
    with ledger.engine.begin() as conn:
        conn.execute(ins(records).values(
            system="district", kind="penalty", source_id=sid, status="decided", event_date=date.fromisoformat(decided),
            record_hash="h", body=json.dumps(body, ensure_ascii=False), first_seen=at, last_seen=at,
        ))  # fmt: skip


def test_penalties_overdue_are_urgent_and_due_soon_wait_for_the_day(
    ledger: Ledger, rx: WebhookReceiver
) -> None:
    s = Settings.model_validate({
        "systems": {
            "district": {"type": "district", "base_url": "http://d", "username": "u", "password": {"env": "P"}},
            "credit": {"type": "credit", "base_url": "http://c", "app_key": "k", "app_secret": {"env": "S"}},
        },
        "pipelines": [{"name": "district-penalties", "source": "district", "kind": "penalty", "targets": ["credit"]}],
        "alerts": {"channels": [{"type": "webhook", "url": rx.url}], "due_within_workdays": 2},
    })  # fmt: skip
    _penalty(ledger, "P1", "2026-11-20")  # due 2026-12-01: overdue on 12-07
    _penalty(ledger, "P2", "2026-11-30")  # due 2026-12-09: within 2 working days of 12-07
    clock = Clock(DAY.replace(hour=23))
    a = alerter(ledger, s, clock)
    sent = a.evaluate()
    assert [m.title for m in sent] == ["【紧急】双公示已逾期 (credit 1 件)"]
    assert "应急罚〔2026〕P1号" in sent[0].text and PERSON not in sent[0].text
    clock.at = DAY.replace(day=8, hour=8)
    (soon,) = a.evaluate()
    assert (
        soon.title == "双公示即将到期 (credit 1 件)"
        and "P2号" in soon.text
        and "期限 2026-12-09" in soon.text
    )


def test_channel_mistakes_are_named_by_their_path_in_chinese(tmp_path: Path) -> None:
    from connectors.contract.errors import ConfigError
    from sync.config import load_settings

    cfg = tmp_path / "zhifa-sync.yaml"
    cfg.write_text(
        "systems: {}\npipelines: []\nalerts:\n  quiet_hours: '25:00'\n  channels:\n"
        "    - {type: smtp, host: h, from: a@b, to: [c@d], pasword: x}\n"
        "    - {type: wecom, url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k'}\n"
        "    - {type: sms}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert info.value.errors == [
        "alerts.channels[0].pasword: 未知的配置项 pasword; 是否应为 password?",
        "alerts.channels[1].url: 密钥不能直接写在配置文件中: 请写 {env: 环境变量名} 或 {file: /密钥文件路径}",
        "alerts.channels[2]: 未知的告警渠道类型 sms; 应为以下之一: wecom, dingtalk, smtp, webhook",
        "alerts.quiet_hours: 应为 HH:MM-HH:MM, 如 22:00-07:00 (得到 '25:00')",
    ]


def test_the_service_reads_the_alerts_every_minute(ledger: Ledger, rx: WebhookReceiver) -> None:
    from connectors.contract.clock import aware_now
    from connectors.contract.config import Secrets
    from zhifa_sync.app import App
    from zhifa_sync.service import Service

    s = settings([{"type": "webhook", "url": rx.url}], quiet_hours=None)  # the real clock: any hour
    service = Service(App(s, Secrets(), ledger), console=False)
    assert service.alerter is not None
    _STARTED.append(service.alerter.dispatcher)
    service.add_jobs(aware_now(s.zone))
    job = service.scheduler.get_job("alerts")
    assert job is not None and job.trigger.interval.total_seconds() == 60
    service._alerts_job()
    add_failure(ledger, "7")
    service._alerts_job()
    assert rx.wait(1)[0].body["title"] == "新增失败记录 (1 条)"
    assert Service(App(settings([]), Secrets(), ledger), console=False).alerter is None  # no channels: no job


def test_a_lease_lost_and_taken_over_is_urgent_and_recovers_when_the_run_ends(
    ledger: Ledger, rx: WebhookReceiver
) -> None:
    """The service's alerts read its leases: this instance's lock file removed and another instance
    holding the pipeline now is told at once (naming that instance), 已恢复 once our run has ended."""
    from connectors.contract.config import Secrets
    from sync.lease import Leases
    from zhifa_sync.app import App
    from zhifa_sync.service import Service

    s = settings([{"type": "webhook", "url": rx.url}], quiet_hours=None)
    app = App(s, Secrets(), ledger)
    service = Service(app, console=False)
    assert service.alerter is not None
    _STARTED.append(service.alerter.dispatcher)
    other = Leases(ledger.engine, "host-b:bbbbbb")  # a second instance on the same ledger
    try:
        with app.leases.hold("district-penalties") as held:
            assert held
            service._alerts_job()
            path = app.leases.lock_path("district-penalties")
            assert path is not None
            path.unlink()  # a clean-up of the state folder
            with other.hold("district-penalties") as taken:
                assert taken
                service._alerts_job()
                (hit,) = rx.wait(1)
        assert hit.body["title"] == "【紧急】管道租约丢失 (district-penalties, 已被接管)"
        assert "已被替换" in hit.body["text"] and "host-b:bbbbbb" in hit.body["text"]
        service._alerts_job()  # found again at release: still open this once
        service._alerts_job()
        assert [h.body["title"] for h in rx.wait(2)] == [
            "【紧急】管道租约丢失 (district-penalties, 已被接管)",
            "已恢复: 管道租约丢失 (district-penalties, 已被接管)",
        ]
    finally:
        other.close()
        app.leases.close()


def _plain_channel(port: int) -> Any:
    """An SMTP channel without TLS to the local server, the password from ``SMTP_PASSWORD``."""
    from sync.config import SmtpChannel

    channel = {
        "type": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "username": "alerts",
        "password": {"env": "SMTP_PASSWORD"}, "from": "zhifa@example.gov.cn", "to": ["ops@example.gov.cn"],
        "timeout_s": 3,
    }  # fmt: skip
    return SmtpChannel.model_validate(channel)


def test_a_refused_login_names_the_server_and_user_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server answers 535 to a wrong password: the operator reads which server refused which
    user, and the password appears nowhere (nor does the mail go out)."""
    from sync.alerts.channels import DeliveryError, Message, send

    monkeypatch.setenv("SMTP_PASSWORD", "wr0ng-pass")
    with smtp_receiver(password="s3cret") as smtp:
        began = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            send(_plain_channel(smtp.port), Message.of("failures", "测试", "测试"))
        took = time.monotonic() - began
        assert smtp.mails == []
    message = str(info.value)
    assert message == f"邮件服务器 127.0.0.1:{smtp.port} 拒绝登录 (用户 alerts, SMTP 535): 请检查用户名与密码"
    assert "wr0ng" not in message
    assert took < 2, f"a refusal is an answer, not a timeout ({took:.1f} s)"


def test_a_server_that_offers_no_login_or_refuses_the_recipient_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sync.alerts.channels import DeliveryError, Message, send

    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    with smtp_receiver(password="s3cret", offer_auth=False) as smtp, pytest.raises(DeliveryError) as info:
        send(_plain_channel(smtp.port), Message.of("failures", "测试", "测试"))
    assert str(info.value).startswith(f"邮件服务器 127.0.0.1:{smtp.port} 不支持所需功能 (SMTP AUTH extension")
    assert "security (starttls / ssl / none)" in str(info.value)
    refusal = f"550 5.1.1 mailbox of {PERSON} unavailable"  # a server's reply may carry any text
    with smtp_receiver(password="s3cret", refuse_rcpt=refusal) as smtp, pytest.raises(DeliveryError) as info:
        send(_plain_channel(smtp.port), Message.of("failures", "测试", "测试"))
    message = str(info.value)
    assert message.startswith(f"邮件服务器 127.0.0.1:{smtp.port} 发送时失败 (SMTPRecipientsRefused")
    assert "ops@example.gov.cn" in message and "550" in message
    assert PERSON not in message and PERSON[:4] + "*" * 10 + PERSON[-4:] in message


def test_nothing_listening_is_a_failure_to_connect_naming_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.alerts.channels import DeliveryError, Message, send

    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    port = free_port()
    with pytest.raises(DeliveryError) as info:
        send(_plain_channel(port), Message.of("failures", "测试", "测试"))
    assert str(info.value).startswith(f"邮件服务器 127.0.0.1:{port} 连接时失败 (ConnectionRefusedError")
