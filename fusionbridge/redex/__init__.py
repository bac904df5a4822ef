"""The REDEX public API v2 side: monthly-data payloads, token handling, rate-safe client."""
