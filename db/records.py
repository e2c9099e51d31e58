"""Plain values that go in and out of the Repository (no ORM objects leave db/)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Literal


class Unset(enum.Enum):
    """Marks a keyword argument the caller did not pass (None is a real value)."""

    UNSET = enum.auto()


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class UserInfo:
    id: int
    chat_id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class ChatInfo:
    id: int
    type: str
    title: str | None = None


@dataclass(frozen=True)
class ChatSettings:
    """A chat's settings; min_score None = the bot's default, empty class_filter = all."""

    min_score: float | None = None
    class_filter: frozenset[str] = frozenset()
    auto_mode: bool = False
    model_name: str | None = None
    """The model chosen with /model; None = the default model."""

    def threshold(self, default: float) -> float:
        """The chat's own threshold, or `default` (MIN_SCORE) when it has none."""
        return self.min_score if self.min_score is not None else default


@dataclass(frozen=True)
class NewObject:
    class_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]
    """Normalized ymin, xmin, ymax, xmax."""


@dataclass(frozen=True)
class NewDetection:
    user_id: int
    chat_id: int
    message_id: int
    file_id: str | None
    file_unique_id: str | None
    width: int
    height: int
    model_name: str
    model_version: str
    inference_ms: float
    total_ms: float
    objects: Sequence[NewObject] = ()
    model_label: str | None = None
    requested_at: datetime | None = None
    """When the photo reached the bot; nothing is stored if the person /forgot since."""


@dataclass(frozen=True)
class FailedDetection:
    user_id: int
    chat_id: int
    message_id: int
    error_kind: str
    file_id: str | None = None
    detail: str | None = None
    model_name: str | None = None
    model_label: str | None = None
    requested_at: datetime | None = None


@dataclass(frozen=True)
class HistoryItem:
    detection_id: int
    created_at: datetime
    status: Literal["ok", "failed"]
    counts: dict[str, int]
    """Label → number of objects, most frequent first."""
    error_kind: str | None


@dataclass(frozen=True)
class Stats:
    """Admin numbers. Totals, per_class, latency and top_users cover all time;
    per_day covers the last `days` UTC days, oldest first (days without detections are
    left out). Latency is over `ok` detections; p95 is the nearest-rank percentile.
    top_users counts every detection (ok and failed): (user id, username, count)."""

    users: int
    chats: int
    detections_ok: int
    detections_failed: int
    objects: int
    per_class: list[tuple[str, int]] = field(default_factory=list)
    per_day: list[tuple[date, int]] = field(default_factory=list)
    avg_inference_ms: float | None = None
    p95_inference_ms: float | None = None
    top_users: list[tuple[int, str | None, int]] = field(default_factory=list)


@dataclass(frozen=True)
class ModelVersionStats:
    """One model and version label over a period (an "arm": stable, canary, or a model asked
    without a label). Latency is over `ok` detections; p95 is the nearest-rank percentile;
    mean_objects is per `ok` photo; thumbs count rating presses on the arm's detections."""

    model_name: str
    model_label: str | None
    versions: tuple[str, ...]
    detections_ok: int
    detections_failed: int
    median_inference_ms: float | None
    p95_inference_ms: float | None
    mean_objects: float | None
    thumbs_up: int
    thumbs_down: int

    @property
    def failure_rate(self) -> float | None:
        attempts = self.detections_ok + self.detections_failed
        return self.detections_failed / attempts if attempts else None
