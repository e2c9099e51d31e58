"""The bot's HTTP server: Telegram webhook (webhook mode only), /healthz and /metrics.

The webhook validates the update, stores it in the inbox and commits before it answers 200; a
worker (any replica's) handles it from there. While the database cannot store it, the answer is
503 so Telegram delivers the update again later. Requests without the secret token given to
`setWebhook` are refused before their body is read. Refused calls are logged at most once per
LOG_EVERY_S per reason, so a flood of them does not flood the log.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram.ext import Application

from bot.inbox import NotAnUpdate, parse_json, to_new_update

if TYPE_CHECKING:
    from bot.services import Services

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram updates are a few kilobytes; 1 MiB leaves room for the largest (long texts, polls).
MAX_UPDATE_BYTES = 1024 * 1024
HEALTH_TIMEOUT_S = 5.0
HEALTH_CACHE_S = 1.5
"""A flood of probes costs one check per this many seconds."""
LOG_EVERY_S = 10.0
STORE_TIMEOUT_S = 10.0
RETRY_AFTER_S = "5"

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

APPLICATION_KEY: web.AppKey[AnyApplication] = web.AppKey("application")
SERVICES_KEY: web.AppKey[Services] = web.AppKey("services")
ACCEPTING_KEY: web.AppKey[asyncio.Event] = web.AppKey("accepting")
STATE_KEY: web.AppKey[_ServerState] = web.AppKey("state")


@dataclass
class _ServerState:
    on_stored: Callable[[], None]
    health: tuple[float, dict[str, Any]] | None = None
    health_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_logged: dict[str, float] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def log_refusal(self, reason: str, message: str, *args: object) -> None:
        """Log a refused call, at most once per LOG_EVERY_S per reason, with the count skipped."""
        now = time.monotonic()
        if now - self.last_logged.get(reason, -LOG_EVERY_S) < LOG_EVERY_S:
            self.suppressed[reason] = self.suppressed.get(reason, 0) + 1
            return
        self.last_logged[reason] = now
        skipped = self.suppressed.pop(reason, 0)
        suffix = f" ({skipped} more like it not logged)" if skipped else ""
        logger.warning(message + suffix, *args)


def create_web_app(
    application: AnyApplication,
    services: Services,
    *,
    webhook: bool,
    on_stored: Callable[[], None] = lambda: None,
) -> web.Application:
    """The aiohttp app serving health and metrics, plus the webhook when `webhook` is true.
    `on_stored` is called after an update was stored (to wake this process's worker)."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[APPLICATION_KEY] = application
    app[SERVICES_KEY] = services
    app[STATE_KEY] = _ServerState(on_stored)
    accepting = asyncio.Event()
    accepting.set()
    app[ACCEPTING_KEY] = accepting
    if webhook:
        app.router.add_post(services.settings.webhook_path, _webhook)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


def stop_accepting_updates(app: web.Application) -> None:
    """From now on the webhook answers 503, so Telegram keeps the update and delivers it later."""
    app[ACCEPTING_KEY].clear()


def _services(request: web.Request) -> Services:
    return request.app[SERVICES_KEY]


async def _webhook(request: web.Request) -> web.Response:
    services = _services(request)
    state = request.app[STATE_KEY]
    expected = services.settings.webhook_secret.get_secret_value().encode()
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, expected):
        services.metrics.errors.labels(kind="webhook_forbidden").inc()
        state.log_refusal(
            "forbidden", "webhook request from %s refused: wrong or missing secret", request.remote
        )
        return web.Response(status=403, text="forbidden")
    if not request.app[ACCEPTING_KEY].is_set():
        return web.Response(
            status=503, text="shutting down", headers={"Retry-After": RETRY_AFTER_S}
        )

    application = request.app[APPLICATION_KEY]
    try:
        row, _ = to_new_update(parse_json(await request.read()), application.bot)
    except NotAnUpdate as exc:
        services.metrics.errors.labels(kind="webhook_bad_request").inc()
        state.log_refusal("bad_request", "webhook request refused: not a Telegram update (%s)", exc)
        return web.Response(status=400, text="not a Telegram update")
    try:
        new = await asyncio.wait_for(
            asyncio.shield(services.repository.inbox.store([row])), STORE_TIMEOUT_S
        )
    except Exception as exc:
        services.metrics.webhook_refused.inc()
        state.log_refusal(
            "unavailable", "webhook: update %s not stored, answered 503 (%s)", row.update_id, exc
        )
        return web.Response(
            status=503, text="cannot store the update now", headers={"Retry-After": RETRY_AFTER_S}
        )
    if new:
        state.on_stored()
    else:
        services.metrics.duplicate_updates.inc()
        logger.info("update %s received again; already stored", row.update_id)
    return web.Response(status=200)


async def _healthz(request: web.Request) -> web.Response:
    """Both parts' state. Probes for orchestrators: `?probe=live` answers 200 whenever the server
    (and its event loop) answers, checking nothing else, so an outage never restarts the bot;
    `?probe=ready` is 200 while updates can be stored (the database is up): a detector that is
    down, or one TF Serving replica of several, does not take a replica out of rotation."""
    probe = request.query.get("probe")
    if probe == "live":
        return web.json_response({"status": "alive"})
    health = await _cached_health(request.app)
    ok = health.get("database") == "up" and (probe == "ready" or health.get("detector") == "up")
    return web.json_response(health, status=200 if ok else 503)


async def _cached_health(app: web.Application) -> dict[str, Any]:
    """The health of database, detector and inbox, computed at most once per HEALTH_CACHE_S."""
    state = app[STATE_KEY]
    async with state.health_lock:
        now = time.monotonic()
        if state.health is not None and now - state.health[0] < HEALTH_CACHE_S:
            return state.health[1]
        services = app[SERVICES_KEY]
        try:
            health = await asyncio.wait_for(services.health(), timeout=HEALTH_TIMEOUT_S)
        except TimeoutError:
            health = {
                "database": "unknown",
                "detector": "unknown",
                "error": f"health check took longer than {HEALTH_TIMEOUT_S:g} s",
            }
        state.health = (time.monotonic(), health)
        return health


async def _metrics(request: web.Request) -> web.Response:
    await _cached_health(request.app)
    body, content_type = _services(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})
