"""Prometheus metrics of the receiver (one registry per app, so tests can run several).

Names are part of the interface: the pipeline scrapes ``/metrics`` into ``receiver_stats``.
Two different things are called "unparseable": a *request* whose ``webhook-*`` headers cannot
be parsed is rejected (``requests_rejected_total{cause="unparseable"}``, 401), while an
*authentic event* whose body is not a JSON object is landed raw and counted in
``events_unparseable_total``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from receiver.store import Commit

REJECT_CAUSES = (
    "unparseable",  # 401: missing, repeated or malformed webhook-* headers
    "stale_timestamp",  # 401: webhook-timestamp outside ±5 minutes
    "verification_failed",  # 401: no signature matches any configured secret
    "too_large",  # 413
    "unsupported_method",  # 405
    "unsupported_content_type",  # 415
    "incomplete_body",  # the client went away before sending the whole body
    "store_unavailable",  # 503 + Retry-After: the landing store could not commit
)


class ReceiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "mmq_receiver_events_accepted",
            "Authentic new events landed durably (answered 2xx after COMMIT)",
            registry=self.registry,
        )
        self.duplicates = Counter(
            "mmq_receiver_events_duplicate",
            "Authentic events already landed (sender retries), answered 2xx, not landed again",
            registry=self.registry,
        )
        self.unparseable = Counter(
            "mmq_receiver_events_unparseable",
            "Authentic events landed raw whose body is not a JSON object",
            registry=self.registry,
        )
        self.unknown_type = Counter(
            "mmq_receiver_events_unknown_type",
            "Authentic JSON events landed with a type this product does not know",
            registry=self.registry,
        )
        self.test_events = Counter(
            "mmq_receiver_events_test",
            "Authentic test events (data.test = true) landed and flagged",
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
            "New events landed per group commit (one transaction)",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "mmq_receiver_commit_seconds",
            "Duration of one group commit, as the event loop sees it: from handing its last batch "
            "to the writer process to the answer (parse, append, flush, COMMIT)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.oldest_unfed = Gauge(
            "mmq_receiver_oldest_unfed_event_age_seconds",
            "Age of the oldest landed event the feed has not handed out yet (0: none)",
            registry=self.registry,
        )
        self.queued = Gauge(
            "mmq_receiver_queued_events",
            "Authentic events waiting for their group commit",
            registry=self.registry,
        )
        self.latest_seq = Gauge(
            "mmq_receiver_latest_seq",
            "Highest seq committed to raw_events",
            registry=self.registry,
        )
        self.store_up = Gauge(
            "mmq_receiver_store_up",
            "1 while the landing store accepts commits, 0 while it is being reopened",
            registry=self.registry,
        )

    def observe_commit(self, commit: Commit) -> None:
        """Count a group commit's outcome (once per batch, before its requests are answered)."""
        self.batch_size.observe(commit.new)
        self.commit_seconds.observe(commit.seconds)
        self.accepted.inc(commit.new)
        self.duplicates.inc(commit.size - commit.new)
        self.unparseable.inc(commit.unparseable)
        self.unknown_type.inc(commit.unknown_type)
        self.test_events.inc(commit.test)
