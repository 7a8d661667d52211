"""The `canvasd` command line. Heavy modules are imported inside the commands, so `--help` is instant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from canvasd import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canvasd", description="canvasd: fast, safe Obsidian canvases.")
    parser.add_argument("--version", action="version", version=f"canvasd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = commands.add_parser("config", help="show or check the configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", help="print the effective settings (defaults, file, environment)")
    show.add_argument("--config", type=Path, help="YAML file with settings (same keys as config/optimization.yaml)")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    check = config_commands.add_parser("check", help="validate a config file; exit 2 if it is invalid")
    check.add_argument("file", type=Path, help="YAML file to check")
    return parser


def _config(args: argparse.Namespace) -> int:
    from canvasd.config import load_settings
    from canvasd.errors import ConfigError

    try:
        settings = load_settings(args.config if args.config_command == "show" else args.file)
    except ConfigError as exc:
        print(f"canvasd: {exc}", file=sys.stderr)
        return 2
    if args.config_command == "check":
        print(f"{args.file}: ok")
        return 0
    data = settings.model_dump(mode="json")
    if args.json:
        import json

        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `canvasd` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "config":
        return _config(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
