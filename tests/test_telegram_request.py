"""The bot's aiohttp `BaseRequest` against the Bot API stand-in, side by side with PTB's own
`HTTPXRequest`: every test runs on both, so "behaves as PTB does" is checked, not assumed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InputMediaPhoto
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram_request import AiohttpRequest
from tests.support.botapi_standin import BotApiStandIn
from tests.support.image_samples import encode, gradient

USER = 5_550_001_234
TOKEN = "123456789:AAsecretPartOfTheTokenThatMustNotLeak"

RequestFactory = Callable[..., BaseRequest]
REQUESTS: dict[str, RequestFactory] = {"httpx": HTTPXRequest, "aiohttp": AiohttpRequest}


@pytest.fixture(params=list(REQUESTS))
def make_request(request: pytest.FixtureRequest) -> RequestFactory:
    return REQUESTS[request.param]


def make_bot(api_url: str, token: str, request: BaseRequest) -> Bot:
    return Bot(
        token,
        base_url=f"{api_url}/bot",
        base_file_url=f"{api_url}/file/bot",
        request=request,
        get_updates_request=request,
    )


@pytest.fixture
async def bot(botapi: BotApiStandIn, make_request: RequestFactory) -> AsyncIterator[Bot]:
    botapi.private_chat(USER)
    async with make_bot(botapi.url, botapi.token, make_request()) as bot:
        yield bot


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """An HTTP server that reads requests and never answers; yields its URL."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(1 << 16)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def error_chain_text(error: BaseException) -> str:
    """What a logged traceback shows of an error: its text and every chained one's."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n".join(texts)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_json_method_returns_the_result_and_sends_every_parameter(
    bot: Bot, botapi: BotApiStandIn
) -> None:
    me = await bot.get_me()
    message = await bot.send_message(USER, "héllo ✓ & = ?", reply_to_message_id=None)

    assert me.username == botapi.bot_username
    assert message.text == "héllo ✓ & = ?"
    assert botapi.calls_to("sendMessage")[-1].params["text"] == "héllo ✓ & = ?"


async def test_photo_upload_arrives_byte_for_byte(bot: Bot, botapi: BotApiStandIn) -> None:
    photo = encode(gradient(96, 64), "JPEG")

    message = await bot.send_photo(USER, photo, caption="2 × person", filename="reply.jpg")

    call = botapi.calls_to("sendPhoto")[-1]
    assert call.upload("photo") == photo
    assert call.params["caption"] == "2 × person"
    assert message.photo[-1].width == 96


async def test_media_group_uploads_every_photo_in_order(bot: Bot, botapi: BotApiStandIn) -> None:
    photos = [encode(gradient(40 + 8 * i, 30), "JPEG") for i in range(3)]

    messages = await bot.send_media_group(USER, [InputMediaPhoto(p) for p in photos])

    assert len(messages) == 3
    assert botapi.calls_to("sendMediaGroup")[-1].media_uploads() == photos


async def test_file_download_returns_the_stored_bytes(bot: Bot, botapi: BotApiStandIn) -> None:
    data = encode(gradient(50, 50), "PNG")
    file_id, _ = botapi.add_file(data, suffix=".png")

    telegram_file = await bot.get_file(file_id)

    assert bytes(await telegram_file.download_as_bytearray()) == data


async def test_429_raises_retry_after_with_the_servers_delay(
    bot: Bot, botapi: BotApiStandIn
) -> None:
    botapi.fail_next("sendMessage", 429, retry_after=7)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "too fast")

    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (400, "Bad Request: chat not found", BadRequest),
        (403, "Forbidden: bot was blocked by the user", Forbidden),
        (401, "Unauthorized", InvalidToken),
    ],
)
async def test_error_status_raises_ptbs_exception_with_telegrams_description(
    bot: Bot,
    botapi: BotApiStandIn,
    status: int,
    description: str,
    error: type[TelegramError],
) -> None:
    botapi.fail_next("sendMessage", status, description=description)

    with pytest.raises(error) as caught:
        await bot.send_message(USER, "x")

    assert type(caught.value) is error
    assert caught.value.message == error(description).message


@asynccontextmanager
async def proxy_in_front(botapi_url: str) -> AsyncIterator[str]:
    """A misconfigured proxy in front of the Bot API: `/bad/...` answers 502 with an HTML page,
    `/moved/...` redirects to the real Bot API; yields its URL."""

    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{botapi_url}/{request.match_info['tail']}")

    app = web.Application()
    app.router.add_route("*", "/bad/{tail:.*}", bad_gateway)
    app.router.add_route("*", "/moved/{tail:.*}", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_non_json_error_page_raises_network_error_naming_the_status(
    botapi: BotApiStandIn, make_request: RequestFactory
) -> None:
    async with proxy_in_front(botapi.url) as url, make_request() as request:
        with pytest.raises(NetworkError, match=r"Bad Gateway \(502\)\. Parsing the server"):
            await request.post(f"{url}/bad/bot{botapi.token}/getMe")


async def test_redirect_is_not_followed_and_raises_network_error(
    botapi: BotApiStandIn, make_request: RequestFactory
) -> None:
    async with proxy_in_front(botapi.url) as url, make_request() as request:
        with pytest.raises(NetworkError, match=r"Found \(302\)"):
            await request.post(f"{url}/moved/bot{botapi.token}/getMe")
    assert botapi.calls_to("getMe") == []


def test_payload_parsing_matches_ptb(make_request: RequestFactory) -> None:
    request = make_request()
    payloads = [
        b'{"ok": true, "result": {"id": 9007199254740993, "name": "\\u00e9\\ud83d\\ude00"}}',
        b'{"ok": true, "result": {"text": "caf\xe9"}}',
        b'{"ok": true, "result": {"chat_id": -1009223372036854775, "max": 9223372036854775807}}',
    ]
    for payload in payloads:
        assert request.parse_json_payload(payload) == BaseRequest.parse_json_payload(payload)
    with pytest.raises(TelegramError, match="Invalid server response"):
        request.parse_json_payload(b"<html>Bad Gateway</html>")


async def test_no_answer_within_read_timeout_raises_timed_out(
    make_request: RequestFactory,
) -> None:
    async with silent_server() as url, make_request(read_timeout=0.3) as request:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut):
            await request.post(f"{url}/botTOKEN/getMe")
        assert asyncio.get_running_loop().time() - started < 5


async def test_refused_connection_raises_network_error_not_timed_out(
    make_request: RequestFactory,
) -> None:
    async with make_request() as request:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{closed_port_url()}/bot{TOKEN}/getMe")
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in error_chain_text(caught.value)


async def test_a_transport_error_naming_the_url_does_not_carry_the_token_along(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"{closed_port_url()}/bot{TOKEN}/getMe"

    def connect_times_out(*args: Any, **kwargs: Any) -> Any:
        raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {url}")

    async with AiohttpRequest() as request:
        monkeypatch.setattr(aiohttp.ClientSession, "request", connect_times_out)
        with pytest.raises(TimedOut) as caught:
            await request.post(url)
    assert TOKEN not in error_chain_text(caught.value)


async def test_full_pool_raises_timed_out_without_sending(make_request: RequestFactory) -> None:
    async with (
        silent_server() as url,
        make_request(connection_pool_size=1, read_timeout=5.0, pool_timeout=0.2) as request,
    ):
        first = asyncio.create_task(request.post(f"{url}/botTOKEN/getMe"))
        await asyncio.sleep(0.2)
        with pytest.raises(TimedOut, match="Pool timeout"):
            await request.post(f"{url}/botTOKEN/getMe")
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)


async def test_requests_work_again_after_shutdown_and_initialize(
    botapi: BotApiStandIn, make_request: RequestFactory
) -> None:
    request = make_request()
    bot = make_bot(botapi.url, botapi.token, request)
    async with bot:
        await bot.get_me()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(f"{botapi.url}/bot{botapi.token}/getMe")
    async with bot:
        assert (await bot.get_me()).username == botapi.bot_username


async def test_proxy_variables_of_the_environment_are_ignored(
    botapi: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = closed_port_url()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async with make_bot(botapi.url, botapi.token, AiohttpRequest()) as bot:
        assert (await bot.get_me()).username == botapi.bot_username


def test_pool_size_must_be_positive() -> None:
    kwargs: dict[str, Any] = {"connection_pool_size": 0}
    with pytest.raises(ValueError, match="at least 1"):
        AiohttpRequest(**kwargs)
