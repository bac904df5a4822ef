"""The ledger (SQLite or PostgreSQL): pacing, inventory, energy readings, submissions, job runs."""

from fusionbridge.core.outcomes import Failed, Pending, Rejected, Sent, Unconfirmed
from fusionbridge.store.energy import ReadingChange
from fusionbridge.store.inventory import Inventory
from fusionbridge.store.job_runs import JobRun
from fusionbridge.store.ledger import Ledger
from fusionbridge.store.migrations import SCHEMA_VERSION
from fusionbridge.store.submissions import (
    ItemOutcome,
    PushRequest,
    RequestItem,
    SubmissionRecord,
)

__all__ = [
    "SCHEMA_VERSION",
    "Failed",
    "Inventory",
    "ItemOutcome",
    "JobRun",
    "Ledger",
    "Pending",
    "PushRequest",
    "ReadingChange",
    "Rejected",
    "RequestItem",
    "Sent",
    "SubmissionRecord",
    "Unconfirmed",
]
