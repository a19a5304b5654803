"""Defaults that depend on context: the per-environment ones and the last-resort config."""

from __future__ import annotations

from typing import Any, Final

from proxyapi.config.env import set_path

# Applied only where the file (or an environment variable) says nothing.
_ENVIRONMENT_DEFAULTS: Final = {
    "development": ((("logging", "format"), "text"),),
    "staging": (
        (("logging", "format"), "json"),
        (("app", "debug"), False),
        (("server", "debug"), False),
    ),
    "production": (
        (("logging", "format"), "json"),
        (("logging", "level"), "WARNING"),
        (("app", "debug"), False),
        (("server", "debug"), False),
    ),
}


def apply_environment_defaults(raw: dict[str, Any]) -> None:
    """Fill what ``app.environment`` implies: JSON logs and no debug outside development."""
    app = raw.get("app", {})
    environment = app.get("environment", "development") if isinstance(app, dict) else None
    for path, value in _ENVIRONMENT_DEFAULTS.get(str(environment).strip().lower(), ()):
        set_path(raw, path, value, keep=True)


def generated_default() -> dict[str, Any]:
    """The config used when no file exists and the bundled default is missing too."""
    return {
        "providers": [
            {
                "name": "openai",
                "type": "openai",
                "api_key_env": "OPENAI_API_KEY",
                "models": [
                    "gpt-4o-mini",
                    "gpt-4o",
                    "gpt-4.1-mini",
                    "gpt-3.5-turbo",
                    "text-embedding-3-small",
                ],
            }
        ]
    }
