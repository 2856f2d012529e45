"""Fetch what the pipeline needs from the Integrations API, concurrently and bounded.

For each submission: its status; for each of its assets that completed, the issues and the
topics. The client does the retries (429/500/502/transport); what still fails becomes a
:class:`FetchFailure` for the pending list instead of an exception, so one bad asset never
sinks a batch. Only problems no retry can fix (bad key, plan without API access) raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mmq.client import (
    ApiError,
    AsyncMediaMagicClient,
    AuthError,
    NotFound,
    NotReady,
    PaymentRequired,
    TransportError,
)

COMPLETE = ("complete", "completed")


@dataclass(frozen=True, slots=True)
class FetchFailure:
    reason: str  # not_ready | not_found | api_error | transport_error
    message: str


@dataclass(slots=True)
class Response:
    kind: str  # submission | issues | topics
    submission_id: str
    asset_id: str  # "" for the submission status
    body: dict
    fetched_at: datetime
    status_code: int = 200


@dataclass(slots=True)
class SubmissionFetch:
    submission_id: str
    responses: list[Response] = field(default_factory=list)
    # key: asset id ("" = the submission status itself)
    failures: dict[str, FetchFailure] = field(default_factory=dict)
    succeeded: set[str] = field(default_factory=set)


def classify(error: ApiError) -> FetchFailure:
    if isinstance(error, NotReady):
        return FetchFailure("not_ready", str(error))
    if isinstance(error, NotFound):
        return FetchFailure("not_found", str(error))
    if isinstance(error, TransportError):
        return FetchFailure("transport_error", str(error))
    return FetchFailure("api_error", str(error))


def completed_assets(status: dict) -> list[str]:
    """Asset ids whose results can be fetched (complete per the status endpoint)."""
    out = []
    for asset in status.get("assets") or []:
        if not isinstance(asset, dict) or not isinstance(asset.get("assetId"), str):
            continue
        reported = asset.get("status")
        if reported in COMPLETE or (reported is None and asset.get("issueCount") is not None):
            out.append(asset["assetId"])
    return out


async def fetch_submission(
    client: AsyncMediaMagicClient, submission_id: str, *, recently_completed: set[str]
) -> SubmissionFetch:
    """Status, then issues and topics of every completed asset (in parallel)."""
    result = SubmissionFetch(submission_id)
    try:
        status = await client.get_submission(submission_id)
    except (AuthError, PaymentRequired):
        raise
    except ApiError as error:
        result.failures[""] = classify(error)
        return result
    result.responses.append(Response("submission", submission_id, "", status.raw, _now()))
    result.succeeded.add("")

    async def one(asset_id: str) -> None:
        try:
            issues, topics = await asyncio.gather(
                client.get_asset_issues(submission_id, asset_id),
                client.get_asset_topics(submission_id, asset_id),
            )
        except (AuthError, PaymentRequired):
            raise
        except ApiError as error:
            failure = classify(error)
            if failure.reason == "not_found" and asset_id in recently_completed:
                # 404 just after a completed event: the results are not published yet.
                failure = FetchFailure("not_ready", failure.message)
            result.failures[asset_id] = failure
            return
        fetched = _now()
        result.responses.append(Response("issues", submission_id, asset_id, issues.raw, fetched))
        result.responses.append(Response("topics", submission_id, asset_id, topics.raw, fetched))
        result.succeeded.add(asset_id)

    await asyncio.gather(*(one(a) for a in completed_assets(status.raw)))
    return result


async def fetch_submissions(
    client: AsyncMediaMagicClient,
    submission_ids: Iterable[str],
    *,
    recently_completed: set[str] | None = None,
    on_done: Callable[[SubmissionFetch], None] | None = None,
) -> list[SubmissionFetch]:
    """Fetch many submissions concurrently; the client's semaphore bounds requests in flight.

    ``recently_completed`` holds asset ids whose completed event is recent: a 404 on their
    results means "not published yet" rather than "gone".
    """
    recent = recently_completed or set()

    async def one(submission_id: str) -> SubmissionFetch:
        fetched = await fetch_submission(client, submission_id, recently_completed=recent)
        if on_done is not None:
            on_done(fetched)
        return fetched

    return list(await asyncio.gather(*(one(s) for s in submission_ids)))


def _now() -> datetime:
    return datetime.now(UTC)
