"""The SQLite ledger: pacing, inventory, energy readings, submissions and job runs."""

from fusionbridge.store.ledger import Ledger
from fusionbridge.store.migrations import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Ledger"]
