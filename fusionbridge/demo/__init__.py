"""`fusionbridge demo`: both simulators, a temporary ledger and the real daemon, no credentials."""
