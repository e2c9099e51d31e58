"""Per-user rate limit: a sliding one-minute window, so nobody can monopolise the detector."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class UserRateLimit:
    """Allows each user `per_minute` detections in any 60-second window (per process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}

    def allow(self, user_id: int) -> bool:
        """True (and counted) when the user is under the limit, False otherwise."""
        now = self._clock()
        window = self._seen.setdefault(user_id, deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        if len(self._seen) > 10_000:
            self._forget_idle(now)
        return True

    def _forget_idle(self, now: float) -> None:
        for user_id in [u for u, w in self._seen.items() if not w or w[-1] <= now - WINDOW_S]:
            del self._seen[user_id]
