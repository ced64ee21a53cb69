"""What every command starts from: the configuration file it was pointed at, and the app built from it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_PATHS = (Path("zhifa-sync.yaml"), Path("/etc/zhifa-sync/zhifa-sync.yaml"))


def config_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if env := os.environ.get("ZHIFA_SYNC_CONFIG"):
        return Path(env)
    for p in DEFAULT_PATHS:
        if p.exists():
            return p
    return DEFAULT_PATHS[0]


def secrets_dir(args: argparse.Namespace) -> Path | None:
    """``--secrets-dir DIR``: read ``/run/credentials/…/NAME`` secrets from ``DIR/NAME`` instead."""
    value = getattr(args, "secrets_dir", None)
    return Path(value) if value else None


def settings_from_args(args: argparse.Namespace) -> Any:
    """``(settings, secrets)`` from the file and ``--secrets-dir`` the command was given."""
    from sync.config import load_settings

    return load_settings(config_path(args.config), secrets_dir=secrets_dir(args))


def app_from_args(args: argparse.Namespace) -> Any:
    from zhifa_sync.app import App

    return App.from_config(config_path(args.config), secrets_dir=secrets_dir(args))
