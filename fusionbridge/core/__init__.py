"""The functional core: domain values and every rule that takes `now`; no I/O, no settings."""
