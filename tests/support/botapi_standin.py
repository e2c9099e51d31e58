"""A local stand-in for the Telegram Bot API: python-telegram-bot's real HTTP code runs end to end.

It serves methods at `/bot{token}/{method}` and files at `/file/bot{token}/{file_path}` the way the
cloud Bot API does: every answer is `{"ok": true, "result": ...}` or `{"ok": false, "error_code": N,
"description": "...", "parameters": {...}}`; bodies may be JSON, url-encoded form or multipart
(python-telegram-bot sends url-encoded forms with JSON-encoded values, multipart when it uploads).
Uploaded photos are decoded and checked against Telegram's sendPhoto limits, stored, and can be read
back by tests (`ApiCall.files`) and fetched again through `getFile`, like on the real server.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

JSONDict = dict[str, Any]

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_CAPTION = 1024
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# Parameters Telegram treats as plain strings; every other form value is JSON-decoded.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "file_id",
        "url",
        "secret_token",
        "parse_mode",
        "action",
        "photo",
        "document",
        "emoji",
        "description",
        "short_description",
        "name",
        "language_code",
        "ip_address",
    }
)
_MENTION = re.compile(r"@[A-Za-z0-9_]{3,32}")
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


class ApiFailure(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class UploadedFile:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiCall:
    """One request the bot made: method, decoded parameters, uploaded files, what it got back."""

    method: str
    params: JSONDict
    files: dict[str, UploadedFile]
    at: float
    status: int = 200
    result: Any = None

    @property
    def chat_id(self) -> int | str | None:
        value = self.params.get("chat_id")
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value if isinstance(value, int | str) else None

    @property
    def reply_to(self) -> int | None:
        reply = self.params.get("reply_parameters")
        if isinstance(reply, dict) and "message_id" in reply:
            return int(reply["message_id"])
        value = self.params.get("reply_to_message_id")
        return int(value) if value is not None else None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def upload(self, name: str = "photo") -> bytes:
        """Bytes uploaded for parameter `name` (`attach://` references are followed)."""
        value = self.params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files[value.removeprefix("attach://")].data
        return self.files[name].data

    def media_uploads(self) -> list[bytes]:
        """Bytes of every item of a sendMediaGroup call, in order."""
        return [
            self.files[item["media"].removeprefix("attach://")].data
            for item in self.params["media"]
        ]

    @property
    def buttons(self) -> list[list[JSONDict]]:
        markup = self.params.get("reply_markup") or {}
        return list(markup.get("inline_keyboard", []))

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]


@dataclass(frozen=True)
class Poll:
    """One answered getUpdates: the offset the bot confirmed with and the updates it got."""

    offset: int
    update_ids: tuple[int, ...]


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


@dataclass
class _Failure:
    status: int
    description: str
    parameters: JSONDict | None
    remaining: int


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None

    def to_dict(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "type": self.type}
        if self.title is not None:
            data["title"] = self.title
        if self.username is not None:
            data["username"] = self.username
        if self.first_name is not None:
            data["first_name"] = self.first_name
        return data


@dataclass
class _Queue:
    updates: list[JSONDict] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entities_for(text: str) -> list[JSONDict]:
    """The `mention` and `bot_command` entities Telegram attaches to a text or caption."""
    found: list[tuple[int, int, str]] = []
    for match in _MENTION.finditer(text):
        found.append((match.start(), match.end(), "mention"))
    for match in _COMMAND.finditer(text):
        if not any(s <= match.start() < e for s, e, _ in found):
            found.append((match.start(), match.end(), "bot_command"))
    entities = []
    for start, end, kind in sorted(found):
        entities.append(
            {
                "type": kind,
                "offset": _utf16_len(text[:start]),
                "length": _utf16_len(text[start:end]),
            }
        )
    return entities


class BotApiStandIn:
    """The Bot API on 127.0.0.1:<free port>; `url` is what TELEGRAM_API_URL should be."""

    def __init__(
        self,
        *,
        token: str = "123456789:AAStandInTokenForTests_abcdefghijkl",
        bot_username: str = "detectx_test_bot",
        first_update_id: int = 700_000_001,
    ) -> None:
        """`first_update_id`: give stand-ins of replicas sharing a database distinct update ids,
        as Telegram's are."""
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.port = 0
        self.calls: list[ApiCall] = []
        self.commands: list[JSONDict] = []
        self.command_menus: dict[tuple[str, str], list[JSONDict]] = {}
        """Menus by (scope as JSON, language_code or ""); `commands` is the default one."""
        self._language_codes: dict[int, str | None] = {}
        self.webhook: JSONDict | None = None
        self.polls: list[Poll] = []
        """Every getUpdates answered: the offset it asked with and the update ids it got."""
        self.max_download_bytes = MAX_DOWNLOAD_BYTES
        self._runner: web.AppRunner | None = None
        self._queue = _Queue()
        self._files: dict[str, _StoredFile] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._update_ids = itertools.count(first_update_id)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._open_queries: dict[str, JSONDict] = {}
        self._media_groups = itertools.count(13_000_000_000_000_001)
        self._call_added = asyncio.Event()
        self._closing = asyncio.Event()

    # ---- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "DetectX",
            "username": self.bot_username,
        }

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self.port = self.port or _free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()

    async def stop(self) -> None:
        self._closing.set()
        self._queue.changed.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- test controls -------------------------------------------------------------------------

    def add_file(
        self, data: bytes, *, suffix: str = ".jpg", folder: str = "photos"
    ) -> tuple[str, str]:
        """Store a file the bot can fetch via getFile; returns (file_id, file_unique_id)."""
        n = next(self._file_ids)
        file_id = f"AgACAgIAAxkBAAI{n:08d}standin"
        unique = f"AQAD{n:08d}"
        self._files[file_id] = _StoredFile(file_id, unique, f"{folder}/file_{n}{suffix}", data)
        return file_id, unique

    def file_data(self, file_id: str) -> bytes:
        return self._files[file_id].data

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail as Telegram does (429 has retry_after)."""
        parameters: JSONDict | None = None
        if status == 429:
            parameters = {"retry_after": retry_after or 1}
            description = description or f"Too Many Requests: retry after {retry_after or 1}"
        elif description is None:
            description = {500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "Error")
        self._failures.setdefault(method, []).append(
            _Failure(status, description, parameters, times)
        )

    def clear_failures(self) -> None:
        self._failures.clear()

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """getChatMember status: creator, administrator, member, restricted, left, kicked."""
        self._members[(chat_id, user_id)] = status

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates (the way Telegram holds them for long polling)."""
        update.setdefault("update_id", next(self._update_ids))
        self._queue.updates.append(update)
        self._queue.changed.set()
        return update

    def push_updates(self, updates: Iterable[JSONDict]) -> list[JSONDict]:
        return [self.push_update(u) for u in updates]

    @property
    def pending_updates(self) -> int:
        return len(self._queue.updates)

    async def wait_acknowledged(self) -> None:
        """Wait until getUpdates moved its offset past every pushed update."""
        while self._queue.updates and not self._closing.is_set():
            self._queue.acknowledged.clear()
            await self._queue.acknowledged.wait()

    async def deliver_webhook(self, update: JSONDict, *, secret: str | None = None) -> int:
        """POST an update to the webhook set by setWebhook, as Telegram does; return the status."""
        if self.webhook is None:
            raise RuntimeError("no webhook set")
        update.setdefault("update_id", next(self._update_ids))
        token = secret if secret is not None else self.webhook.get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(self.webhook["url"], json=update, headers=headers) as response,
        ):
            return response.status

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def sent(self, chat_id: int | None = None) -> list[ApiCall]:
        """Successful message-producing calls (sendMessage, sendPhoto, sendMediaGroup...)."""
        return [
            c
            for c in self.calls
            if c.ok
            and c.method in {"sendMessage", "sendPhoto", "sendMediaGroup", "sendDocument"}
            and (chat_id is None or c.chat_id == chat_id)
        ]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 20.0,  # noqa: ASYNC109
        *,
        ok_only: bool = True,
    ) -> list[ApiCall]:
        """Wait until `method` succeeded at least `count` times; return those calls."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [c for c in self.calls if c.method == method and (c.ok or not ok_only)]
            if len(matching) >= count:
                return matching
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(c.method, c.status) for c in self.calls]
                raise TimeoutError(f"{method} x{count} not seen within {timeout}s; calls: {seen}")
            self._call_added.clear()
            try:
                await asyncio.wait_for(self._call_added.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_idle(
        self,
        quiet: float = 0.3,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until no call arrived for `quiet` seconds (to assert that nothing more happens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._call_added.clear()
            try:
                await asyncio.wait_for(self._call_added.wait(), quiet)
            except TimeoutError:
                return
        raise TimeoutError("the bot kept calling the API")

    # ---- update builders -----------------------------------------------------------------------

    def set_language_code(self, user_id: int, language_code: str | None) -> None:
        """The `language_code` the user's Telegram app reports from now on (default "en")."""
        self._language_codes[user_id] = language_code

    def user(self, user_id: int, *, first_name: str | None = None) -> JSONDict:
        user: JSONDict = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "username": f"user{user_id}",
        }
        language_code = self._language_codes.get(user_id, "en")
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def private_chat(self, user_id: int) -> JSONDict:
        chat = self._chats.setdefault(
            user_id,
            _Chat(user_id, "private", username=f"user{user_id}", first_name=f"User{user_id}"),
        )
        return chat.to_dict()

    def group_chat(self, chat_id: int, title: str = "Test group") -> JSONDict:
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat = self._chats.setdefault(chat_id, _Chat(chat_id, kind, title=title))
        return chat.to_dict()

    def _chat_for(self, chat_id: int, user_id: int) -> JSONDict:
        return self.private_chat(user_id) if chat_id == user_id else self.group_chat(chat_id)

    def message(
        self,
        chat_id: int,
        user_id: int,
        *,
        text: str | None = None,
        caption: str | None = None,
        reply_to: JSONDict | None = None,
        **fields: Any,
    ) -> JSONDict:
        """A Message object as Telegram sends it from a user (entities computed from the text)."""
        chat = self._chat_for(chat_id, user_id)
        message_id = next(self._message_counter(chat_id))
        msg: JSONDict = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
        }
        if text is not None:
            msg["text"] = text
            if entities := entities_for(text):
                msg["entities"] = entities
        if caption is not None:
            msg["caption"] = caption
            if entities := entities_for(caption):
                msg["caption_entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        msg.update(fields)
        self._messages[(chat_id, message_id)] = msg
        return msg

    def photo_sizes(self, data: bytes) -> list[JSONDict]:
        """PhotoSize list like Telegram's: a small thumbnail first, the full image last."""
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            thumb = image.convert("RGB")
            thumb.thumbnail((90, 90))
            buffer = io.BytesIO()
            thumb.save(buffer, "JPEG", quality=80)
        thumb_bytes = buffer.getvalue()
        thumb_id, thumb_unique = self.add_file(thumb_bytes)
        full_id, full_unique = self.add_file(data)
        return [
            {
                "file_id": thumb_id,
                "file_unique_id": thumb_unique,
                "file_size": len(thumb_bytes),
                "width": thumb.width,
                "height": thumb.height,
            },
            {
                "file_id": full_id,
                "file_unique_id": full_unique,
                "file_size": len(data),
                "width": width,
                "height": height,
            },
        ]

    def photo_message(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> JSONDict:
        fields: JSONDict = {"photo": self.photo_sizes(data)}
        if media_group_id is not None:
            fields["media_group_id"] = media_group_id
        return self.message(chat_id, user_id, caption=caption, **fields)

    def private_photo_update(
        self, user_id: int, data: bytes, *, caption: str | None = None
    ) -> JSONDict:
        return {"message": self.photo_message(user_id, user_id, data, caption=caption)}

    def group_photo_update(
        self, chat_id: int, user_id: int, data: bytes, *, caption: str | None = None
    ) -> JSONDict:
        return {"message": self.photo_message(chat_id, user_id, data, caption=caption)}

    def document_update(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str | None,
        caption: str | None = None,
        file_size: int | None = None,
    ) -> JSONDict:
        suffix = "." + file_name.rsplit(".", 1)[-1] if "." in file_name else ""
        file_id, unique = self.add_file(data, suffix=suffix, folder="documents")
        document: JSONDict = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": file_name,
            "file_size": len(data) if file_size is None else file_size,
        }
        if mime_type is not None:
            document["mime_type"] = mime_type
        return {"message": self.message(chat_id, user_id, caption=caption, document=document)}

    def text_update(
        self, chat_id: int, user_id: int, text: str, *, reply_to: JSONDict | None = None
    ) -> JSONDict:
        return {"message": self.message(chat_id, user_id, text=text, reply_to=reply_to)}

    def command_update(
        self, chat_id: int, user_id: int, text: str, *, reply_to: JSONDict | None = None
    ) -> JSONDict:
        if not text.startswith("/"):
            raise ValueError("a command starts with /")
        return self.text_update(chat_id, user_id, text, reply_to=reply_to)

    def album_updates(
        self,
        chat_id: int,
        user_id: int,
        images: Sequence[bytes | None],
        *,
        caption: str | None = None,
    ) -> list[JSONDict]:
        """One update per album item, sharing a media_group_id; None makes a video item."""
        group_id = str(next(self._media_groups))
        updates = []
        for i, data in enumerate(images):
            item_caption = caption if i == 0 else None
            if data is None:
                video = {
                    "file_id": self.add_file(b"\x00" * 64, suffix=".mp4", folder="videos")[0],
                    "file_unique_id": f"AgADvideo{i}",
                    "width": 640,
                    "height": 360,
                    "duration": 3,
                }
                msg = self.message(
                    chat_id, user_id, caption=item_caption, video=video, media_group_id=group_id
                )
            else:
                msg = self.photo_message(
                    chat_id, user_id, data, caption=item_caption, media_group_id=group_id
                )
            updates.append({"message": msg})
        return updates

    def callback_update(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """A button press on `message` (a Message dict the bot sent, e.g. `call.result`).

        Its query id can be answered once (answerCallbackQuery), as on Telegram."""
        query_id = f"{next(self._callback_ids)}{user_id}"
        self._open_queries[query_id] = message
        return {
            "callback_query": {
                "id": query_id,
                "from": self.user(user_id),
                "message": message,
                "chat_instance": f"ci{message['chat']['id']}",
                "data": data,
            }
        }

    # ---- server --------------------------------------------------------------------------------

    def _message_counter(self, chat_id: int) -> itertools.count[int]:
        return self._message_ids.setdefault(chat_id, itertools.count(1))

    async def _read_params(self, request: web.Request) -> tuple[JSONDict, dict[str, UploadedFile]]:
        params: JSONDict = {}
        files: dict[str, UploadedFile] = {}
        raw: dict[str, str] = dict(request.query)
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.read()
            if body:
                try:
                    decoded = json.loads(body)
                except ValueError as exc:
                    raise ApiFailure(400, "Bad Request: can't parse JSON") from exc
                if not isinstance(decoded, dict):
                    raise ApiFailure(400, "Bad Request: JSON object expected")
                params.update(decoded)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(
                        key, value.filename, value.content_type, value.file.read()
                    )
                else:
                    raw[key] = str(value)
        for key, text in raw.items():
            if key in _STRING_PARAMS:
                params[key] = text
                continue
            try:
                params[key] = json.loads(text)
            except ValueError:
                params[key] = text
        return params, files

    def _check_token(self, request: web.Request) -> None:
        if request.match_info["token"] != self.token:
            raise ApiFailure(401, "Unauthorized")

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = ApiCall(method, {}, {}, time.monotonic())
        try:
            self._check_token(request)
            call.params, call.files = await self._read_params(request)
            self._inject_failure(method)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiFailure(404, "Not Found: method not found")
            call.result = await handler(call)
        except ApiFailure as failure:
            call.status = failure.status
            body: JSONDict = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.parameters:
                body["parameters"] = failure.parameters
            response = web.json_response(body, status=failure.status)
        else:
            response = web.json_response({"ok": True, "result": call.result})
        if method != "getUpdates":
            self.calls.append(call)
            self._call_added.set()
        return response

    def _inject_failure(self, method: str) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        raise ApiFailure(failure.status, failure.description, failure.parameters)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    # ---- methods -------------------------------------------------------------------------------

    def _chat_param(self, call: ApiCall) -> _Chat:
        chat_id = call.chat_id
        if not isinstance(chat_id, int):
            raise ApiFailure(400, "Bad Request: chat not found")
        chat = self._chats.get(chat_id)
        if chat is None and chat_id > 0:
            raise ApiFailure(403, "Forbidden: bot can't initiate conversation with a user")
        if chat is None:
            raise ApiFailure(400, "Bad Request: chat not found")
        return chat

    def _check_markup(self, params: JSONDict) -> None:
        markup = params.get("reply_markup")
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise ApiFailure(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise ApiFailure(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiFailure(400, "Bad Request: text buttons are unallowed")

    def _reply_to(self, chat: _Chat, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        message_id = (
            reply.get("message_id")
            if isinstance(reply, dict)
            else params.get("reply_to_message_id")
        )
        if message_id is None:
            return None
        original = self._messages.get((chat.id, int(message_id)))
        allow = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
        if original is None and not allow:
            raise ApiFailure(400, "Bad Request: message to be replied not found")
        return original

    def _new_message(self, chat: _Chat, params: JSONDict, **fields: Any) -> JSONDict:
        message_id = next(self._message_counter(chat.id))
        msg: JSONDict = {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": chat.to_dict(),
            "date": int(time.time()),
        }
        original = self._reply_to(chat, params)
        if original is not None:
            msg["reply_to_message"] = original
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        msg.update(fields)
        self._messages[(chat.id, message_id)] = msg
        return msg

    def _uploaded_photo(self, data: bytes) -> list[JSONDict]:
        if len(data) > MAX_PHOTO_UPLOAD_BYTES:
            raise ApiFailure(413, "Request Entity Too Large")
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                width, height = image.size
        except Exception as exc:
            raise ApiFailure(400, "Bad Request: IMAGE_PROCESS_FAILED") from exc
        if width + height > 10_000 or max(width, height) > 20 * min(width, height):
            raise ApiFailure(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        return self.photo_sizes(data)

    def _photo_param(self, call: ApiCall, value: Any, files: dict[str, UploadedFile]) -> bytes:
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in files:
                raise ApiFailure(400, "Bad Request: wrong file identifier/HTTP URL specified")
            return files[name].data
        if isinstance(value, str) and value in self._files:
            return self._files[value].data
        if isinstance(value, str):
            raise ApiFailure(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiFailure(400, "Bad Request: there is no photo in the request")

    def _check_caption(self, caption: Any) -> None:
        if caption is not None and len(str(caption)) > MAX_CAPTION:
            raise ApiFailure(400, "Bad Request: message caption is too long")

    async def _m_getMe(self, call: ApiCall) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, call: ApiCall) -> list[JSONDict]:
        if self.webhook is not None:
            raise ApiFailure(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(call.params.get("offset") or 0)
        timeout = float(call.params.get("timeout") or 0)
        limit = int(call.params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        while True:
            if offset:
                self._queue.updates = [u for u in self._queue.updates if u["update_id"] >= offset]
                self._queue.acknowledged.set()
            if self._queue.updates or self._closing.is_set():
                batch = self._queue.updates[:limit]
                self.polls.append(Poll(offset, tuple(u["update_id"] for u in batch)))
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.polls.append(Poll(offset, ()))
                return []
            self._queue.changed.clear()
            try:
                await asyncio.wait_for(self._queue.changed.wait(), remaining)
            except TimeoutError:
                self.polls.append(Poll(offset, ()))
                return []

    async def _m_setWebhook(self, call: ApiCall) -> bool:
        url = call.params.get("url")
        if not url:
            self.webhook = None
            return True
        if not str(url).startswith(("http://", "https://")):
            raise ApiFailure(400, "Bad Request: bad webhook: invalid webhook URL specified")
        self.webhook = dict(call.params)
        if call.params.get("drop_pending_updates"):
            self._queue.updates.clear()
        return True

    async def _m_deleteWebhook(self, call: ApiCall) -> bool:
        self.webhook = None
        if call.params.get("drop_pending_updates"):
            self._queue.updates.clear()
        return True

    async def _m_getWebhookInfo(self, call: ApiCall) -> JSONDict:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue.updates),
        }

    async def _m_setMyCommands(self, call: ApiCall) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise ApiFailure(400, 'Bad Request: parameter "commands" is required')
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise ApiFailure(400, "Bad Request: BOT_COMMAND_INVALID")
        key = self._menu_key(call)
        self.command_menus[key] = commands
        if key == ("", ""):
            self.commands = commands
        return True

    async def _m_getMyCommands(self, call: ApiCall) -> list[JSONDict]:
        return self.command_menus.get(self._menu_key(call), [])

    async def _m_deleteMyCommands(self, call: ApiCall) -> bool:
        self.command_menus.pop(self._menu_key(call), None)
        return True

    def _menu_key(self, call: ApiCall) -> tuple[str, str]:
        scope = call.params.get("scope")
        shown = "" if scope in (None, {"type": "default"}) else json.dumps(scope, sort_keys=True)
        language = call.params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiFailure(400, "Bad Request: invalid language code specified")
        return shown, str(language)

    async def _m_sendChatAction(self, call: ApiCall) -> bool:
        self._chat_param(call)
        if not call.params.get("action"):
            raise ApiFailure(400, "Bad Request: wrong parameter action in request")
        return True

    async def _m_sendMessage(self, call: ApiCall) -> JSONDict:
        chat = self._chat_param(call)
        text = call.params.get("text")
        if not text:
            raise ApiFailure(400, "Bad Request: message text is empty")
        if len(str(text)) > MAX_TEXT:
            raise ApiFailure(400, "Bad Request: message is too long")
        self._check_markup(call.params)
        return self._new_message(chat, call.params, text=str(text))

    async def _m_sendPhoto(self, call: ApiCall) -> JSONDict:
        chat = self._chat_param(call)
        self._check_caption(call.params.get("caption"))
        self._check_markup(call.params)
        value = call.params.get("photo", "attach://photo" if "photo" in call.files else None)
        data = self._photo_param(call, value, call.files)
        fields: JSONDict = {"photo": self._uploaded_photo(data)}
        if call.params.get("caption"):
            fields["caption"] = str(call.params["caption"])
        return self._new_message(chat, call.params, **fields)

    async def _m_sendMediaGroup(self, call: ApiCall) -> list[JSONDict]:
        chat = self._chat_param(call)
        media = call.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiFailure(400, "Bad Request: wrong number of media group items")
        group_id = str(next(self._media_groups))
        messages = []
        for item in media:
            if item.get("type") != "photo":
                raise ApiFailure(400, "Bad Request: unsupported media group item type")
            self._check_caption(item.get("caption"))
            data = self._photo_param(call, item.get("media"), call.files)
            fields: JSONDict = {"photo": self._uploaded_photo(data), "media_group_id": group_id}
            if item.get("caption"):
                fields["caption"] = item["caption"]
            messages.append(self._new_message(chat, call.params, **fields))
        return messages

    async def _m_getFile(self, call: ApiCall) -> JSONDict:
        stored = self._files.get(str(call.params.get("file_id")))
        if stored is None:
            raise ApiFailure(400, "Bad Request: invalid file_id")
        if len(stored.data) > self.max_download_bytes:
            raise ApiFailure(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _m_answerCallbackQuery(self, call: ApiCall) -> bool:
        query_id = str(call.params.get("callback_query_id") or "")
        if self._open_queries.pop(query_id, None) is None:
            raise ApiFailure(400, QUERY_INVALID)
        if len(str(call.params.get("text") or "")) > MAX_CALLBACK_ANSWER:
            raise ApiFailure(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _edit_target(self, call: ApiCall) -> JSONDict:
        chat = self._chat_param(call)
        message = self._messages.get((chat.id, int(call.params.get("message_id") or 0)))
        if message is None or message.get("from", {}).get("id") != self.bot_id:
            raise ApiFailure(400, "Bad Request: message to edit not found")
        return message

    async def _m_editMessageText(self, call: ApiCall) -> JSONDict:
        message = self._edit_target(call)
        if "text" not in message:
            raise ApiFailure(400, "Bad Request: there is no text in the message to edit")
        text = call.params.get("text")
        if not text:
            raise ApiFailure(400, "Bad Request: message text is empty")
        self._check_markup(call.params)
        markup = call.params.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiFailure(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message["text"] = str(text)
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _m_editMessageReplyMarkup(self, call: ApiCall) -> JSONDict:
        message = self._edit_target(call)
        self._check_markup(call.params)
        markup = call.params.get("reply_markup")
        if message.get("reply_markup") == markup:
            raise ApiFailure(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _m_deleteMessage(self, call: ApiCall) -> bool:
        message = self._edit_target(call)
        self._messages.pop((message["chat"]["id"], message["message_id"]), None)
        return True

    def _member(self, chat_id: int, user_id: int) -> JSONDict:
        status = self._members.get((chat_id, user_id), "member")
        user = self.bot_user if user_id == self.bot_id else self.user(user_id)
        member: JSONDict = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                dict.fromkeys(
                    (
                        "can_manage_chat",
                        "can_delete_messages",
                        "can_manage_video_chats",
                        "can_restrict_members",
                        "can_change_info",
                        "can_invite_users",
                        "can_post_stories",
                        "can_edit_stories",
                        "can_delete_stories",
                        "can_pin_messages",
                    ),
                    True,
                )
            )
            member.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
        elif status == "restricted":
            member.update(
                dict.fromkeys(
                    (
                        "is_member",
                        "can_send_messages",
                        "can_send_audios",
                        "can_send_documents",
                        "can_send_photos",
                        "can_send_videos",
                        "can_send_video_notes",
                        "can_send_voice_notes",
                        "can_send_polls",
                        "can_send_other_messages",
                        "can_add_web_page_previews",
                        "can_change_info",
                        "can_invite_users",
                        "can_pin_messages",
                        "can_manage_topics",
                    ),
                    True,
                ),
                until_date=0,
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def _m_getChatMember(self, call: ApiCall) -> JSONDict:
        chat = self._chat_param(call)
        user_id = int(call.params.get("user_id") or 0)
        if not user_id:
            raise ApiFailure(400, "Bad Request: PARTICIPANT_ID_INVALID")
        if chat.type == "private":
            return {"status": "member", "user": self.user(user_id)}
        return self._member(chat.id, user_id)

    async def _m_getChatAdministrators(self, call: ApiCall) -> list[JSONDict]:
        chat = self._chat_param(call)
        return [
            self._member(chat_id, user_id)
            for (chat_id, user_id), status in self._members.items()
            if chat_id == chat.id and status in ("creator", "administrator")
        ]

    async def _m_getChat(self, call: ApiCall) -> JSONDict:
        chat = self._chat_param(call)
        return {**chat.to_dict(), "accent_color_id": 0, "max_reaction_count": 11}
