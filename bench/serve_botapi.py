"""Serve the Bot API stand-in in its own process (for benchmarks), with a small control API.

Run as `python -m bench.serve_botapi PHOTO [PHOTO...]`; prints `PORTS <api> <control>` once
serving, then serves until stdin closes. Keeping the stand-in's own work (decoding every uploaded
photo, as Telegram does) out of the bot's process makes the bot's measured latencies its own.

Control API on 127.0.0.1:<control>:
- `POST /photo_updates` `{"items": [[user_id, photo_index], ...]}` → private photo updates (their
  files are stored, so the bot's getFile and download work), in order.
- `GET /calls[?since=k]` → every Bot API call so far (from the k-th on): `{"method", "status",
  "chat_id", "reply_to", "at"}`, `at` on the system-wide monotonic clock (`time.monotonic()` of
  any process on this machine).
- `GET /counts` → `{"total": calls so far, "ok": {method: successful calls}}` (cheap to poll).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiohttp import web

from tests.support.botapi_standin import BotApiStandIn


def control_app(api: BotApiStandIn, photos: list[bytes]) -> web.Application:
    async def photo_updates(request: web.Request) -> web.Response:
        items = (await request.json())["items"]
        updates = [api.private_photo_update(int(user), photos[int(i)]) for user, i in items]
        return web.json_response(updates)

    async def calls(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response(
            [
                {
                    "method": c.method,
                    "status": c.status,
                    "chat_id": c.chat_id,
                    "reply_to": c.reply_to,
                    "at": c.at,
                }
                for c in api.calls[since:]
            ]
        )

    ok: dict[str, int] = {}
    counted = 0

    async def counts(request: web.Request) -> web.Response:
        nonlocal counted
        for c in api.calls[counted:]:
            if c.ok:
                ok[c.method] = ok.get(c.method, 0) + 1
        counted = len(api.calls)
        return web.json_response({"total": counted, "ok": ok})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/photo_updates", photo_updates)
    app.router.add_get("/calls", calls)
    app.router.add_get("/counts", counts)
    return app


async def serve(photo_paths: list[Path]) -> None:
    photos = [p.read_bytes() for p in photo_paths]
    api = BotApiStandIn()
    await api.start()
    runner = web.AppRunner(control_app(api, photos), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    control_port = runner.addresses[0][1]
    print(f"PORTS {api.port} {control_port} {api.token}", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await runner.cleanup()
        await api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    args = parser.parse_args()
    asyncio.run(serve(args.photos))


if __name__ == "__main__":
    main()
