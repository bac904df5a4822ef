"""Daily records to REDEX, one request after another, by SPEC §10's rule for submissions.

The client POSTs each body once and repeats it only when it provably did not take effect
(`RedexClient.post_days`); this module turns each answer into one outcome per device and, after
a 422 that names some devices, sends the others again in a request of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fusionbridge.core.outcomes import Outcome, Pending
from fusionbridge.logs import get_logger
from fusionbridge.redex import daily_wire, wire
from fusionbridge.redex.client import RedexClient
from fusionbridge.redex.daily_wire import DeviceDays

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    """What became of one device's records in one request."""

    device: DeviceDays
    outcome: Outcome


BeforeSend = Callable[[Sequence[DeviceDays]], Awaitable[None]]
AfterSend = Callable[[Sequence[DeviceOutcome], tuple[int, str] | None], Awaitable[None]]
"""Called with the outcomes and REDEX's answer as received (HTTP status, body) if any."""


async def submit_days(
    client: RedexClient,
    requests: Sequence[Sequence[DeviceDays]],
    *,
    before_send: BeforeSend,
    after_send: AfterSend,
) -> list[DeviceOutcome]:
    """Send each request; a 422 re-sends the devices it did not name in a new request.

    `before_send` runs before every POST (the ledger logs the payload), `after_send` after its
    outcome is known, with the answer as received (kept as evidence, SPEC §15). Once a request
    ends `Pending` (REDEX unreachable or throttling past patience) the later ones are not
    tried: their days stay due for the next run.
    """
    outcomes: list[DeviceOutcome] = []
    for devices in requests:
        remaining = list(devices)
        while remaining:
            await before_send(remaining)
            # Should this raise (a refused credential, a cancelled task), the request stays open
            # in the ledger like a crash's: the next run sends its days once more.
            answer, received = await client.post_days(daily_wire.dumps_batch(remaining))
            done, remaining = _per_device(answer, remaining)
            await after_send(done, received)
            outcomes.extend(done)
            if isinstance(answer, Pending):
                return outcomes
    return outcomes


def _per_device(
    answer: wire.MonthlyAnswer, devices: list[DeviceDays]
) -> tuple[list[DeviceOutcome], list[DeviceDays]]:
    """Each device's outcome, and the devices to send again without those a 422 named."""
    decided, rest = wire.per_item(answer, devices)
    if rest:
        log.warning("redex.days_rejected", devices=len(decided), resending=len(rest))
    return [DeviceOutcome(device, outcome) for device, outcome in decided], rest
