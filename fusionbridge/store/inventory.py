"""The cached FusionSolar inventory: plants and devices as last listed, and when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.core.models import Device, Plant
from fusionbridge.store.columns import (
    instant_text,
    optional_decimal,
    optional_decimal_text,
    optional_instant,
)
from fusionbridge.store.database import Database, Transaction
from fusionbridge.store.leases import DEFAULT_ACCOUNT


@dataclass(frozen=True, slots=True)
class Inventory:
    """Plants and devices from the last refresh; `refreshed_at` is None before the first one."""

    plants: tuple[Plant, ...]
    devices: tuple[Device, ...]
    refreshed_at: datetime | None


class InventoryRecords:
    """One account's listing, replaced as a whole: a reader never sees half of two listings."""

    def __init__(self, db: Database, clock: Clock, account: str = DEFAULT_ACCOUNT) -> None:
        self._db = db
        self.clock = clock
        self.account = account

    async def save(self, plants: Iterable[Plant], devices: Iterable[Device], at: datetime) -> None:
        plant_rows = [
            (
                self.account,
                p.code,
                p.name,
                optional_decimal_text(p.capacity_kwp),
                p.grid_connection_date,
            )
            for p in plants
        ]
        device_rows = [
            (self.account, d.id, d.plant_code, d.type_id, d.name, d.esn, d.model) for d in devices
        ]
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM plants WHERE account = ?", (self.account,))
            await tx.execute("DELETE FROM devices WHERE account = ?", (self.account,))
            await tx.executemany(
                """INSERT INTO plants (account, code, name, capacity_kwp, grid_connection_date)
                VALUES (?, ?, ?, ?, ?)""",
                plant_rows,
            )
            await tx.executemany(
                """INSERT INTO devices (account, id, plant_code, type_id, name, esn, model)
                VALUES (?, ?, ?, ?, ?, ?, ?)""",
                device_rows,
            )
            await tx.execute(
                """INSERT INTO inventory_refresh (account, refreshed_at) VALUES (?, ?)
                ON CONFLICT (account) DO UPDATE SET refreshed_at = excluded.refreshed_at""",
                (self.account, instant_text(at)),
            )

    async def load(self) -> Inventory:
        """This account's listing, as the jobs map inverters to devices with it."""
        async with self._db.snapshot() as tx:
            return await _load(tx, self.account)

    async def load_every_account(self) -> Inventory:
        """Every account's plants and devices (for the page, /status and evidence)."""
        async with self._db.snapshot() as tx:
            return await _load(tx, EVERY_ACCOUNT)


EVERY_ACCOUNT = "*"
"""Not an account name (`[a-z0-9-]+`): asks `_load` for every account's rows."""


async def _load(tx: Transaction, account: str) -> Inventory:
    params = (account, account)
    plants = await tx.fetchall(
        """SELECT code, name, capacity_kwp, grid_connection_date FROM plants
        WHERE account = ? OR ? = '*' ORDER BY code""",
        params,
    )
    devices = await tx.fetchall(
        """SELECT id, plant_code, type_id, name, esn, model FROM devices
        WHERE account = ? OR ? = '*' ORDER BY id""",
        params,
    )
    refresh = await tx.fetchone(
        """SELECT min(refreshed_at) AS refreshed_at FROM inventory_refresh
        WHERE account = ? OR ? = '*'""",
        params,
    )
    return Inventory(
        plants=tuple(
            Plant(
                code=row["code"],
                name=row["name"],
                capacity_kwp=optional_decimal(row["capacity_kwp"]),
                grid_connection_date=row["grid_connection_date"],
            )
            for row in plants
        ),
        devices=tuple(
            Device(
                id=row["id"],
                plant_code=row["plant_code"],
                type_id=row["type_id"],
                name=row["name"],
                esn=row["esn"],
                model=row["model"],
            )
            for row in devices
        ),
        refreshed_at=optional_instant(None if refresh is None else refresh["refreshed_at"]),
    )
