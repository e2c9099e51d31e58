"""`detectbot` / `python -m bot`: parse the command line, read settings once, dispatch."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging, redacted_output

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detectbot", description="DetectX: a Telegram bot that finds objects in photos."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="start the bot (webhook when WEBHOOK_URL is set, else polling)")

    detect = commands.add_parser("detect", help="detect objects in image files, no Telegram")
    detect.add_argument("images", nargs="+", type=Path, metavar="IMG")
    detect.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for annotated images, written as <stem>.detected.jpg (default: .)",
    )
    detect.add_argument("--json", action="store_true", help="one JSON object per line per image")
    detect.add_argument("--min-score", type=float, default=None, help="confidence threshold 0..1")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_commands.add_parser("upgrade", help="apply Alembic migrations to DATABASE_URL")

    model = commands.add_parser("model", help="model management")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="MODEL_CMD")
    download = model_commands.add_parser("download", help="download a TF2 Detection Zoo model")
    download.add_argument("name", nargs="?", default=None, help="zoo model name")
    download.add_argument("--list", action="store_true", help="list known model names and sizes")
    download.add_argument(
        "--as",
        dest="as_name",
        default=None,
        metavar="MODEL",
        help="serve it as TF Serving model MODEL: install under MODEL_CONFIG_FILE's directory "
        "in MODEL/<version>/ and list MODEL in that config file",
    )
    download.add_argument(
        "--base-url",
        default=None,
        help="where the NAME.tar.gz archives live (default: the TF2 Detection Zoo)",
    )
    return parser


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.runner import run

        return run(settings)
    if args.command == "detect":
        from bot.detect_cli import detect_files

        return detect_files(
            settings, args.images, out=args.out, as_json=args.json, min_score=args.min_score
        )
    if args.command == "db":
        from db.migrate import upgrade_cli

        return upgrade_cli(settings)
    if args.command == "model":
        from bot.model_download import download_cli

        return download_cli(
            settings, args.name, list_only=args.list, base_url=args.base_url, as_name=args.as_name
        )
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"detectbot: configuration error:\n{exc}", file=sys.stderr)
        return 2
    redactor = configure_logging(settings)
    with redacted_output(redactor):
        try:
            return dispatch(args, settings)
        except ConfigError as exc:
            print(f"detectbot: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        except Exception:
            logger.critical("detectbot %s: unexpected error", args.command, exc_info=True)
            return 1
