"""fusionbridge: Huawei FusionSolar generation → durable ledger → REDEX I-REC monthly data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fusionbridge")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
