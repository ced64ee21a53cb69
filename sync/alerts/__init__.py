"""Alerts: conditions read every minute (``conditions``), told once when they open and again when they
clear (``engine``), sent on a background thread (``delivery``) to WeCom, DingTalk, SMTP or a webhook
(``channels``). docs/alerts.md."""
