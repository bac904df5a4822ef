"""The operator's page (SPEC §13): a view model from the ledger, Jinja2 markup, server-drawn SVG."""
