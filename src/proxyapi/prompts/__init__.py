"""Prompt templates (``templates:``): sandboxed Jinja2 files that render to chat requests."""

from __future__ import annotations

from proxyapi.prompts.templates import Prompt, PromptStore, Variable, build_chat_request

__all__ = ["Prompt", "PromptStore", "Variable", "build_chat_request"]
