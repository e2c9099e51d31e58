"""A TF Serving replica carries no TensorFlow, seen from outside the process (/proc/PID).

`python -m bot run` runs against the Bot API and TF Serving stand-ins of this test process, in an
environment where TensorFlow is installed: nothing but the code's own imports keeps it out.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.support.botapi_standin import BotApiStandIn
from tests.support.tfserving_standin import TFServingStandIn
from tests.test_runner import WAIT_S, _env, _free_port, _run_to_end, bot_process

RSS_LIMIT_MB = 200
PHOTOS = 24
USERS = 4
ADMIN = 6_000_000_100
HEAVY_LIBRARIES = ("tensorflow", "libtensorflow", "matplotlib")


def _mapped_files(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
        return {line.split()[-1] for line in maps if len(line.split()) >= 6}


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _heavy(files: set[str]) -> list[str]:
    return sorted(f for f in files if any(lib in f for lib in HEAVY_LIBRARIES))


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
async def test_tf_serving_mode_maps_no_tensorflow_and_stays_under_200_mb_while_answering(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    photos_dir: Path,
    tmp_path: Path,
) -> None:
    env = _env(
        TELEGRAM_BOT_TOKEN=botapi.token,
        TELEGRAM_API_URL=botapi.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}",
        TFSERVING_ADDRESS=tfserving_standin.address,
        MODEL_NAME=tfserving_standin.model_name,
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=str(_free_port()),
        ADMIN_IDS=str(ADMIN),
    )
    photos = [p.read_bytes() for p in sorted(photos_dir.glob("*.jpg"))]  # noqa: ASYNC240
    async with bot_process(env, tmp_path) as bot:
        await bot.wait_serving()
        pid = bot.process.pid
        assert _heavy(_mapped_files(pid)) == []

        peak = _rss_mb(pid)
        for n in range(PHOTOS):
            user = 6_000_000_000 + n % USERS
            botapi.push_update(botapi.private_photo_update(user, photos[n % len(photos)]))
        deadline = asyncio.get_running_loop().time() + WAIT_S * 3
        while len(botapi.calls_to("sendPhoto")) < PHOTOS:
            assert asyncio.get_running_loop().time() < deadline, "not every photo was answered"
            peak = max(peak, _rss_mb(pid))
            await asyncio.sleep(0.02)
        peak = max(peak, _rss_mb(pid))
        mapped = _mapped_files(pid)

        botapi.push_update(botapi.command_update(ADMIN, ADMIN, "/stats"))
        await botapi.wait_for("sendPhoto", PHOTOS + 1, timeout=WAIT_S)
        after_stats = _mapped_files(pid)
        assert await bot.terminate() == 0
    assert _heavy(mapped) == []
    assert any("grpc" in f for f in mapped), "the gRPC client was not loaded at all"
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB while answering {PHOTOS} photos"
    assert [f for f in _heavy(after_stats) if "tensorflow" in f] == []


@pytest.fixture
def without_tensorflow(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH where `import tensorflow` fails as it does in an install without the extra."""
    shadow = tmp_path / "no_tensorflow" / "tensorflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'tensorflow\'", name="tensorflow")\n',
        encoding="utf-8",
    )
    return {"PYTHONPATH": str(shadow.parent)}


async def test_in_process_model_without_tensorflow_says_what_to_install_in_one_line(
    botapi: BotApiStandIn,
    model_base_dir: Path,
    without_tensorflow: dict[str, str],
    tmp_path: Path,
) -> None:
    env = _env(
        TELEGRAM_BOT_TOKEN=botapi.token,
        TELEGRAM_API_URL=botapi.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        MODEL_PATH=str(model_base_dir),
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=str(_free_port()),
        **without_tensorflow,
    )

    code, stderr = await _run_to_end(env, tmp_path)

    assert code == 1
    lines = [line for line in stderr.splitlines() if line.startswith("detectbot:")]
    assert lines == [
        "detectbot: the in-process model needs TensorFlow: pip install 'detectx-bot[inprocess]' "
        "(or set TFSERVING_ADDRESS to use TensorFlow Serving)"
    ], stderr
    assert "Traceback" not in stderr


async def test_detect_without_tensorflow_says_what_to_install(
    model_base_dir: Path, without_tensorflow: dict[str, str], tmp_path: Path
) -> None:
    image = tmp_path / "grey.png"
    from PIL import Image

    Image.new("RGB", (40, 30), (128, 128, 128)).save(image)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "detect",
        str(image),
        env=_env(MODEL_PATH=str(model_base_dir), **without_tensorflow),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT_S * 2)

    assert process.returncode == 3
    assert "pip install 'detectx-bot[inprocess]'" in stderr.decode()
    assert "Traceback" not in stderr.decode()
