"""Configuration: the ``config.yaml`` schema, its loading, and its error messages.

```python
loaded = load_config()            # LoadedConfig(config, source, warnings)
loaded.config.providers[0].base_url
```
"""

from proxyapi.config.legacy import (
    check_legacy_presence,
    get_migration_report,
    get_migration_status,
    load_config_with_legacy_support,
    migrate_specific_format,
    rollback_format,
)
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
    "check_legacy_presence",
    "config_json_schema",
    "format_config_error",
    "get_migration_report",
    "get_migration_status",
    "load_config",
    "load_config_with_legacy_support",
    "migrate_specific_format",
    "parse_rate",
    "parse_size",
    "rollback_format",
    "validate_config",
]
