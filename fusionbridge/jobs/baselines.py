"""The one lifetime-counter reading each daily inverter's running total starts from (SPEC §11).

Read during sync, right after the day values it is measured against were recorded: a device
source's `getDevRealKpi` `total_cap`, a plant source's `getStationRealKpi` `total_power`, one
call per batch, once per inverter in its life. The counter counts until now, today included,
so the opening total is the counter minus every day value the ledger then holds from the first
day on; the reading, its raw text and the result are kept and never change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

from fusionbridge.app import Runtime
from fusionbridge.core.inverters import ResolvedInverter
from fusionbridge.core.models import KpiRow, SourceKind, round_kwh
from fusionbridge.errors import RateLimitedError, TransientError
from fusionbridge.evidence.raw import RawResponse
from fusionbridge.logs import get_logger
from fusionbridge.store.day_submissions import Baseline

log = get_logger(__name__)

DEVICE_COUNTER = "total_cap"
PLANT_COUNTER = "total_power"


async def take_baselines(rt: Runtime, inverters: Sequence[ResolvedInverter]) -> int:
    """Read the lifetime counter of every daily inverter that has days but no baseline yet."""
    kept = await rt.ledger.days.baselines()
    waiting = [inv for inv in inverters if inv.target.daily and inv.remote_inv_id not in kept]
    if not waiting:
        return 0
    values = await rt.ledger.days.day_values({inv.source for inv in waiting})
    ready = []
    for inv in waiting:
        start = inv.target.start_month.first_day() if inv.target.start_month else None
        if any(start is None or day >= start for day in values.get(inv.source, {})):
            ready.append(inv)
    devices = [inv.device for inv in ready if inv.device is not None]
    plants = sorted({inv.source.id for inv in ready if inv.source.kind is SourceKind.PLANT})
    rows: dict[str, KpiRow] = {}
    answers: list[RawResponse] = []  # the counter's answers as received (SPEC §15)
    try:
        if devices:
            rows |= {r.object_id: r for r in await rt.fusionsolar.device_real_kpi(devices, answers)}
        if plants:
            rows |= {r.object_id: r for r in await rt.fusionsolar.plant_real_kpi(plants, answers)}
    except (TransientError, RateLimitedError) as exc:
        # The day values are in; the counter can wait for the next sync (their days wait too).
        log.warning("sync.counter_unavailable", inverters=len(ready), error=str(exc))
    taken: dict[str, str] = {}
    for inv in ready:
        key = PLANT_COUNTER if inv.source.kind is SourceKind.PLANT else DEVICE_COUNTER
        row = rows.get(inv.source.id)
        counter = row.values.get(key) if row is not None else None
        if row is None or counter is None:
            log.warning("sync.counter_missing", inverter=inv.remote_inv_id, key=key)
            continue
        start = inv.target.start_month.first_day() if inv.target.start_month else None
        known = {
            day: round_kwh(kwh)
            for day, (kwh, _) in values[inv.source].items()
            if start is None or day >= start
        }
        known_kwh = sum(known.values(), Decimal("0.000"))
        baseline = Baseline(
            remote_inv_id=inv.remote_inv_id,
            source=str(inv.source),
            anchor_day=min(known),
            opening_kwh=round_kwh(counter) - known_kwh,
            counter_kwh=counter,
            counter_key=key,
            raw=json.dumps({key: row.raw.get(key)}),
            known_kwh=known_kwh,
            read_at=row.bucket_start,
        )
        if await rt.ledger.days.save_baseline(baseline):
            taken[inv.remote_inv_id] = inv.source.id
            log.info(
                "sync.baseline_taken",
                inverter=inv.remote_inv_id,
                counter_kwh=str(counter),
                opening_kwh=str(baseline.opening_kwh),
                anchor_day=baseline.anchor_day.isoformat(),
            )
    if taken:
        await rt.ledger.day_evidence.keep_counter_answers(answers, taken)
    return len(taken)
