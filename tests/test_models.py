"""Several models and versions: /model per chat, a sticky canary share, the version that answered,
falling back to the default model when a chosen one is gone (against the TF Serving stand-in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.detection.errors import ModelNotFound
from bot.detection.models import CANARY_LABEL, STABLE_LABEL, ModelCatalog, canary_bucket
from bot.detection.tfserving import TFServingDetector
from tests.support.bot_fixtures import ADMIN_ID, RunningBot, StartBot
from tests.support.bot_helpers import eventually_rows, image_size, rows
from tests.support.tfserving_standin import TFServingStandIn
from tests.test_model_stats import seed as seed_model_stats

USER = 5_000_000_301
GROUP = -1_001_234_567_893
MEMBER = 5_000_000_302
ACCURATE = "detector_accurate"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def two_models(tfserving_standin: TFServingStandIn) -> TFServingStandIn:
    """The stand-in serving `detector` in versions 1 (stable) and 2 (canary), and
    `detector_accurate` in version 7, as a model_config_list with version labels would."""
    tfserving_standin.serve(
        tfserving_standin.model_name, (1, 2), {STABLE_LABEL: 1, CANARY_LABEL: 2}
    )
    tfserving_standin.serve(ACCURATE, (7,))
    return tfserving_standin


@pytest.fixture
def cat(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


def chat_in(share: float, *, canary: bool, model: str = "detector", start: int = 1) -> int:
    """The first private chat id from `start` that the hash puts in (or out of) the canary."""
    chat = start
    while (canary_bucket(chat, model) < share) != canary:
        chat += 1
    return chat


def test_canary_share_of_ten_percent_over_1000_chats_is_within_bounds_and_sticky() -> None:
    catalog = ModelCatalog({"detector": _Unused()}, canary_share=0.1)
    chats = range(-500, 500)
    routes = {chat: catalog.route(chat) for chat in chats}
    canary = sum(route.version_label == CANARY_LABEL for route in routes.values())
    # Binomial(1000, 0.1): mean 100, sd 9.5; four sd either side.
    assert 62 <= canary <= 138
    assert all(route.version_label in (STABLE_LABEL, CANARY_LABEL) for route in routes.values())
    assert all(catalog.route(chat) == routes[chat] for chat in chats)
    again = ModelCatalog({"detector": _Unused()}, canary_share=0.1)
    assert all(again.route(chat) == routes[chat] for chat in chats)


def test_without_a_canary_share_no_version_label_is_asked() -> None:
    catalog = ModelCatalog({"detector": _Unused(), ACCURATE: _Unused()})
    assert catalog.route(5).version_label is None
    assert catalog.route(5, ACCURATE).name == ACCURATE
    assert catalog.route(5, "no_longer_configured").name == "detector"


async def test_canary_chats_are_answered_by_the_canary_version_each_time(
    two_models: TFServingStandIn,
) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    detector = TFServingDetector(two_models.address, "detector", timeout_s=10.0, retries=1)
    catalog = ModelCatalog({"detector": detector}, canary_share=0.1)
    await catalog.start()
    try:
        answered: dict[int, set[str]] = {}
        for chat in range(40):
            for _ in range(2):
                served = await catalog.detect(image, catalog.route(chat))
                answered.setdefault(chat, set()).add(served.model_version)
    finally:
        await catalog.close()
    expected = {chat: {"2" if canary_bucket(chat, "detector") < 0.1 else "1"} for chat in range(40)}
    assert answered == expected
    assert two_models.predicts_by_version.get(("detector", 2), 0) == 2 * sum(
        v == {"2"} for v in expected.values()
    )


async def test_unknown_version_label_is_tf_servings_error(two_models: TFServingStandIn) -> None:
    detector = TFServingDetector(two_models.address, ACCURATE, timeout_s=10.0, retries=1)
    await detector.start()
    try:
        with pytest.raises(ModelNotFound, match="Unrecognized servable version label: canary"):
            await detector.detect(np.zeros((64, 64, 3), np.uint8), version_label=CANARY_LABEL)
    finally:
        await detector.close()


async def command(bot: RunningBot, text: str, user: int = USER, chat: int | None = None) -> Any:
    return await bot.send(bot.api.command_update(chat or user, user, text), "sendMessage")


async def test_model_command_switches_the_chat_and_detections_carry_name_and_version(
    two_models: TFServingStandIn, start_bot: StartBot, cat: bytes
) -> None:
    bot = await start_bot(model_name=f"detector,{ACCURATE}")
    api = bot.api
    menu = await command(bot, "/model")
    assert "Model for this chat: detector" in menu.params["text"]
    assert [b["text"] for row in menu.buttons for b in row] == [
        "✓ detector · no photos yet",
        f"{ACCURATE} · no photos yet",
    ]

    edit = await bot.send(api.callback_update(USER, menu.result, "mdl:1"), "editMessageText")
    assert f"Model for this chat: {ACCURATE}" in edit.params["text"]
    await bot.send(api.private_photo_update(USER, cat), "sendPhoto")

    assert await eventually_rows(
        bot,
        "SELECT model_name, model_version, model_label FROM detections",
        [(ACCURATE, "7", None)],
    ) == [(ACCURATE, "7", None)]
    assert await rows(bot, "SELECT id, model_name FROM chats") == [(USER, ACCURATE)]
    again = await command(bot, "/model")
    buttons = [b["text"] for row in again.buttons for b in row]
    assert buttons[0] == "detector · no photos yet"
    assert buttons[1].startswith(f"✓ {ACCURATE} · median ") and buttons[1].endswith(" ms")


async def test_a_chosen_model_that_is_gone_falls_back_to_the_default_and_the_choice_is_kept(
    two_models: TFServingStandIn, start_bot: StartBot, cat: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(model_name=f"detector,{ACCURATE}")
    await bot.repository.chat_settings.update(USER, model_name=ACCURATE)
    two_models.unload(ACCURATE)

    reply = await bot.send(bot.api.private_photo_update(USER, cat), "sendPhoto")

    assert "cat" in reply.params["caption"]
    assert await eventually_rows(
        bot, "SELECT status, model_name, model_version FROM detections", [("ok", "detector", "2")]
    ) == [("ok", "detector", "2")]
    assert (await bot.repository.chat_settings.get(USER)).model_name == ACCURATE
    assert f"model {ACCURATE} failed" in caplog.text
    metrics = bot.services.metrics.render()[0].decode()
    assert f'detectx_model_fallbacks_total{{fallback="detector",model="{ACCURATE}"}} 1.0' in metrics


@sqlite_only
async def test_canary_chat_gets_the_canary_version_and_other_chats_the_stable_one(
    two_models: TFServingStandIn, start_bot: StartBot, cat: bytes
) -> None:
    bot = await start_bot(canary_share=0.1)
    canary_user = chat_in(0.1, canary=True, start=USER)
    stable_user = chat_in(0.1, canary=False, start=USER)

    await bot.send(bot.api.private_photo_update(canary_user, cat), "sendPhoto")
    await bot.send(bot.api.private_photo_update(stable_user, cat), "sendPhoto")
    await bot.send(bot.api.private_photo_update(canary_user, cat), "sendPhoto")

    expected = [
        (canary_user, "detector", "2", CANARY_LABEL),
        (canary_user, "detector", "2", CANARY_LABEL),
        (stable_user, "detector", "1", STABLE_LABEL),
    ]
    assert await eventually_rows(
        bot,
        "SELECT chat_id, model_name, model_version, model_label FROM detections "
        "ORDER BY chat_id DESC, id",
        sorted(expected, key=lambda r: -r[0]),
    ) == sorted(expected, key=lambda r: -r[0])


@sqlite_only
async def test_non_admin_cannot_choose_the_group_model(
    two_models: TFServingStandIn, start_bot: StartBot
) -> None:
    bot = await start_bot(model_name=f"detector,{ACCURATE}")
    menu = await command(bot, "/model", user=MEMBER, chat=GROUP)
    answer = await bot.send(
        bot.api.callback_update(MEMBER, menu.result, "mdl:1"), "answerCallbackQuery"
    )
    assert "Only group admins" in answer.params["text"]
    assert (await bot.repository.chat_settings.get(GROUP)).model_name is None


@sqlite_only
async def test_model_command_with_one_model_says_so(start_bot: StartBot) -> None:
    bot = await start_bot()
    reply = await command(bot, "/model")
    assert reply.params["text"] == "This bot serves one model: detector."
    assert "reply_markup" not in reply.params


class _Unused:
    """A detector the routing tests never call."""

    info: Any = None

    async def start(self) -> None: ...

    async def detect(self, image: Any, *, version_label: str | None = None) -> Any:
        raise AssertionError("not called")

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None: ...


@sqlite_only
async def test_stats_compares_stable_and_canary_with_figures_and_a_chart(
    start_bot: StartBot, database_url: str
) -> None:
    bot = await start_bot()
    await seed_model_stats(bot.repository, database_url)
    api = bot.api
    before = len(api.calls_to("sendPhoto"))

    text = (await command(bot, "/stats", user=ADMIN_ID)).params["text"]
    (chart,) = (await api.wait_for("sendPhoto", before + 1))[before:]

    assert (
        "• detector canary v2: 3 photos, failed 0%, median 7 ms, p95 50 ms, 1.7 objects/photo; "
        "👍 9 / 👎 1, 👍 90% (95% CI 60%–98%)"
    ) in text
    assert (
        "• detector stable v1: 5 photos, failed 20%, median 25 ms, p95 40 ms, 1.0 objects/photo; "
        "👍 2 / 👎 8, 👍 20% (95% CI 6%–51%)"
    ) in text
    assert "Canary vs stable: people like the canary more (p = 0.002, significant)." in text
    assert chart.chat_id == ADMIN_ID
    width, height = image_size(chart.upload(), "PNG")
    assert width > 300 and height > 600


def test_the_shipped_model_config_is_what_compose_serves_and_tf_serving_parses() -> None:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    root = Path(__file__).resolve().parents[1]
    config = text_format.Parse(
        (root / "tfserving" / "models.config").read_text(),
        model_server_config_pb2.ModelServerConfig(),
    )
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("detector", "/models/detector")
    ]
    compose = (root / "docker-compose.yml").read_text()
    assert "--model_config_file=/models/models.config" in compose
    assert "./tfserving:/models:ro" in compose


@sqlite_only
async def test_model_command_in_process_says_one_model_is_served(
    start_bot: StartBot, model_base_dir: Path
) -> None:
    bot = await start_bot(
        tfserving_address=None,
        model_path=model_base_dir,
        model_auto_download=False,
        model_name=f"detector,{ACCURATE}",
        canary_share=0.5,
    )
    reply = await command(bot, "/model")
    assert (
        reply.params["text"]
        == "This bot runs its model in-process, so it serves one model: detector."
    )
    assert bot.services.models.route(USER).version_label is None
