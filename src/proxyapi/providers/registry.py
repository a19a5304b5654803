"""Which adapter speaks which provider ``type``, by import string.

Adapters are imported on first use, so a gateway that routes only to OpenAI never
imports the Anthropic translator. A ``type`` may also be a ``module:Class`` import
string naming a user's own adapter.
"""

from __future__ import annotations

import importlib

from proxyapi.errors import ConfigError
from proxyapi.providers.base import ProviderAdapter

ADAPTERS: dict[str, str] = {
    "openai": "proxyapi.providers.openai:OpenAIAdapter",
    "perplexity": "proxyapi.providers.openai:OpenAIAdapter",
    "grok": "proxyapi.providers.openai:OpenAIAdapter",
    "openrouter": "proxyapi.providers.openai:OpenAIAdapter",
    "blackbox": "proxyapi.providers.openai:OpenAIAdapter",
    "openai_compatible": "proxyapi.providers.openai:OpenAIAdapter",
    "anthropic": "proxyapi.providers.anthropic:AnthropicAdapter",
    "azure_openai": "proxyapi.providers.azure:AzureOpenAIAdapter",
    "cohere": "proxyapi.providers.cohere:CohereAdapter",
    "google": "proxyapi.providers.google:GoogleAdapter",
}


def import_from_string(target: str) -> object:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError([f"'{target}' is not an import string of the form 'module:Class'"])
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError([f"cannot import adapter '{target}': {exc}"]) from exc


def load_adapter(provider_type: str) -> ProviderAdapter:
    """A fresh adapter instance for ``provider_type``; adapters are stateless and cheap."""
    target = ADAPTERS.get(provider_type, provider_type if ":" in provider_type else "")
    if not target:
        raise ConfigError([f"provider type '{provider_type}' has no adapter yet"])
    adapter_class = import_from_string(target)
    if not callable(adapter_class):
        raise ConfigError([f"adapter '{target}' is not a class"])
    adapter: ProviderAdapter = adapter_class()
    return adapter
