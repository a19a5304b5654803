"""The JSON Schema of ``config.yaml``, for editors and ``proxyapi config schema``."""

from __future__ import annotations

from typing import Any, Final

from proxyapi.config.models import Config

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def config_json_schema() -> dict[str, Any]:
    """The schema of what a user may write (validation mode: sizes as strings, aliases...).

    It checks shapes and types only: cross-field rules (unique names, URLs per
    provider type) are the loader's, so a file can pass the schema and still
    fail ``proxyapi config validate``.
    """
    schema = Config.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "ProxyAPI configuration",
        **{key: value for key, value in schema.items() if key not in ("title", "$schema")},
    }
