"""``python -m greekfire.exchange``: run the simulated exchange (used by ``spawn``).

Options: ``--config-json <json>`` (an :meth:`ExchangeConfig.to_json` document) or
``--config <file.toml>``; ``--log-level``. Prints the base URL, serves until SIGINT/SIGTERM.
For the full command line use ``greekfire serve-market``.
"""

from __future__ import annotations

import argparse
import sys

from greekfire.errors import ConfigError
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.server import serve


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, serve, and return the exit code (2 for a bad config)."""
    parser = argparse.ArgumentParser(prog="python -m greekfire.exchange")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config-json", help="the config as a JSON document")
    source.add_argument("--config", help="a TOML config file")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    try:
        if args.config_json:
            config = ExchangeConfig.from_json(args.config_json)
        elif args.config:
            config = ExchangeConfig.from_toml(args.config)
        else:
            config = ExchangeConfig()
    except ConfigError as exc:
        print(f"error: invalid configuration: {exc}", file=sys.stderr)
        return 2
    serve(config, announce=lambda url: print(url, flush=True), log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
