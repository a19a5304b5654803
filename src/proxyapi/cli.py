"""The ``proxyapi`` command line: serve, demo, simulate, config {validate,schema}, keys.

Heavy modules are imported inside each command so ``proxyapi --help`` stays fast
and a command only pays for what it uses.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import uvicorn

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
        # Absolute, not resolved: a ConfigMap's config.yaml is a symlink into a
        # directory Kubernetes replaces on update; the link is what stays.
        os.environ["PROXY_API_CONFIG_FILE"] = str(Path(loaded.source).absolute())
    configure_from(settings)
    metrics = Metrics(settings.app.version) if settings.metrics.enabled else None
    prometheus = settings.metrics.prometheus
    if metrics is not None and prometheus.enabled and prometheus.port is not None:
        serve_metrics(metrics, prometheus.port, host or server.host)
    source = loaded.source if Path(loaded.source).is_file() else None
    target: object = (
        build_app(settings, metrics, source=source)
        if worker_count == 1
        else "proxyapi.app:create_app"
    )
    options = dict(
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
    if worker_count == 1:
        uvicorn.run(target, **options)  # type: ignore[arg-type]
    else:
        run_workers(uvicorn.Config(target, **options))  # type: ignore[arg-type]


def run_workers(config: uvicorn.Config) -> None:
    """uvicorn's multiprocess supervisor, but SIGHUP reloads the workers' configuration.

    uvicorn restarts every worker on SIGHUP; here it is passed on to each worker,
    which reloads in place (see proxyapi.reload): no request is dropped, and an
    invalid file leaves the workers running the old configuration.
    """
    from uvicorn.supervisors import Multiprocess

    from proxyapi.reload import SUPERVISOR_ENV

    class ReloadingSupervisor(Multiprocess):
        def handle_hup(self) -> None:
            for process in self.processes:
                pid = process.pid
                if pid is not None:
                    os.kill(pid, signal.SIGHUP)

    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # workers tell us to pass a reload on
    sock = config.bind_socket()
    try:
        ReloadingSupervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass


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


@config_app.command("migrate")
def config_migrate(
    check: Annotated[
        bool, typer.Option("--check", help="List legacy files; exit 1 if any needs migrating.")
    ] = False,
    format_name: Annotated[
        str | None,
        typer.Option("--format", metavar="NAME", help="Only this: model_selections, yaml, python."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be written; change nothing.")
    ] = False,
    rollback: Annotated[
        str | None,
        typer.Option("--rollback", metavar="NAME", help="Restore NAME's .legacy original."),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Each format's state and the migration history.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Migrate seed 004's legacy formats; the originals are kept as <file>.legacy."""
    from proxyapi.config import legacy
    from proxyapi.config.messages import format_config_error
    from proxyapi.errors import ConfigError

    modes = (check, report, rollback is not None, bool(format_name) or dry_run)
    if sum(modes) > 1:
        typer.echo("❌ Use one of --check, --report, --rollback, or --format/--dry-run.", err=True)
        raise typer.Exit(code=2)
    for name in (format_name, rollback):
        if name is not None and name not in legacy.FORMAT_NAMES:
            known = ", ".join(legacy.FORMAT_NAMES)
            typer.echo(f"❌ {name!r} is not a legacy format ({known}).", err=True)
            raise typer.Exit(code=2)
    try:
        if check:
            found = legacy.check_legacy_presence(config_file=config).values()
            for presence in found:
                typer.echo(legacy.describe_presence(presence, Path.cwd()))
            raise typer.Exit(code=1 if any(p.needs_migration for p in found) else 0)
        if report:
            typer.echo(legacy.get_migration_report(config_file=config))
        elif rollback is not None:
            restored = legacy.rollback_format(rollback, config_file=config)
            typer.echo(f"✅ {legacy.describe_rollback(restored)}")
        else:
            migrate_formats(format_name, dry_run=dry_run, config=config)
    except ConfigError as error:
        typer.echo(format_config_error(error), err=True)
        typer.echo("Nothing was changed.", err=True)
        raise typer.Exit(code=1) from None


def migrate_formats(format_name: str | None, *, dry_run: bool, config: Path | None) -> None:
    """``config migrate [--format NAME] [--dry-run]``: one format, or every legacy one found."""
    from proxyapi.config import legacy

    done = (
        [legacy.migrate_specific_format(format_name, dry_run=dry_run, config_file=config)]
        if format_name
        else legacy.migrate_legacy_formats(dry_run=dry_run, config_file=config)
    )
    if not done:
        typer.echo("Nothing to migrate: no legacy configuration found.")
    for migration in done:
        for warning in migration.warnings:
            typer.echo(f"⚠️  {warning}", err=True)
        typer.echo(f"{'🔍' if dry_run else '✅'} {legacy.describe_migration(migration)}")
        if dry_run:
            typer.echo(f"--- {migration.target}")
            typer.echo(migration.content.decode("utf-8"))


@config_app.command("check")
def config_check(
    file: Annotated[Path | None, typer.Argument(help="File to check (default: discovery).")] = None,
    production: Annotated[
        bool, typer.Option("--production", help="Also check production readiness (seed 004).")
    ] = False,
) -> None:
    """Validate a configuration; with --production, list each finding, exit 1 on any error."""
    loaded = load_or_exit(file)
    if not production:
        providers = loaded.config.providers
        typer.echo(f"✅ Configuration is valid: {loaded.source} ({len(providers)} providers)")
        return
    from proxyapi.config.production import check_production, format_finding

    # After load_or_exit: .env is in os.environ, as the server would see it.
    findings = check_production(loaded.config, os.environ)
    for finding in findings:
        typer.echo(format_finding(finding))
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = sum(finding.severity == "warning" for finding in findings)
    verdict = "❌ Not ready for production" if errors else "✅ Ready for production"
    typer.echo(f"{verdict}: {errors} error(s), {warnings} warning(s) in {loaded.source}")
    if errors:
        raise typer.Exit(code=1)


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
