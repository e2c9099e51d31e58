"""The bot as `detectbot run` runs it, in its own process, for the e2e bench's side-by-side runs.

Run as `python -m bench.serve_bot --http aiohttp|httpx --loop asyncio|uvloop` with the bot's
settings in the environment (as for `detectbot run`); it stops gracefully on SIGTERM. `--http httpx`
puts back python-telegram-bot's default `HTTPXRequest` (the bot's path before issue 11), `--http
aiohttp` is the shipped `bot.telegram_request.AiohttpRequest`; `--loop` picks the event loop.
"""

from __future__ import annotations

import argparse
import sys

from telegram.request import HTTPXRequest

import bot.app
import bot.cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.http == "httpx":
        bot.app.REQUEST_CLASS = HTTPXRequest
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    sys.exit(bot.cli.main(["run"]))


if __name__ == "__main__":
    main()
