"""`detectbot run`: migrate, start the bot in webhook or polling mode, shut down gracefully.

`WEBHOOK_URL` is the full public URL Telegram posts to, path included (for example
`https://bot.example.org/telegram`); the local server listens on `LISTEN_HOST:LISTEN_PORT` at
`WEBHOOK_PATH`, and a reverse proxy maps the one onto the other. Received updates go to the
inbox; this process's worker (like every replica's) works them off. On SIGTERM or SIGINT the bot
stops taking updates (polling stops; the webhook answers 503 so Telegram redelivers later), gives
back at once the updates that had not started, lets detections in flight finish and be recorded,
then exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web
from telegram import Update
from telegram.error import TelegramError

from bot.app import build_application
from bot.config import Settings
from bot.detection.errors import DetectorError
from bot.labels import LabelMapError
from bot.polling import Poller
from bot.server import AnyApplication, create_web_app, stop_accepting_updates
from bot.services import Services, create_services
from bot.worker import Worker
from db.errors import DatabaseUnavailable
from db.migrate import upgrade
from db.session import mask_url

logger = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 30.0


def run(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT; 0 after a clean stop, 1 when it cannot start."""
    settings.bot_token  # noqa: B018  (raises ConfigError before anything starts)
    if settings.cleartext_api_warning is not None:
        logger.warning(settings.cleartext_api_warning)
    return asyncio.run(_main(settings))


def _fail(message: str) -> int:
    print(f"detectbot: {message}", file=sys.stderr)
    return 1


async def _main(settings: Settings) -> int:
    try:
        await upgrade(settings.database_url)
    except DatabaseUnavailable as exc:
        return _fail(str(exc))
    try:
        services = await create_services(settings)
    except (DatabaseUnavailable, DetectorError, LabelMapError) as exc:
        return _fail(str(exc))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, services, stop)
        return 0
    except TelegramError as exc:
        return _fail(f"Telegram Bot API at {settings.telegram_api_url}: {exc}")
    except OSError as exc:
        return _fail(f"cannot listen on {settings.listen_host}:{settings.listen_port}: {exc}")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await services.close()


def _describe(settings: Settings) -> str:
    if settings.webhook_url is not None:
        mode = f"webhook mode ({settings.webhook_url})"
    else:
        mode = "polling mode"
    if settings.tfserving_address is not None:
        model = f"model {settings.model_name!r} on TF Serving at {settings.tfserving_address}"
    else:
        model = f"in-process model from {settings.model_path}"
    return f"starting in {mode}; {model}; database {mask_url(settings.database_url)}"


async def serve(
    settings: Settings,
    services: Services,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Receive updates, work them off and serve HTTP until `stop` is set, then shut down
    gracefully.

    `ready` is set once the server listens and updates are being received (webhook registered or
    polling started). The caller owns `services` and closes them afterwards.
    """
    logger.info(_describe(settings))
    application = build_application(services, webhook=True)
    worker = Worker(application, services)
    web_app = create_web_app(
        application, services, webhook=settings.webhook_mode, on_stored=worker.wake
    )
    web_runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    poller: Poller | None = None
    try:
        async with application:
            await application.start()
            try:
                await worker.start()
                await web_runner.setup()
                site = web.TCPSite(web_runner, settings.listen_host, settings.listen_port)
                await site.start()
                poller = await _start_receiving(settings, application, services, worker)
                logger.info(
                    "listening on %s:%s; worker %s",
                    settings.listen_host,
                    settings.listen_port,
                    worker.name,
                )
                if ready is not None:
                    ready.set()
                await stop.wait()
                logger.info("stopping: finishing detections in flight")
                stop_accepting_updates(web_app)
                if poller is not None:
                    await poller.stop()
                await worker.stop(SHUTDOWN_TIMEOUT_S)
            finally:
                if poller is not None:
                    await poller.stop()
                await worker.stop(0)
                if application.running:
                    await application.stop()
    finally:
        await web_runner.cleanup()
    logger.info("stopped")


async def _start_receiving(
    settings: Settings, application: AnyApplication, services: Services, worker: Worker
) -> Poller | None:
    if settings.webhook_url is not None:
        await application.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
        )
        return None
    poller = Poller(application.bot, services.repository.inbox, worker.wake)
    await poller.start()
    return poller
