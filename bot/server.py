"""The bot's HTTP server: Telegram webhook (webhook mode only), /healthz and /metrics.

The webhook follows python-telegram-bot's custom-webhook pattern: parse the update, put it on
`application.update_queue` and answer 200 at once; handlers run in the background. Requests without
the secret token given to `setWebhook` are refused before their body is read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

if TYPE_CHECKING:
    from bot.services import Services

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram updates are a few kilobytes; 1 MiB leaves room for the largest (long texts, polls).
MAX_UPDATE_BYTES = 1024 * 1024
HEALTH_TIMEOUT_S = 5.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

APPLICATION_KEY: web.AppKey[AnyApplication] = web.AppKey("application")
SERVICES_KEY: web.AppKey[Services] = web.AppKey("services")
ACCEPTING_KEY: web.AppKey[asyncio.Event] = web.AppKey("accepting")


def create_web_app(
    application: AnyApplication,
    services: Services,
    *,
    webhook: bool,
) -> web.Application:
    """The aiohttp app serving health and metrics, plus the webhook when `webhook` is true."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[APPLICATION_KEY] = application
    app[SERVICES_KEY] = services
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
    expected = services.settings.webhook_secret.get_secret_value().encode()
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, expected):
        services.metrics.errors.labels(kind="webhook_forbidden").inc()
        logger.warning("webhook request from %s refused: wrong or missing secret", request.remote)
        return web.Response(status=403, text="forbidden")
    if not request.app[ACCEPTING_KEY].is_set():
        return web.Response(status=503, text="shutting down", headers={"Retry-After": "5"})

    application = request.app[APPLICATION_KEY]
    try:
        data: Any = json.loads(await request.read())
        if not isinstance(data, dict):
            raise ValueError("an update is a JSON object")
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError) as exc:
        services.metrics.errors.labels(kind="webhook_bad_request").inc()
        logger.warning("webhook request refused: not a Telegram update (%s)", exc)
        return web.Response(status=400, text="not a Telegram update")
    await application.update_queue.put(update)
    return web.Response(status=200)


async def _healthz(request: web.Request) -> web.Response:
    """Both parts' state. Probes for orchestrators: `?probe=live` answers 200 whenever the server
    (and its event loop) answers, checking nothing else, so an outage never restarts the bot;
    `?probe=ready` is 200 while updates can be stored (the database is up): a detector that is
    down, or one TF Serving replica of several, does not take a replica out of rotation."""
    probe = request.query.get("probe")
    if probe == "live":
        return web.json_response({"status": "alive"})
    services = _services(request)
    try:
        health = await asyncio.wait_for(services.health(), timeout=HEALTH_TIMEOUT_S)
    except TimeoutError:
        health = {
            "database": "unknown",
            "detector": "unknown",
            "error": f"health check took longer than {HEALTH_TIMEOUT_S:g} s",
        }
    ok = health.get("database") == "up" and (probe == "ready" or health.get("detector") == "up")
    return web.json_response(health, status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    body, content_type = _services(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})
