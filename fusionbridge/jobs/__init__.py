"""The two use cases: sync (FusionSolar → ledger) and push (ledger → REDEX), both idempotent.

Each run recomputes what to do from the ledger and `now`, so a failed or killed run is simply
run again. REDEX does not document what a re-sent month does; fusionbridge assumes the last
submission for a (RemoteInvId, Year, month) overwrites the earlier one. That assumption lives
here: a changed month within the correction window is re-sent in full, never as a delta, and
a request that may or may not have reached REDEX (unconfirmed, or cut by a crash) is sent once
more rather than left in doubt. The same holds for days of daily-registered inverters (SPEC
§11): a re-sent (RemoteInvId, day) is assumed to replace the earlier record, period and
accumulated total alike, so a changed day goes out again with every later day whose running
total moved with it (jobs.push_daily).
"""
