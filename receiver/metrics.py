"""Prometheus metrics of the receiver (one registry per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REJECT_CAUSES = (
    "verification_failed",
    "too_large",
    "unsupported_method",
    "unsupported_content_type",
    "store_unavailable",
)


class ReceiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "mmq_receiver_events_accepted",
            "Authentic new events landed durably",
            registry=self.registry,
        )
        self.duplicates = Counter(
            "mmq_receiver_events_duplicate",
            "Authentic events already landed (sender retries)",
            registry=self.registry,
        )
        self.unparseable = Counter(
            "mmq_receiver_events_unparseable",
            "Authentic events landed raw whose body is not a JSON object",
            registry=self.registry,
        )
        self.rejected = Counter(
            "mmq_receiver_requests_rejected",
            "Requests refused, by cause",
            ["cause"],
            registry=self.registry,
        )
        for cause in REJECT_CAUSES:
            self.rejected.labels(cause)
        self.batch_size = Histogram(
            "mmq_receiver_commit_batch_size",
            "Events per group commit",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "mmq_receiver_commit_seconds",
            "Duration of one group commit",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.oldest_unfed = Gauge(
            "mmq_receiver_oldest_unfed_event_age_seconds",
            "Age of the oldest landed event the feed has not handed out yet",
            registry=self.registry,
        )

    def observe_commit(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)
