"""python-telegram-bot's HTTP layer on aiohttp: the `BaseRequest` the bot talks to the Bot API with.

PTB's default `HTTPXRequest` costs several milliseconds of CPU per Bot API call (httpx + httpcore +
anyio); the bot already runs aiohttp for its web server, and aiohttp's client does the same work
in C for a fraction of that. PTB turns `(status, body)` into its exceptions (`BadRequest`,
`Forbidden`, `InvalidToken`, `RetryAfter`, ...) in `BaseRequest` itself, so this class only moves
bytes and maps transport failures the way `HTTPXRequest` does: timeouts → `TimedOut` (a full
pool says so and means the request was not sent), every other transport error → `NetworkError`.

Timeouts are PTB's four, per call or from the defaults given here:
- `pool_timeout`: waiting for a free connection of the pool (`connection_pool_size` requests in
  flight at once);
- `connect_timeout`: opening a connection (aiohttp's `sock_connect`);
- `read_timeout`: waiting for the answer once the request is sent, and between its chunks
  (aiohttp's `sock_read`, which aiohttp starts only after the body is written);
- `write_timeout`: aiohttp has no per-write timeout, so sending is bounded by a deadline on the
  whole exchange: connect + write + read.
Uploads default to `media_write_timeout` for writing, as in `HTTPXRequest`. Redirects are not
followed (httpx does not either; PTB reports a 3xx as `NetworkError`), and proxy variables of the
environment are ignored (`trust_env=False`): the Bot API URL is the one configured.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import orjson
import yarl
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
    "to Telegram. Consider adjusting the connection pool size or the pool timeout."
)
_FILENAME_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})
_FORM_URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """`BaseRequest` over one `aiohttp.ClientSession`, created in `initialize`, closed in
    `shutdown` (PTB's `Bot.initialize`/`Bot.shutdown` call both)."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._pool: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds a long poll's `timeout` to it for getUpdates)."""
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=False,
            headers={"User-Agent": self.USER_AGENT},
        )
        self._pool = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        if self._session is None or self._session.closed:
            return
        await self._session.close()

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        """orjson first; anything it refuses (invalid UTF-8, NaN, broken JSON) goes through PTB's
        own parser, so what parses and what fails stays PTB's. One difference: orjson reads
        integers beyond 64 bits as floats; Telegram sends none (ids have at most 52 bits)."""
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return BaseRequest.parse_json_payload(payload)
        if not isinstance(parsed, dict):
            return BaseRequest.parse_json_payload(payload)
        return parsed

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session, pool = self._session, self._pool
        if session is None or session.closed or pool is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        uploads = bool(request_data is not None and request_data.contains_files)
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool_wait = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write_timeout if uploads else self._write_timeout
        else:
            write = write_timeout
        timeout = aiohttp.ClientTimeout(
            total=_sum_or_none(connect, write, read),
            sock_connect=connect,
            sock_read=read,
        )
        body, headers = _body(request_data)

        if pool.locked():
            try:
                await asyncio.wait_for(pool.acquire(), pool_wait)
            except TimeoutError as exc:
                raise TimedOut(POOL_TIMEOUT_MESSAGE) from exc
        else:
            await pool.acquire()
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                payload = await response.read()
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("HTTP Request: %s %s %d", method, url, response.status)
                return response.status, payload
        except TimeoutError as exc:
            raise TimedOut from _cause(exc, url)
        except aiohttp.ClientError as exc:
            text = _without_path(f"aiohttp.{type(exc).__name__}: {exc}", url)
            raise NetworkError(text) from _cause(exc, url)
        finally:
            pool.release()


def _cause(exc: BaseException, url: str) -> BaseException | None:
    """The transport error to chain, unless its text carries the URL: Bot API paths hold the bot
    token, and a logged traceback prints every chained exception (aiohttp's connection timeout,
    for one, names the URL)."""
    return None if yarl.URL(url).path in str(exc) else exc


def _without_path(text: str, url: str) -> str:
    parsed = yarl.URL(url)
    return text.replace(url, str(parsed.origin())).replace(parsed.path, "")


def _sum_or_none(*parts: float | None) -> float | None:
    """The whole exchange's deadline; none when any phase may take forever."""
    if any(part is None for part in parts):
        return None
    return sum(part for part in parts if part is not None)


def _body(request_data: RequestData | None) -> tuple[Any, dict[str, str] | None]:
    """What aiohttp sends: nothing, a url-encoded form (PTB's JSON-encoded values), or, with files,
    multipart with each file's name and MIME type as PTB gives them."""
    if request_data is None:
        return None, None
    if not request_data.contains_files:
        return request_data.url_encoded_parameters().encode(), _FORM_URLENCODED
    form = aiohttp.FormData(quote_fields=False, default_to_multipart=True)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=_form_filename(filename), content_type=mime_type)
    return form, None


def _form_filename(filename: str) -> str:
    """A file name as browsers (and httpx) put it in a multipart header: UTF-8 as is, with
    quotes and line breaks percent-escaped so the name cannot end the header."""
    return filename.translate(_FILENAME_ESCAPES)
