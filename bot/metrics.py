"""Prometheus metrics of one running bot, in a registry of its own (never the global default).

Names follow Prometheus conventions: a `detectx_` prefix, base units in the name (`_seconds`),
`_total` on counters. Alert rules and the Grafana dashboard under deploy/monitoring/ use them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# From 10 ms (a small image on a warm model) to 30 s (a queued photo past the detector deadline).
LATENCY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
)


class Metrics:
    """Counters, gauges and histograms the bot updates; `render()` is what GET /metrics serves."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "detectx_updates_total",
            "Telegram updates received, by update type.",
            ["type"],
            registry=self.registry,
        )
        self.detections = Counter(
            "detectx_detections_total",
            "Detections finished, by status (ok / failed).",
            ["status"],
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "detectx_inference_seconds",
            "Time the detector took for one image (model call only).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.total_seconds = Histogram(
            "detectx_detection_seconds",
            "Time from receiving a photo to the reply being sent, queueing included.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "detectx_detection_queue_length",
            "Detections waiting for a free slot.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "detectx_detections_in_flight",
            "Detections currently running.",
            registry=self.registry,
        )
        self.errors = Counter(
            "detectx_errors_total",
            "Errors, by kind (image, detector, database and Telegram error kinds).",
            ["kind"],
            registry=self.registry,
        )
        self.model_fallbacks = Counter(
            "detectx_model_fallbacks",
            "Photos answered by the default model because the model asked for was not found.",
            ["model", "fallback"],
            registry=self.registry,
        )
        self.duplicate_updates = Counter(
            "detectx_duplicate_updates_total",
            "Updates dropped because their update_id was already handled.",
            registry=self.registry,
        )

        self.telegram_rate_limited = Counter(
            "detectx_telegram_rate_limited_total",
            "Bot API calls Telegram answered with 429 Too Many Requests, by method.",
            ["method"],
            registry=self.registry,
        )

        self.inbox_backlog = Gauge(
            "detectx_inbox_backlog",
            "Updates stored in the inbox and not yet handled (all replicas).",
            registry=self.registry,
        )
        self.inbox_oldest_pending_seconds = Gauge(
            "detectx_inbox_oldest_pending_age_seconds",
            "Age of the oldest update not yet handled, seconds (0 when none).",
            registry=self.registry,
        )
        self.inbox_claims = Counter(
            "detectx_inbox_claims_total",
            "Inbox rows claimed by this replica.",
            registry=self.registry,
        )
        self.inbox_takeovers = Counter(
            "detectx_inbox_takeovers_total",
            "Inbox rows claimed after the lease of another (dead) worker expired.",
            registry=self.registry,
        )
        self.inbox_redeliveries = Counter(
            "detectx_inbox_redeliveries_total",
            "Inbox rows claimed again after another worker released them at shutdown.",
            registry=self.registry,
        )
        self.inbox_pruned = Counter(
            "detectx_inbox_pruned_rows_total",
            "Done inbox rows deleted after the retention period.",
            registry=self.registry,
        )
        self.webhook_refused = Counter(
            "detectx_webhook_refused_total",
            "Webhook calls answered 503 because the update could not be stored.",
            registry=self.registry,
        )

    def count_telegram_rate_limit(self, method: str) -> None:
        self.telegram_rate_limited.labels(method=method).inc()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
