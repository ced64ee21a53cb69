"""``zhifa-sync mappings check | export``: problems reported as file:line: column, on real files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook, load_workbook

from connectors.contract.mapping import MappingFileError
from simulators import district, hlwjg, municipal
from simulators.server import serving
from sync.mapping import files as mapping_files
from sync.mapping.check import check_offline
from zhifa_sync.cli import main as cli

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def maps_dir(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(REPO_MAPPINGS, target, ignore=shutil.ignore_patterns("*.md"))
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the line starting with ``old`` (saved as Excel does: BOM, CRLF); returns its line number."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith(old))
    lines[number - 1] = new
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return number


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    config = list(args[:2]) if args[:1] == ("-c",) else []
    rc = cli([*config, "mappings", "check", *args[len(config) :]])
    return rc, capsys.readouterr().out.splitlines()


def test_shipped_tables_pass_the_check(maps_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's tables have no error and no warning; exit code 0."""
    rc, out = check(capsys, "--dir", str(maps_dir), "--strict")
    assert rc == 0, out
    assert out[-1].endswith("错误 0 条, 提示 0 条, 可以使用")


def test_excel_csv_with_bom_and_crlf_loads(maps_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A table saved by Excel as "CSV UTF-8" (BOM, CRLF line ends) loads and checks clean."""
    path = maps_dir / "officers.csv"
    edit(path, "u1001,", "u1001,黎文,12011619001")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfdistrict_user_id,") and b"\r\n" in path.read_bytes()
    assert mapping_files.load(maps_dir).get("officers", "u1001", "cert_no") == "12011619001"
    assert check(capsys, "--dir", str(maps_dir))[0] == 0


def test_xlsx_table_with_numeric_cells_loads(maps_dir: Path) -> None:
    """An .xlsx table loads; numbers Excel stored as numbers come back without ``.0``."""
    (maps_dir / "items.csv").unlink()
    wb = Workbook()
    ws = wb.worksheets[0]
    ws.append(["district_item_code", "district_item_name", "kind", "municipal_item_code", "hlwjg_item_code"])
    ws.append(
        ["QZJC-0001", "对危险化学品生产企业的监督检查", "inspection", "120000-AQJC-0001", 12000000000001]
    )
    ws.append(
        ["QZJC-0002", "对危险化学品经营企业的监督检查", "inspection", "120000-AQJC-0002", 12000000000002.0]
    )
    wb.save(maps_dir / "items.xlsx")
    maps = mapping_files.load(maps_dir)
    assert maps.get("items", "QZJC-0002", "hlwjg_item_code") == "12000000000002"
    assert maps.file_of("items") == "items.xlsx"


def test_export_writes_a_workbook_that_loads_as_the_set(
    maps_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``mappings export --xlsx`` writes a sheet per table; as ``mappings.xlsx`` it loads the same rows."""
    out = tmp_path / "导出.xlsx"
    assert cli(["mappings", "export", "--dir", str(maps_dir), "--xlsx", str(out)]) == 0
    assert "已导出 9 张表" in capsys.readouterr().out
    wb = load_workbook(out)
    sheet = wb["officers"]
    assert [c.value for c in sheet[1]] == ["district_user_id", "name", "cert_no"]
    assert sheet.freeze_panes == "A2" and sheet.column_dimensions["C"].width >= 11
    assert wb["penalty_types"]["A2"].value == "01"  # text, leading zero kept
    only_workbook = tmp_path / "wb"
    only_workbook.mkdir()
    shutil.copy(out, only_workbook / "mappings.xlsx")
    original, loaded = mapping_files.load(maps_dir), mapping_files.load(only_workbook)
    assert loaded.file_of("officers") == "mappings.xlsx[officers]"
    for name, table in original.tables.items():
        assert {k: r.values for k, r in loaded.tables[name].rows.items()} == {
            k: r.values for k, r in table.rows.items()
        }
    shutil.copy(maps_dir / "officers.csv", only_workbook / "officers.csv")
    with pytest.raises(MappingFileError) as both:
        mapping_files.load(only_workbook)
    assert "officers.csv: 同时存在 officers.csv 和 mappings.xlsx 的工作表 officers: 请只保留一个" in str(
        both.value
    )


def test_duplicate_key_is_reported_with_file_line_and_column(
    maps_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key given twice with different targets: the second line, the key column, what to do; exit 1."""
    path = maps_dir / "items.csv"
    line = edit(
        path,
        "QZJC-0003,",
        "QZJC-0002,对危险化学品经营企业的监督检查,inspection,120000-AQJC-0003,12000000000003",
    )
    rc, out = check(capsys, "--dir", str(maps_dir))
    assert rc == 1
    assert (
        f"items.csv:{line}: district_item_code: 键 QZJC-0002 重复 (第 3 行已有) 且映射到不同的值"
        " (municipal_item_code 120000-AQJC-0002 ≠ 120000-AQJC-0003; hlwjg_item_code 12000000000002 ≠ 12000000000003):"
        " 一个代码只能对应一个目标, 请核对后删除错误的一行"
    ) in out


def test_blank_cells_are_reported_with_file_line_and_column(
    maps_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A blank target cell is a warning (the row parks for that system); a blank kind is an error."""
    line = edit(maps_dir / "officers.csv", "u1002,", "u1002,冯洋艳,")
    rc, out = check(capsys, "--dir", str(maps_dir))
    assert rc == 0
    assert (
        f"officers.csv:{line}: cert_no: 提示: u1002 的执法证号为空: 市系统、互联网+监管需要它, 用到该行的记录会进入"
        "“待映射”; 请填写, 或确认该系统暂不同步"
    ) in out
    assert check(capsys, "--dir", str(maps_dir), "--strict")[0] == 1
    item_line = edit(
        maps_dir / "items.csv",
        "QZJC-0004,",
        "QZJC-0004,对烟花爆竹经营单位的监督检查,,120000-AQJC-0004,12000000000004",
    )
    rc, out = check(capsys, "--dir", str(maps_dir))
    assert rc == 1 and f"items.csv:{item_line}: kind: 事项类别为空: 请填写" in out


def test_malformed_codes_are_reported_per_column(maps_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item codes, USCC, region, 执法证号, 检查实施清单编码 and code-list values are checked per column."""
    item = edit(
        maps_dir / "items.csv",
        "QZJC-0001,",
        "QZJC-0001,对危险化学品生产企业的监督检查,inspection,120000-AQJC-12,1.2E+13",
    )
    dept = edit(
        maps_dir / "departments.csv",
        "BH-JD-02,",
        "BH-JD-02,滨海新区塘沽街道综合执法队,YJJ-BH-02,12011,天津市滨海新区人民政府塘沽街道办事处,111201162X5CK12X2A,120116JD02",
    )
    officer = edit(maps_dir / "officers.csv", "u1003,", "u1003,易文梅,ABC")
    icode = edit(
        maps_dir / "hlwjg_check_implement.csv",
        "QZJC-0001,111201162X5CK12X2G,",
        "QZJC-0001,111201162X5CK12X2G,111201162X5CK12X2G70000001",
    )
    ptype = edit(maps_dir / "penalty_types.csv", "03,", "03,罚款,FKK,罚款,03")
    itype = edit(maps_dir / "inspection_types.csv", "05,", "5,复查,FC,9")
    rc, out = check(capsys, "--dir", str(maps_dir))
    assert rc == 1
    expected = [
        f"items.csv:{item}: municipal_item_code: 市系统事项编码 120000-AQJC-12 格式不对, 应为区划代码-字母-4位序号, 如 120000-AQJC-0012",
        f"items.csv:{item}: hlwjg_item_code: 监管事项目录编码 1.2E+13 Excel 把它当作数字改写了 (科学计数法): 请把该列设为“文本”格式后重新输入",
        f"departments.csv:{dept}: region_code: 行政区划代码 12011 格式不对: 行政区划代码应为6位数字",
        f"departments.csv:{dept}: agency_uscc: 实施机构统一社会信用代码 111201162X5CK12X2A 不是有效的统一社会信用代码 (GB 32100): 校验位错误 (应为 G)",
        f"officers.csv:{officer}: cert_no: 执法证号 ABC 格式不对, 应为6 位行政区划代码开头、共 8–20 位数字或大写字母",
        f"hlwjg_check_implement.csv:{icode}: check_icode: 检查实施清单编码 111201162X5CK12X2G70000001 的第 19 位应为 1–5 (实际 7): 请核对",
        f"penalty_types.csv:{ptype}: municipal_code: 市系统处罚类别 cflb FKK 不在市系统的代码表中 (可选: JG 警告, TBPP 通报批评, FK 罚款,",
        f"inspection_types.csv:{itype}: district_code: 区平台检查类型 5 不在区平台的代码表中; 是否应为 05? (Excel 会去掉前导 0: 请把该列设为“文本”格式)",
    ]
    for text in expected:
        assert any(line.startswith(text) for line in out), (text, out)


def test_ambiguous_reverse_mapping_is_an_error(maps_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two district codes on one municipal code cannot be mapped back (flow 3): the later row is named."""
    line = edit(maps_dir / "officers.csv", "u1005,", "u1005,某人,12011619004")
    rc, out = check(capsys, "--dir", str(maps_dir))
    assert rc == 1
    assert (
        f"officers.csv:{line}: cert_no: 12011619004 同时对应 u1004 (第 5 行) 和 u1005: 市系统的记录回传区平台时"
        " 无法确定是哪一个, 请核对后只保留一行对应该代码"
    ) in out


def test_offline_errors_block_and_warnings_do_not(maps_dir: Path) -> None:
    """``check_offline`` separates what refuses a reload (errors) from what only informs (warnings)."""
    edit(maps_dir / "officers.csv", "u1002,", "u1002,冯洋艳,")
    report = check_offline(mapping_files.load(maps_dir))
    assert report.ok and len(report.warnings) == 1


@pytest.fixture
def live_config(tmp_path: Path, maps_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A configuration pointing at the district and municipal simulators on loopback and a 前置库 file."""
    exchange = f"sqlite:///{tmp_path / 'hlwjg.db'}"
    hlwjg.open_exchange(exchange).dispose()
    monkeypatch.setenv("ZS_DISTRICT_PASSWORD", district.DISTRICT_PASSWORD)
    monkeypatch.setenv("ZS_MUNICIPAL_SECRET", municipal.MUNICIPAL_APP_SECRET)
    monkeypatch.setenv("ZS_HLWJG_URL", exchange)
    with (
        serving(district.create_app(district.DistrictState())) as d,
        serving(municipal.create_app(municipal.MunicipalState())) as m,
    ):
        path = tmp_path / "zhifa-sync.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "database": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
                    "mappings_dir": str(maps_dir),
                    "systems": {
                        "district": {
                            "type": "district",
                            "base_url": d.url,
                            "username": district.DISTRICT_USER,
                            "password": {"env": "ZS_DISTRICT_PASSWORD"},
                        },
                        "municipal": {
                            "type": "municipal",
                            "base_url": m.url,
                            "app_key": municipal.MUNICIPAL_APP_KEY,
                            "app_secret": {"env": "ZS_MUNICIPAL_SECRET"},
                            "region_code": "120116",
                        },
                        "hlwjg": {"type": "hlwjg", "url": {"env": "ZS_HLWJG_URL"}},
                    },
                    "pipelines": [],
                },
                allow_unicode=True,
            ),
            encoding="utf-8",
        )
        yield path


def test_live_check_reports_codes_the_catalogues_do_not_have(
    live_config: Path, maps_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--live: a municipal item code missing from /openapi/dict/jcsx and an officer past VALID_TO, each with
    file, line and column; the untouched rows pass against all three systems."""
    rc, out = check(capsys, "-c", str(live_config), "--live")
    assert rc == 0, out
    item = edit(
        maps_dir / "items.csv",
        "QZJC-0007,",
        "QZJC-0007,对有色金属企业的监督检查,inspection,120000-AQJC-0999,12000000000007",
    )
    officer = edit(maps_dir / "officers.csv", "u1006,", "u1006,过期甲,12011629901")
    rc, out = check(capsys, "-c", str(live_config), "--live")
    assert rc == 1
    assert (
        f"items.csv:{item}: municipal_item_code: 市系统事项编码 120000-AQJC-0999 不在市系统事项字典 (/openapi/dict/jcsx)"
        " 中: 市系统会以 E2003 拒收; 请向市局核实正确编码后修改"
    ) in out
    assert (
        f"officers.csv:{officer}: cert_no: 执法证号 12011629901 在互联网+监管的有效期已于 2020-12-31 届满 (VALID_TO):"
        " 视为未注册, 请办理延期, 或改由其他在册执法人员"
    ) in out
    assert any(
        line.startswith(f"officers.csv:{officer}: cert_no: 执法证号 12011629901 未在市系统注册")
        for line in out
    )
    assert any(
        line.startswith(f"officers.csv:{officer}: cert_no: 提示: 区平台登记 u1006 的执法证号是")
        for line in out
    )
