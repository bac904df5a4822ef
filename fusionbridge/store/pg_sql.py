"""The ledger parts' SQL (SQLite spelling) as psycopg queries: a closed, tested vocabulary.

Translated: `?` and `?N` placeholders (to named psycopg ones, so `?1` may repeat), a literal
`%`, `json_each(?N)` over a bound JSON array and `json_extract(x, '$[N]')` on its elements.
Anything else is written in the subset both databases share (ON CONFLICT … DO UPDATE,
RETURNING, IS DISTINCT FROM, TEXT timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

_JSON_EACH = re.compile(r"\bjson_each\((\?\d*)\)")
_JSON_EXTRACT = re.compile(r"\bjson_extract\(([\w.]+),\s*'\$\[(\d+)\]'\)")
_NUMBERED = re.compile(r"\?(\d*)")


@lru_cache(maxsize=512)
def translate(sql: str) -> tuple[str, int]:
    """The psycopg form of `sql` and how many parameters it takes."""
    sql = _JSON_EACH.sub(r"json_array_elements_text(CAST(\1 AS json))", sql)
    sql = _JSON_EXTRACT.sub(r"(CAST(\1 AS json) ->> \2)", sql)
    out: list[str] = []
    highest = 0
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":  # a literal or a quoted name: copied verbatim, doubled quotes included
            end = i + 1
            while end < n and not (sql[end] == char and sql[end + 1 : end + 2] != char):
                end += 2 if sql[end] == char else 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif char == "?":
            match = _NUMBERED.match(sql, i)
            assert match is not None  # noqa: S101 (the pattern matches any "?")
            number = int(match.group(1)) if match.group(1) else highest + 1
            highest = max(highest, number)
            out.append(f"%(p{number})s")
            i = match.end()
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out), highest


def bind(count: int, params: Sequence[Any]) -> dict[str, Any]:
    """Positional parameters as the named ones `translate` produced."""
    if len(params) != count:
        raise ValueError(f"the statement takes {count} parameters, {len(params)} given")
    return {f"p{number}": value for number, value in enumerate(params, start=1)}
