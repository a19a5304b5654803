"""The `proxyapi` command line: serve, demo, simulate, config {validate,schema}.

Heavy modules are imported inside each command so `proxyapi --help` stays fast
and a command only pays for what it uses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="proxyapi",
    help="ProxyAPI: a self-hosted, OpenAI-compatible LLM gateway.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Validate the configuration or print its JSON Schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def main() -> None:
    """Entry point of the `proxyapi` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
