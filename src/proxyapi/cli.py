"""The ``proxyapi`` command line: serve, demo, simulate, config {validate,schema}, keys.

Heavy modules are imported inside each command so ``proxyapi --help`` stays fast
and a command only pays for what it uses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from proxyapi.config.loader import LoadedConfig

app = typer.Typer(
    name="proxyapi",
    help="ProxyAPI: a self-hosted, OpenAI-compatible LLM gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(
    help="Validate the configuration or print its JSON Schema.", no_args_is_help=True
)
app.add_typer(config_app, name="config")
keys_app = typer.Typer(
    help="Make and hash API keys for auth.api_keys / hashed_keys.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (default: discovery order)."),
]


def load_or_exit(path: Path | None) -> LoadedConfig:
    """Load and validate the configuration; on failure print the seed's report, exit 1."""
    from proxyapi.config.loader import format_config_error, load_config
    from proxyapi.errors import ConfigError

    try:
        loaded = load_config(path)
    except ConfigError as error:
        typer.echo(format_config_error(error), err=True)
        raise typer.Exit(code=1) from None
    for warning in loaded.warnings:
        typer.echo(f"⚠️  {warning}", err=True)
    return loaded


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (server.port).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (server.workers).")] = None,
) -> None:
    """Run the gateway (uvicorn with uvloop and httptools)."""
    loaded = load_or_exit(config)
    run_server(loaded, host=host, port=port, workers=workers)


def run_server(
    loaded: LoadedConfig, *, host: str | None, port: int | None, workers: int | None
) -> None:
    settings = loaded.config
    server = settings.server
    worker_count = workers or server.workers
    if worker_count > 1 and settings.metrics.enabled:
        # Before prometheus-client is first imported: workers share their metrics here.
        share_metrics_between_workers()
    import uvicorn

    from proxyapi.app import build_app
    from proxyapi.observability.logging import configure_from
    from proxyapi.observability.metrics import Metrics, serve_metrics

    if Path(loaded.source).is_file():
        # Workers load the configuration themselves: make them load this one.
        os.environ["PROXY_API_CONFIG_FILE"] = str(Path(loaded.source).resolve())
    configure_from(settings)
    metrics = Metrics(settings.app.version) if settings.metrics.enabled else None
    prometheus = settings.metrics.prometheus
    if metrics is not None and prometheus.enabled and prometheus.port is not None:
        serve_metrics(metrics, prometheus.port, host or server.host)
    target: object = (
        build_app(settings, metrics) if worker_count == 1 else "proxyapi.app:create_app"
    )
    uvicorn.run(
        target,  # type: ignore[arg-type]
        factory=worker_count > 1,
        host=host or server.host,
        port=port or server.port,
        workers=worker_count,
        loop="uvloop",
        http="httptools",
        ssl_certfile=server.ssl_certfile,
        ssl_keyfile=server.ssl_keyfile,
        log_level=settings.logging.level.lower(),
        access_log=False,
        server_header=False,
        # X-Forwarded-For is read by the guard, from server.trusted_proxies only.
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )


def share_metrics_between_workers() -> None:
    """Point prometheus-client's multiprocess mode at an empty directory.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used (and emptied: values
    left by an earlier run would be added to this one's); else a fresh temporary one.
    """
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="proxyapi-metrics-")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8000,
    simulator_port: Annotated[int, typer.Option(help="Simulator port.")] = 8901,
) -> None:
    """Run the gateway with a demo provider: the simulator, or OpenAI if OPENAI_API_KEY is set."""
    from proxyapi.demo import run_demo

    run_demo(port=port, simulator_port=simulator_port)


@app.command()
def simulate(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8901,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Simulator knobs (YAML).")
    ] = None,
) -> None:
    """Run the provider simulator: a fake upstream speaking each provider's real wire format."""
    from proxyapi.simulator.server import load_settings, run

    run(host, port, load_settings(str(config) if config else None))


@config_app.command("validate")
def config_validate(
    file: Annotated[Path | None, typer.Argument(help="File to check (default: discovery).")] = None,
) -> None:
    """Validate a configuration file; exit 1 with every problem listed if it is invalid."""
    loaded = load_or_exit(file)
    providers = loaded.config.providers
    typer.echo(f"✅ Configuration is valid: {loaded.source} ({len(providers)} providers)")


@config_app.command("schema")
def config_schema() -> None:
    """Print the configuration's JSON Schema (draft 2020-12), for editors and CI."""
    from proxyapi.config.loader import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


@keys_app.command("generate")
def keys_generate(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many keys.")] = 1,
) -> None:
    """Print new random API keys, one per line; their SHA-256 digests go to stderr."""
    from proxyapi.keys import generate_key, hash_key

    for _ in range(count):
        key = generate_key()
        typer.echo(key)
        typer.echo(f"sha256: {hash_key(key)}  (for authentication.api_keys.hashed_keys)", err=True)


@keys_app.command("hash")
def keys_hash(
    key: Annotated[
        str, typer.Argument(help="The key to hash; '-' reads keys from stdin, one per line.")
    ],
) -> None:
    """Print the SHA-256 hex digest of a key, as authentication.api_keys.hashed_keys lists it."""
    import sys

    from proxyapi.keys import hash_key

    keys = [line.strip() for line in sys.stdin] if key == "-" else [key]
    keys = [k for k in keys if k]
    if not keys:
        typer.echo("❌ No key given.", err=True)
        raise typer.Exit(code=1)
    for item in keys:
        typer.echo(hash_key(item))


def main() -> None:
    """Entry point of the ``proxyapi`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
