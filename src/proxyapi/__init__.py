"""ProxyAPI: a self-hosted, OpenAI-compatible LLM gateway."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("proxyapi")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
