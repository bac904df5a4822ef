"""I-REC deadlines: both halves of the year, the year boundary, overrides, days left."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fusionbridge.core.deadlines import days_left, half_key, issue_deadline, rolling_deadline
from fusionbridge.core.models import Month
from fusionbridge.errors import ConfigError
from fusionbridge.settings import load_settings


@pytest.mark.parametrize(
    ("month", "deadline"),
    [
        ("2025-01", date(2026, 5, 31)),
        ("2025-06", date(2026, 5, 31)),  # last month of the first half
        ("2025-07", date(2026, 9, 30)),  # first month of the second half
        ("2025-12", date(2026, 9, 30)),  # December: the deadline is in the year after next's...
        ("2026-01", date(2027, 5, 31)),  # ... and January, one month later, a year later again
        ("2024-02", date(2025, 5, 31)),  # leap year February is no different
    ],
)
def test_rolling_rule(month: str, deadline: date) -> None:
    assert rolling_deadline(Month.parse(month)) == deadline
    assert issue_deadline(Month.parse(month)) == deadline


def test_half_keys() -> None:
    assert half_key(Month(2025, 6)) == "2025-H1"
    assert half_key(Month(2025, 7)) == "2025-H2"


def test_overrides_month_beats_half_beats_rule() -> None:
    overrides = {"2025-H2": date(2026, 12, 31), "2025-08": date(2027, 1, 15)}
    assert issue_deadline(Month(2025, 7), overrides) == date(2026, 12, 31)
    assert issue_deadline(Month(2025, 8), overrides) == date(2027, 1, 15)
    assert issue_deadline(Month(2025, 6), overrides) == date(2026, 5, 31)  # other half: the rule
    assert issue_deadline(Month(2026, 7), overrides) == date(2027, 9, 30)  # other year: the rule


@pytest.mark.parametrize(
    ("today", "left"),
    [
        (date(2026, 5, 31), 0),
        (date(2026, 5, 1), 30),
        (date(2025, 12, 31), 151),  # across the year boundary
        (date(2026, 6, 1), -1),
    ],
)
def test_days_left(today: date, left: int) -> None:
    assert days_left(date(2026, 5, 31), today) == left


CONFIG = """
timezone = "Europe/Amsterdam"
[fusionsolar]
username = "api-user"
system_code = "toml-secret-code"
[redex]
base_url = "https://uat-api.redex.eco/"
access_token = "toml-token"
"""


def test_overrides_come_from_the_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "fusionbridge.toml"
    path.write_text(
        CONFIG + '[irec]\ndeadlines = { "2025-H2" = 2026-12-31, "2026-03" = "2027-06-30" }\n'
    )
    settings = load_settings(path)
    assert settings.irec.deadlines == {"2025-H2": date(2026, 12, 31), "2026-03": date(2027, 6, 30)}
    assert issue_deadline(Month(2025, 9), settings.irec.deadlines) == date(2026, 12, 31)


@pytest.mark.parametrize(
    "table", ['{ "2025-H3" = 2026-12-31 }', '{ "2025-13" = 2026-12-31 }', '{ "2025-H1" = "soon" }']
)
def test_bad_overrides_are_config_errors_naming_the_table(tmp_path: Path, table: str) -> None:
    path = tmp_path / "fusionbridge.toml"
    path.write_text(CONFIG + f"[irec]\ndeadlines = {table}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert all(p.startswith("irec.deadlines") for p in caught.value.problems), caught.value.problems
