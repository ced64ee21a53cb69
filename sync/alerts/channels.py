"""Sending one alert message to one channel: WeCom and DingTalk robots, SMTP mail, a JSON webhook.

Every text is masked (``mask_text``) when the ``Message`` is made, so no channel can send a 身份证号.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from connectors.contract.validators import mask_text
from sync.config import Channel, DingtalkChannel, SmtpChannel, WebhookChannel, WecomChannel

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Message:
    """One alert as sent: a title, a markdown-ish text, urgent or not, the alert's key."""

    key: str
    title: str
    text: str
    urgent: bool = False

    @classmethod
    def of(cls, key: str, title: str, text: str, urgent: bool = False) -> Message:
        return cls(key, mask_text(title), mask_text(text), urgent)


class DeliveryError(Exception):
    """A channel refused or could not be reached (retried, then logged)."""


def channel_name(channel: Channel, index: int) -> str:
    return channel.name or f"{channel.type}#{index + 1}"


def _secret(ref: Any) -> str:
    return ref if isinstance(ref, str) else str(ref.resolve().get_secret_value())


@functools.cache
def _client() -> httpx.Client:
    """One client for every alert (making one per call builds an SSL context each time)."""
    return httpx.Client(timeout=TIMEOUT_S)


def _post(url: str, body: dict[str, Any], params: dict[str, str] | None = None) -> httpx.Response:
    target = httpx.URL(url)
    if params:  # added to the robot's own query (access_token=...), which httpx's params= would replace
        target = target.copy_merge_params(params)
    try:
        resp = _client().post(target, json=body)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"无法连接: {type(exc).__name__}") from None
    if resp.status_code >= 300:
        raise DeliveryError(f"HTTP {resp.status_code}")
    return resp


def _robot_answer(resp: httpx.Response) -> None:
    """WeCom and DingTalk answer HTTP 200 with {"errcode": n, "errmsg": ...}; errcode 0 is success."""
    try:
        answer = resp.json()
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode") not in (None, 0):
        raise DeliveryError(f"机器人拒收: errcode={answer.get('errcode')} {answer.get('errmsg', '')}")


def send_webhook(channel: WebhookChannel, msg: Message) -> None:
    body = {"key": msg.key, "title": msg.title, "text": msg.text, "urgent": msg.urgent}
    _post(_secret(channel.url), body)


def send_wecom(channel: WecomChannel, msg: Message) -> None:
    content = f"### {msg.title}\n{msg.text}"
    _robot_answer(_post(_secret(channel.url), {"msgtype": "markdown", "markdown": {"content": content}}))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: urlsafe base64 of HMAC-SHA256(secret, "{timestamp}\\n{secret}")."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def send_dingtalk(channel: DingtalkChannel, msg: Message) -> None:
    params = None
    if channel.secret is not None:
        ts = int(time.time() * 1000)
        params = {"timestamp": str(ts), "sign": dingtalk_sign(_secret(channel.secret), ts)}
    body = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": f"### {msg.title}\n{msg.text}"}}
    _robot_answer(_post(_secret(channel.url), body, params))


def send_smtp(channel: SmtpChannel, msg: Message) -> None:
    mail = EmailMessage()
    mail["Subject"] = f"[执法数据同步] {msg.title}"
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail.set_content(msg.text)
    stage = "连接"
    try:
        with _smtp(channel) as smtp:
            if channel.username and channel.password is not None:
                stage = "登录"
                smtp.login(channel.username, _secret(channel.password))
            stage = "发送"
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(_smtp_error(channel, exc, stage)) from None


def _smtp_error(channel: SmtpChannel, exc: Exception, stage: str) -> str:
    """What went wrong, for the operator, at which ``stage`` (连接 / 登录 / 发送); the password is never
    part of it (smtplib's messages carry the server's replies, never what was sent to log in)."""
    server = f"邮件服务器 {channel.host}:{channel.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"{server} 的证书不受信任 ({exc.verify_message}); 若由本单位或内部 CA 签发, "
            "请在该渠道配置 ca_file: CA 证书文件 (PEM)"
        )
    if isinstance(exc, FileNotFoundError) and channel.ca_file and exc.filename is None:
        return f"CA 证书文件 {channel.ca_file} 不存在或无法读取 (渠道配置 ca_file)"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{server} 拒绝登录 (用户 {channel.username}, SMTP {exc.smtp_code}): 请检查用户名与密码"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{server} 不支持所需功能 ({exc}): 请确认端口与 security (starttls / ssl / none)"
    detail = mask_text(" ".join(str(exc).split())[:200])  # the server's reply: any text at all
    return f"{server} {stage}时失败 ({type(exc).__name__}{': ' + detail if detail else ''})"


def _tls(channel: SmtpChannel) -> ssl.SSLContext:
    """The system's CAs, or only the bureau's own CA when ``ca_file`` names one."""
    return ssl.create_default_context(cafile=str(channel.ca_file) if channel.ca_file else None)


def _smtp(channel: SmtpChannel) -> smtplib.SMTP:
    if channel.security == "ssl":
        return smtplib.SMTP_SSL(channel.host, channel.port, timeout=channel.timeout_s, context=_tls(channel))
    smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s)
    if channel.security == "starttls":
        try:
            smtp.starttls(context=_tls(channel))
        except BaseException:
            smtp.close()
            raise
    return smtp


SENDERS: dict[str, Callable[[Any, Message], None]] = {
    "webhook": send_webhook,
    "wecom": send_wecom,
    "dingtalk": send_dingtalk,
    "smtp": send_smtp,
}


def send(channel: Channel, msg: Message) -> None:
    """Send ``msg`` to ``channel``; raises ``DeliveryError`` (or ``ValueError`` for a missing secret)."""
    SENDERS[channel.type](channel, msg)
