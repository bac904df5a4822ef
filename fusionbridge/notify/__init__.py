"""Notifications (SPEC §15): pure event detection, Apprise delivery, once per event."""
