"""faktory-core: a Faktory-compatible work server, client and worker, built from plugins."""

__version__ = "0.1.0"
#: The Faktory version we are wire-compatible with; reported in INFO and /health.
FAKTORY_VERSION = "1.10.0"

__all__ = ["FAKTORY_VERSION", "__version__"]
