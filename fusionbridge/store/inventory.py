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
from fusionbridge.store.database import Database


@dataclass(frozen=True, slots=True)
class Inventory:
    """Plants and devices from the last refresh; `refreshed_at` is None before the first one."""

    plants: tuple[Plant, ...]
    devices: tuple[Device, ...]
    refreshed_at: datetime | None


class InventoryRecords:
    """Replaced as a whole, so a reader never sees half of one listing and half of another."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def save(self, plants: Iterable[Plant], devices: Iterable[Device], at: datetime) -> None:
        plant_rows = [
            (p.code, p.name, optional_decimal_text(p.capacity_kwp), p.grid_connection_date)
            for p in plants
        ]
        device_rows = [(d.id, d.plant_code, d.type_id, d.name, d.esn, d.model) for d in devices]
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM plants")
            await tx.execute("DELETE FROM devices")
            await tx.executemany(
                """INSERT INTO plants (code, name, capacity_kwp, grid_connection_date)
                VALUES (?, ?, ?, ?)""",
                plant_rows,
            )
            await tx.executemany(
                """INSERT INTO devices (id, plant_code, type_id, name, esn, model)
                VALUES (?, ?, ?, ?, ?, ?)""",
                device_rows,
            )
            await tx.execute(
                """INSERT INTO inventory_refresh (id, refreshed_at) VALUES (1, ?)
                ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at""",
                (instant_text(at),),
            )

    async def load(self) -> Inventory:
        async with self._db.snapshot() as tx:
            plants = await tx.fetchall(
                "SELECT code, name, capacity_kwp, grid_connection_date FROM plants ORDER BY code"
            )
            devices = await tx.fetchall(
                "SELECT id, plant_code, type_id, name, esn, model FROM devices ORDER BY id"
            )
            refresh = await tx.fetchone("SELECT refreshed_at FROM inventory_refresh WHERE id = 1")
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
