"""The bot in each language, end to end through the Bot API stand-in: captions with translated class
names and plural forms, error replies, the command menus, /language across restarts and replicas,
group languages, and a custom label map shown as written."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.i18n import translator
from bot.labels import BUNDLED_LABEL_MAP
from tests.support.bot_fixtures import (
    RunningBot,
    StartBot,
    make_bot_settings,
    start_polling_bot,
)
from tests.support.botapi_standin import ApiCall, BotApiStandIn
from tests.support.tfserving_standin import TFServingStandIn

USER = 5_200_000_001
MEMBER = 5_200_000_101
ADMIN = 5_200_000_102
GROUP = -1_005_200_000_001
OTHER_GROUP = -1_005_200_000_002
FIVE_OBJECTS_SCORE = 0.395
"""On motorcycle_stereo.jpg: 3 motorcycles, a chair and a person score above it (the next
object is at 0.383, the fifth at 0.405)."""
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LANGUAGE_CODES = {"en": "en", "ru": "ru", "es": "es-419", "de": "de", "pt": "pt-br"}
CAPTIONS = {
    "en": [
        "1 × cat (1 object)",
        "2 × motorcycle (2 objects)",
        "3 × motorcycle, 1 × chair, 1 × person (5 objects)",
    ],
    "ru": [
        "1 × кошка (1 объект)",
        "2 × мотоцикл (2 объекта)",
        "3 × мотоцикл, 1 × стул, 1 × человек (5 объектов)",
    ],
    "es": [
        "1 × gato (1 objeto)",
        "2 × moto (2 objetos)",
        "3 × moto, 1 × persona, 1 × silla (5 objetos)",
    ],
    "de": [
        "1 × Katze (1 Objekt)",
        "2 × Motorrad (2 Objekte)",
        "3 × Motorrad, 1 × Person, 1 × Stuhl (5 Objekte)",
    ],
    "pt": [
        "1 × gato (1 objeto)",
        "2 × moto (2 objetos)",
        "3 × moto, 1 × cadeira, 1 × pessoa (5 objetos)",
    ],
}
NOT_AN_IMAGE = {
    "en": "That file is not an image. Send a JPEG, PNG, WebP, BMP or GIF.",
    "ru": "Это не изображение. Пришлите JPEG, PNG, WebP, BMP или GIF.",
    "es": "Eso no es una imagen. Envía un JPEG, PNG, WebP, BMP o GIF.",
    "de": "Das ist kein Bild. Schick ein JPEG, PNG, WebP, BMP oder GIF.",
    "pt": "Isso não é uma imagem. Envie um JPEG, PNG, WebP, BMP ou GIF.",
}
LANGUAGE_MENU_ITEM = {
    "en": "the language I answer in",
    "ru": "язык, на котором я отвечаю",
    "es": "el idioma en que respondo",
    "de": "die Sprache meiner Antworten",
    "pt": "o idioma em que respondo",
}

START_FIRST_LINE = {
    "en": "Hi! Send me a photo and I'll mark the objects I find and count them.",
    "ru": "Привет! Пришлите фото, и я отмечу и посчитаю объекты на нём.",
    "es": "¡Hola! Envíame una foto y marcaré y contaré los objetos que encuentre.",
    "de": "Hallo! Schick mir ein Foto, und ich markiere und zähle die Objekte darauf.",
    "pt": "Olá! Envie uma foto e eu marco e conto os objetos que encontrar.",
}
HELP_LANGUAGE_LINE = {
    language: f"/language — {description}" for language, description in LANGUAGE_MENU_ITEM.items()
}


@pytest.fixture
def cat(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


@pytest.fixture
def motorcycles(photos_dir: Path) -> bytes:
    return (photos_dir / "motorcycle_stereo.jpg").read_bytes()


async def _text_document(bot: RunningBot, user: int) -> ApiCall:
    update = bot.api.document_update(
        user, user, b"just some notes\n", file_name="notes.txt", mime_type="text/plain"
    )
    return await bot.send(update, "sendMessage")


@sqlite_only
@pytest.mark.parametrize("language", list(CAPTIONS))
async def test_photos_and_errors_are_answered_in_the_persons_language(
    running_bot: RunningBot, cat: bytes, motorcycles: bytes, language: str
) -> None:
    api = running_bot.api
    api.set_language_code(USER, LANGUAGE_CODES[language])

    one = await running_bot.send(api.private_photo_update(USER, cat), "sendPhoto")
    two = await running_bot.send(api.private_photo_update(USER, motorcycles), "sendPhoto")
    await running_bot.repository.chat_settings.update(USER, min_score=FIVE_OBJECTS_SCORE)
    five = await running_bot.send(api.private_photo_update(USER, motorcycles), "sendPhoto")
    error = await _text_document(running_bot, USER)

    assert [c.params["caption"] for c in (one, two, five)] == CAPTIONS[language]
    assert error.params["text"] == NOT_AN_IMAGE[language]


@sqlite_only
@pytest.mark.parametrize("language", list(CAPTIONS))
async def test_start_and_help_are_in_the_persons_language(
    running_bot: RunningBot, language: str
) -> None:
    api = running_bot.api
    api.set_language_code(USER, LANGUAGE_CODES[language])
    api.set_language_code(USER + 1, "en")

    start = await running_bot.send(api.command_update(USER, USER, "/start"), "sendMessage")
    help_ = await running_bot.send(api.command_update(USER, USER, "/help"), "sendMessage")
    english = await running_bot.send(api.command_update(USER + 1, USER + 1, "/help"), "sendMessage")

    assert start.params["text"].splitlines()[0] == START_FIRST_LINE[language]
    lines = help_.params["text"].splitlines()
    assert HELP_LANGUAGE_LINE[language] in lines
    if language != "en":
        shared = set(lines) & set(english.params["text"].splitlines()) - {""}
        assert shared == set(), f"English lines in the {language} /help: {shared}"


@sqlite_only
async def test_an_unknown_language_code_gets_english(running_bot: RunningBot, cat: bytes) -> None:
    api = running_bot.api
    api.set_language_code(USER, "zh-hans")

    start = await running_bot.send(api.command_update(USER, USER, "/start"), "sendMessage")
    reply = await running_bot.send(api.private_photo_update(USER, cat), "sendPhoto")
    error = await _text_document(running_bot, USER)

    assert start.params["text"].splitlines()[0] == START_FIRST_LINE["en"]
    assert reply.params["caption"] == CAPTIONS["en"][0]
    assert error.params["text"] == NOT_AN_IMAGE["en"]


@sqlite_only
async def test_command_menu_is_registered_in_every_language(running_bot: RunningBot) -> None:
    menus = running_bot.api.command_menus
    by_language = {
        language: {c["command"]: c["description"] for c in menus[("", code)]}
        for language, code in (("en", ""), ("ru", "ru"), ("es", "es"), ("de", "de"), ("pt", "pt"))
    }

    english = by_language["en"]
    assert "language" in english
    for language, menu in by_language.items():
        assert list(menu) == list(english), language
        assert menu["language"] == LANGUAGE_MENU_ITEM[language]
        if language != "en":
            same = [c for c in menu if menu[c] == english[c]]
            assert same == [], f"{language} menu has English descriptions for {same}"


def _button_texts(call: ApiCall) -> list[str]:
    return [button["text"] for row in call.buttons for button in row]


@pytest.fixture
async def other_replica(
    botapi: BotApiStandIn, database_url: str, tfserving_standin: TFServingStandIn
) -> AsyncIterator[RunningBot]:
    """A second replica on the same database and the same Bot API, as replicas of one bot are:
    whichever replica claims an update answers it."""
    bot = await start_polling_bot(
        make_bot_settings(botapi, database_url, tfserving_standin), botapi
    )
    yield bot
    await bot.stop()


async def test_language_choice_beats_telegram_language_across_restarts_and_replicas(
    start_bot: StartBot, other_replica: RunningBot, cat: bytes
) -> None:
    first = await start_bot()
    api = first.api
    api.set_language_code(USER, "de")

    menu = await first.send(api.command_update(USER, USER, "/language"), "sendMessage")
    assert menu.params["text"] == (
        "Ich antworte auf Deutsch, der Sprache deiner Telegram-App. Wähle eine andere:"
    )
    assert _button_texts(menu) == [
        "English",
        "Deutsch",
        "Español",
        "Português",
        "Русский",
        "✓ Sprache von Telegram",
    ]
    edited = await first.send(api.callback_update(USER, menu.result, "lang:ru"), "editMessageText")
    assert edited.params["text"] == "Я отвечаю на языке: русский. Выберите другой:"
    assert "✓ Русский" in _button_texts(edited)
    chat_menu = api.command_menus[(json.dumps({"chat_id": USER, "type": "chat"}), "")]
    assert chat_menu[0]["description"] == "что умеет этот бот"
    photo = await first.send(api.private_photo_update(USER, cat), "sendPhoto")
    assert photo.params["caption"] == CAPTIONS["ru"][0]

    await first.stop()
    restarted = await start_bot()
    again = await restarted.send(restarted.api.private_photo_update(USER, cat), "sendPhoto")
    assert again.params["caption"] == CAPTIONS["ru"][0]

    other_replica.api.set_language_code(USER, "de")
    elsewhere = await other_replica.send(
        other_replica.api.private_photo_update(USER, cat), "sendPhoto"
    )
    assert elsewhere.params["caption"] == CAPTIONS["ru"][0]

    back = await restarted.send(
        restarted.api.command_update(USER, USER, "/language"), "sendMessage"
    )
    auto = await restarted.send(
        restarted.api.callback_update(USER, back.result, "lang:auto"), "editMessageText"
    )
    assert auto.params["text"].startswith("Ich antworte auf Deutsch, der Sprache deiner")
    photo = await restarted.send(restarted.api.private_photo_update(USER, cat), "sendPhoto")
    assert photo.params["caption"] == CAPTIONS["de"][0]


async def test_group_language_set_by_an_admin_applies_to_everyone_there(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.set_language_code(ADMIN, "es")
    api.set_language_code(MEMBER, "de")
    api.set_member_status(GROUP, ADMIN, "administrator")

    menu = await running_bot.send(api.command_update(GROUP, ADMIN, "/language"), "sendMessage")
    assert menu.params["text"].startswith("Este grupo no tiene idioma propio")
    refused = await running_bot.send(
        api.callback_update(MEMBER, menu.result, "lang:ru"), "answerCallbackQuery"
    )
    assert refused.params["text"] == "Nur Admins können die Sprache der Gruppe ändern."
    assert refused.params.get("show_alert") is True
    edited = await running_bot.send(
        api.callback_update(ADMIN, menu.result, "lang:es"), "editMessageText"
    )
    assert edited.params["text"] == "Idioma del grupo: español. Los admins pueden cambiarlo:"

    in_group = await running_bot.send(
        api.group_photo_update(GROUP, MEMBER, cat, caption="/detect"), "sendPhoto"
    )
    elsewhere = await running_bot.send(
        api.group_photo_update(OTHER_GROUP, MEMBER, cat, caption="/detect"), "sendPhoto"
    )
    private = await running_bot.send(api.private_photo_update(MEMBER, cat), "sendPhoto")

    assert in_group.params["caption"] == CAPTIONS["es"][0]
    assert elsewhere.params["caption"] == CAPTIONS["de"][0]
    assert private.params["caption"] == CAPTIONS["de"][0]


@sqlite_only
async def test_a_custom_label_map_is_shown_as_written_in_every_language(
    start_bot: StartBot, cat: bytes, tmp_path: Path
) -> None:
    custom = tmp_path / "labels.pbtxt"
    shutil.copy(Path(__file__).parents[1] / "bot" / "data" / BUNDLED_LABEL_MAP, custom)
    bot = await start_bot(label_map=custom)
    bot.api.set_language_code(USER, "ru")

    reply = await bot.send(bot.api.private_photo_update(USER, cat), "sendPhoto")

    assert reply.params["caption"] == "1 × cat (1 объект)"


@sqlite_only
async def test_the_queue_notice_is_in_the_persons_language(
    start_bot: StartBot, tfserving_standin: TFServingStandIn, cat: bytes
) -> None:
    bot = await start_bot(max_concurrent_detections=1, queue_notice_s=0.2)
    tfserving_standin.latency_s = 0.8
    api = bot.api
    for i in range(3):
        api.set_language_code(USER + i, "ru")
    api.push_updates([api.private_photo_update(USER + i, cat) for i in range(3)])
    await api.wait_for("sendPhoto", 3, timeout=30)

    notices = [c.params["text"] for c in api.calls_to("sendMessage")]
    assert notices, "no photo was told it is queued"
    assert set(notices) == {"Сейчас много фото: ваше в очереди, скоро отвечу."}


@sqlite_only
async def test_an_album_is_answered_in_the_persons_language(
    running_bot: RunningBot, cat: bytes, motorcycles: bytes
) -> None:
    api = running_bot.api
    api.set_language_code(USER, "de")
    api.push_updates(api.album_updates(USER, USER, [cat, motorcycles]))
    group = (await api.wait_for("sendMediaGroup"))[0]
    summary = (await api.wait_for("sendMessage"))[0]

    assert group.params["media"][0]["caption"] == "1. 1 × Katze (1 Objekt)"
    assert summary.params["text"].splitlines() == [
        "1. 1 × Katze (1 Objekt)",
        "2. 2 × Motorrad (2 Objekte)",
    ]


@sqlite_only
async def test_language_menu_for_an_unsupported_telegram_language_does_not_claim_it(
    running_bot: RunningBot,
) -> None:
    api = running_bot.api
    api.set_language_code(USER, "uk")

    menu = await running_bot.send(api.command_update(USER, USER, "/language"), "sendMessage")

    assert menu.params["text"] == "I answer in English. Choose another:"
    assert _button_texts(menu)[-1] == "✓ Telegram's language"


@sqlite_only
async def test_history_and_settings_use_the_locales_dates_numbers_and_class_names(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.set_language_code(USER, "es")
    await running_bot.send(api.private_photo_update(USER, cat), "sendPhoto")
    await running_bot.repository.chat_settings.update(
        USER, min_score=0.3, class_filter=frozenset({"cat", "dog"})
    )

    history = await running_bot.send(api.command_update(USER, USER, "/history"), "sendMessage")
    settings = await running_bot.send(api.command_update(USER, USER, "/settings"), "sendMessage")

    today = translator("es").day(datetime.now(UTC).date())
    heading, line = history.params["text"].splitlines()
    assert heading == "Tu última detección:"
    assert line.startswith(today) and line.endswith(" UTC — 1 × gato")
    assert settings.params["text"].splitlines() == [
        "Ajustes de este chat:",
        "Umbral: 30\xa0%",
        "Clases: gato, perro",
    ]
    assert _button_texts(settings)[:2] == ["✓ 30\xa0%", "50\xa0%"]
    assert "Clases: 2 ▸" in _button_texts(settings)
