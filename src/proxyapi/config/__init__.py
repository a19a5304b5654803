"""Configuration: the ``config.yaml`` schema, its loading, and its error messages.

```python
loaded = load_config()            # LoadedConfig(config, source, warnings)
loaded.config.providers[0].base_url
```
"""

from proxyapi.config.loader import LoadedConfig, load_config, validate_config
from proxyapi.config.messages import format_config_error
from proxyapi.config.models import (
    AppConfig,
    AuthConfig,
    Config,
    HttpClientConfig,
    ServerConfig,
)
from proxyapi.config.provider import ProviderConfig
from proxyapi.config.schema import config_json_schema
from proxyapi.config.units import parse_rate, parse_size

__all__ = [
    "AppConfig",
    "AuthConfig",
    "Config",
    "HttpClientConfig",
    "LoadedConfig",
    "ProviderConfig",
    "ServerConfig",
    "config_json_schema",
    "format_config_error",
    "load_config",
    "parse_rate",
    "parse_size",
    "validate_config",
]
