"""The ledger parts keep to SQL both backends run: a guard for parts added on other branches.

The store tests run every part against SQLite and PostgreSQL; this catches, by name, the SQLite
habits that would only fail there, in parts whose tests have not been parametrised yet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fusionbridge.store

STORE = Path(fusionbridge.store.__file__).parent
BACKEND_MODULES = {"sqlite.py", "postgres.py", "pg_sql.py", "migrations.py", "migrations_pg.py"}
"""Modules that speak one dialect on purpose."""
SQLITE_ONLY = {
    r"\bINSERT\s+OR\s+(REPLACE|IGNORE)\b": "use INSERT … ON CONFLICT (…) DO UPDATE / DO NOTHING",
    r"\bREPLACE\s+INTO\b": "use INSERT … ON CONFLICT (…) DO UPDATE",
    r"\bIS\s+NOT\s+(\?|'|\w+\.)": "use IS DISTINCT FROM (IS NOT only before NULL)",
    r"\?\d*\s+IS\s+(NOT\s+)?NULL": "PostgreSQL cannot type a bare NULL parameter: branch in Python",
    r"\bPRAGMA\b": "PRAGMAs belong in store/sqlite.py",
    r"\b(strftime|julianday|group_concat|json_group_array|ifnull)\(": (
        "SQLite function: compute in Python (timestamps are TEXT) or use a portable one"
    ),
    r"\blast_insert_rowid\(": "use Transaction.insert",
    r"SET\s+(\w+)\s*=\s*\1\s*[+-]": "qualify the column with its table inside ON CONFLICT",
    r'DO\s+UPDATE\s+SET[^"]*?\b(\w+)\s*=\s*\1\s*[+-]': (
        "qualify the column with its table inside ON CONFLICT"
    ),
}


def part_modules() -> list[Path]:
    return sorted(p for p in STORE.glob("*.py") if p.name not in BACKEND_MODULES)


@pytest.mark.parametrize("module", part_modules(), ids=lambda p: p.name)
def test_part_sql_is_portable(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    found = [
        f"{module.name}: `{match.group(0)}`: {advice}"
        for pattern, advice in SQLITE_ONLY.items()
        for match in re.finditer(pattern, text, flags=re.IGNORECASE)
    ]
    assert found == []


def test_the_guard_sees_each_habit() -> None:
    samples = [
        "INSERT OR REPLACE INTO t VALUES (?)",
        "WHERE a IS NOT ?1",
        "WHERE a IS NOT 'sending'",
        "WHERE a IS NOT excluded.a",
        "WHERE ?1 IS NULL OR a = ?1",
        "PRAGMA user_version",
        "SELECT strftime('%s', x)",
        "ON CONFLICT (a) DO UPDATE SET runs = runs + 1",
        "ON CONFLICT (a) DO UPDATE SET b = excluded.b,\n    runs = runs + 1",
    ]
    for sample in samples:
        assert any(re.search(p, sample, flags=re.IGNORECASE) for p in SQLITE_ONLY), sample
    fine = "ON CONFLICT (a) DO UPDATE SET runs = t.runs + 1, b = excluded.b WHERE c IS NULL"
    assert not any(re.search(p, fine, flags=re.IGNORECASE) for p in SQLITE_ONLY)
