"""Which version people prefer: the 👍 share with a Wilson score interval, and a two-proportion
z-test between two versions (stable and canary). Pure arithmetic, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Share:
    """`successes` of `n` with its Wilson score interval at 95 %."""

    successes: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.successes / self.n if self.n else None


def wilson_interval(successes: int, n: int, z: float = Z_95) -> Share:
    """Wilson score interval of a binomial share (well-behaved for small n and shares near 0/1);
    n = 0 gives the uninformative [0, 1]."""
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    if n == 0:
        return Share(0, 0, 0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Share(successes, n, max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_p_value(a: Share, b: Share) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when either side has no
    ratings or every rating is the same (no variance to test)."""
    if a.n == 0 or b.n == 0:
        return None
    pooled = (a.successes + b.successes) / (a.n + b.n)
    variance = pooled * (1 - pooled) * (1 / a.n + 1 / b.n)
    if variance == 0:
        return None
    z = (a.successes / a.n - b.successes / b.n) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))
