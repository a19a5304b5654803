"""``python -m proxyapi.simulator [--host H] [--port P] [--config FILE]``."""

from __future__ import annotations

import argparse

from .knobs import load_settings
from .server import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m proxyapi.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--config", default=None, help="YAML file of simulator settings")
    args = parser.parse_args(argv)
    run(args.host, args.port, load_settings(args.config))


if __name__ == "__main__":
    main()
