"""Configuration: every error reported with its path; secrets never shown."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from connectors.contract.errors import ConfigError
from sync.config import load_settings

GOOD = """
database: {url: "sqlite:///x.db"}
mappings_dir: maps
systems:
  district: {type: district, base_url: "http://d", username: u, password: {env: ZS_TEST_PW}}
  municipal: {type: municipal, base_url: "http://m", app_key: k, app_secret: {file: secret.txt}, region_code: "120116"}
pipelines:
  - {name: insp, source: district, kind: inspection, targets: [municipal], schedule: {cron: "*/5 * * * *"}}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "secret.txt").write_text("s3cr3t-value\n")
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_resolves_secrets_without_showing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets come from env and files; no repr shows them."""
    monkeypatch.setenv("ZS_TEST_PW", "pw-from-env")
    settings, secrets = load_settings(write(tmp_path, GOOD))
    assert secrets.get("municipal", "app_secret") == "s3cr3t-value"
    assert secrets.get("district", "password") == "pw-from-env"
    assert "s3cr3t" not in repr(settings) + repr(secrets) and "pw-from-env" not in repr(secrets)
    assert settings.mappings_dir == (tmp_path / "maps").resolve()


def test_every_error_has_its_path(tmp_path: Path) -> None:
    """Problems anywhere in the file are all reported at once, each with its path."""
    bad = GOOD.replace("targets: [municipal]", "targets: [municipal, credit]").replace(
        '"*/5 * * * *"', '"nonsense"'
    )
    bad += "  - {name: insp, source: nowhere, kind: complaint, targets: []}\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    text = "\n".join(info.value.errors)
    assert "pipelines[0].schedule" in text and "cron" in text
    assert "pipelines[1].kind" in text
    assert "pipelines[1].targets" in text


def test_cross_references_are_named(tmp_path: Path) -> None:
    """Unknown systems are named."""
    bad = GOOD.replace("targets: [municipal]", "targets: [credit]")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    assert "pipelines[0].targets[0]: 未定义的系统 credit" in "\n".join(info.value.errors)


def test_secrets_are_resolved_only_when_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset variable does not stop loading (ledger-only commands); using it, or ``require``, names it."""
    monkeypatch.delenv("ZS_TEST_PW", raising=False)
    (tmp_path / "secret.txt").write_text("s3cr3t-value\n")
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace("{file: secret.txt}", "{file: missing.txt}"), encoding="utf-8")
    _settings, secrets = load_settings(path)
    with pytest.raises(ConfigError) as info:
        secrets.get("district", "password")
    assert info.value.errors == ["systems.district.password: 环境变量 ZS_TEST_PW 未设置"]
    with pytest.raises(ConfigError) as info:
        secrets.require()
    assert (
        len(info.value.errors) == 2
        and "systems.municipal.app_secret: 无法读取密钥文件" in info.value.errors[1]
    )
    assert secrets.problems(["nowhere"]) == []
    monkeypatch.setenv("ZS_TEST_PW", "pw")
    assert secrets.only("district").get("district", "password") == "pw"


def test_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    """A plain password string is not accepted."""
    bad = GOOD.replace("password: {env: ZS_TEST_PW}", "password: hunter2")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    assert any(e.startswith("systems.district.password") for e in info.value.errors)
    assert "hunter2" not in str(info.value)


def test_cli_exits_non_zero_on_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`zhifa-sync status` on a broken file prints the problems and exits 2."""
    from zhifa_sync.cli import main

    rc = main(["-c", str(write(tmp_path, "systems: {}\npipelines: 3\n")), "status"])
    assert rc == 2
    assert "pipelines" in capsys.readouterr().err


def test_the_documented_example_stays_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config/zhifa-sync.example.yaml is a working configuration once its secrets exist."""
    import re

    example = Path(__file__).resolve().parents[2] / "config" / "zhifa-sync.example.yaml"
    text = example.read_text(encoding="utf-8")
    text = re.sub(r"\{file: /run/credentials/zhifa-sync\.service/(\w+)\}", r"{env: ZS_EX_\1}", text)
    text = text.replace(": mappings", f": {example.parents[1] / 'mappings'}")
    for name in (
        "ZS_EX_district_password",
        "ZS_EX_municipal_app_secret",
        "ZS_EX_credit_app_secret",
        "ZS_EX_hlwjg_url",
    ):
        monkeypatch.setenv(name, "x")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    settings, secrets = load_settings(tmp_path / "c.yaml")
    secrets.require()
    assert {p.kind for p in settings.pipelines} == {"inspection", "penalty", "credit_event"}
    assert {s.type for s in settings.systems.values()} == {"district", "municipal", "credit", "hlwjg"}


def test_reconcile_is_nightly_by_default_and_configurable_globally_or_per_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pipeline is reconciled at 02:30 unless the file or the pipeline says otherwise; the service
    schedules one reconcile job per enabled pipeline on that cron."""
    from zhifa_sync.service import Service

    monkeypatch.setenv("ZS_TEST_PW", "pw")
    settings, _ = load_settings(write(tmp_path, GOOD))
    assert settings.reconcile_of("insp").cron == "30 2 * * *" and settings.reconcile_of("insp").enabled
    text = GOOD.replace("pipelines:", 'reconcile: {cron: "0 4 * * *", repair: true}\npipelines:')
    text += '  - {name: pen, source: district, kind: penalty, targets: [municipal], reconcile: {cron: "5 1 * * *"}}\n'
    settings, _ = load_settings(write(tmp_path, text))
    assert (settings.reconcile_of("insp").cron, settings.reconcile_of("insp").repair) == ("0 4 * * *", True)
    assert (settings.reconcile_of("pen").cron, settings.reconcile_of("pen").repair) == ("5 1 * * *", False)
    with pytest.raises(ConfigError, match=r"reconcile\.cron: cron 表达式无效"):
        load_settings(
            write(tmp_path, GOOD.replace("pipelines:", 'reconcile: {cron: "nonsense"}\npipelines:'))
        )

    class _App:  # what scheduling reads of the app
        def __init__(self) -> None:
            self.settings = settings

    service = Service(_App(), console=False)  # type: ignore[arg-type]  # a stand-in with what Service reads
    service.add_jobs(datetime.now())
    jobs = {j.id: str(j.trigger) for j in service.scheduler.get_jobs()}
    assert (
        "hour='4', minute='0'" in jobs["reconcile:insp"] and "hour='1', minute='5'" in jobs["reconcile:pen"]
    )


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Issue 18.8: `db upgrade` run from / with a config elsewhere makes the ledger next to the config;
    mappings_dir and holidays_file resolve there too (never against the working directory)."""
    import subprocess
    import sys

    conf = tmp_path / "etc"
    conf.mkdir()
    text = GOOD.replace('"sqlite:///x.db"', '"sqlite:///state/ledger.db"') + "holidays_file: maps/h.csv\n"
    (conf / "state").mkdir()
    path = write(conf, text)
    settings, _ = load_settings(path)
    assert settings.database.url == f"sqlite:///{conf / 'state' / 'ledger.db'}"
    assert settings.mappings_dir == conf / "maps" and settings.holidays_file == conf / "maps" / "h.csv"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no secret set: db upgrade needs none
    done = subprocess.run(
        [sys.executable, "-m", "zhifa_sync", "-c", str(path), "db", "upgrade"],
        cwd="/",
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (conf / "state" / "ledger.db").is_file()
    assert not Path("/ledger.db").exists() and not (Path("/state") / "ledger.db").exists()


def test_every_mistake_at_once_in_chinese_with_suggestions(tmp_path: Path) -> None:
    """Issue 18.7: a typo'd key suggests the right one and the required key is named as missing; a URL
    without a scheme, an inline secret, a bad number and a bad choice all reported together, in Chinese."""
    bad = (
        GOOD.replace('base_url: "http://d"', 'base_ulr: "http://d"')
        .replace('base_url: "http://m"', 'base_url: "yjzf.example.gov.cn"')
        .replace("password: {env: ZS_TEST_PW}", "password: hunter2, timeout_s: -1")
        .replace("kind: inspection", "kind: inspektion, enabeld: false")
    )
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    errors = info.value.errors
    assert "systems.district.base_ulr: 未知的配置项 base_ulr; 是否应为 base_url?" in errors
    assert "systems.district.base_url: 缺少必填项" in errors
    assert "pipelines[0].enabeld: 未知的配置项 enabeld; 是否应为 enabled?" in errors
    assert any(e.startswith("systems.municipal.base_url: 网址无效") and "http://" in e for e in errors)
    assert any(e.startswith("systems.district.password: 密钥不能直接写在配置文件中") for e in errors)
    assert "systems.district.timeout_s: 应大于 0" in errors
    assert "pipelines[0].kind: 应为以下之一: 'inspection', 'penalty', 'credit_event'" in errors
    assert len(errors) == 7, errors
    text = "\n".join(errors)
    assert "hunter2" not in text
    assert not any(word in text for word in ("Input should", "Extra inputs", "Field required")), text


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, GOOD + "console: {zzz: 1}\n"))
    assert info.value.errors == [
        "console.zzz: 未知的配置项 zzz; 可用的配置项: host, port, secret, secret_file, secure_cookies, session_minutes, trusted_proxies"
    ]
