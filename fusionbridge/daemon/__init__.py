"""The long-running process: lifecycle, schedule, HTTP endpoints, status view, metrics, systemd."""
