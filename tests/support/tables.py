"""The shipped mapping tables (``mappings/``), copied where a test may edit them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from connectors.contract.mapping import TABLES, Mappings
from sync.mapping import files

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


class Tables:
    """A copy of the shipped tables; calling it gives the set in force (what ``Pipeline`` asks for)."""

    def __init__(self, directory: Path) -> None:
        self.directory = shutil.copytree(REPO_MAPPINGS, directory)
        self.current = files.load(self.directory)

    def __call__(self) -> Mappings:
        return self.current

    def put(self, table: str, **values: str) -> None:
        """Add (or replace, by key) a row, as an administrator would in Excel, and load the edited set."""
        spec = TABLES[table]
        path = self.directory / f"{table}.csv"
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        key = tuple(values[k] for k in spec.key)
        rows = [r for r in rows if tuple(r[k] for k in spec.key) != key]
        rows.append({c: values.get(c, "") for c in spec.header})
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(spec.header))
            writer.writeheader()
            writer.writerows(rows)
        self.current = files.load(self.directory)

    def set_item(self, code: str, *, municipal: str = "", hlwjg: str = "", kind: str = "inspection") -> None:
        """A row of items.csv for ``code`` (a blank column: not mapped for that system)."""
        self.put(
            "items",
            district_item_code=code,
            district_item_name="测试事项",
            kind=kind,
            municipal_item_code=municipal,
            hlwjg_item_code=hlwjg,
        )
