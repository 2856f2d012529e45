"""The wire shapes of the contract: request bodies the routes accept and responses they send.

Responses are declared as models so that the OpenAPI document (and schemathesis, which fuzzes
against it) knows every field; FastAPI validates each returned dict against them and serialises
through pydantic-core. Field names are snake_case here and camelCase on the wire.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

EventType = Literal["asset.processing.completed", "asset.processing.failed"]
SubmissionStatus = Literal["uploading", "submitted", "processing", "complete", "failed"]
AssetStatus = Literal["submitted", "processing", "complete", "failed"]
Severity = Literal["CRITICAL", "MAJOR", "MINOR", "INFO"]
IssueStatus = Literal["OPEN", "ACKNOWLEDGED", "AWAITING_HUMAN_INPUT", "RESOLVED", "DISMISSED"]
AttemptStatus = Literal["SUCCESSFUL", "FAILED"]


def _absent_if_none(value: object) -> bool:
    return value is None


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# --- requests ---------------------------------------------------------------------------------
class UploadUrlIn(Wire):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=255)


class AssetIn(Wire):
    # Unknown keys in an asset object are a 422 [decided].
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    blob_path: str = Field(min_length=1, max_length=1024)
    previous_submission_id: uuid.UUID | None = None


class SubmissionIn(Wire):
    assets: list[AssetIn] = Field(min_length=1, max_length=500)
    sidekick_ids: list[uuid.UUID] | None = Field(None, max_length=100)
    metadata: dict | None = None


class SubscriptionIn(Wire):
    endpoint_url: str = Field(min_length=1, max_length=2083)
    event_types: list[EventType] = Field(min_length=1)
    description: str | None = Field(None, max_length=500)


class SubscriptionPatch(Wire):
    enabled: bool


class FireIn(Wire):
    event_type: EventType
    submission_id: uuid.UUID
    error_message: str | None = Field(None, max_length=2000)


class WebhookTestIn(Wire):
    endpoint_url: str = Field(min_length=1, max_length=2083)
    secret: str = Field(pattern=r"^whsec_[A-Za-z0-9+/=]{16,}$", max_length=200)


# --- responses: uploads -----------------------------------------------------------------------
class UploadUrlOut(Wire):
    upload_url: str
    blob_path: str
    expires_at: str


class UploadedOut(Wire):
    blob_path: str
    filename: str
    content_type: str
    size_bytes: int


# --- responses: submissions and assets --------------------------------------------------------
class CreatedAssetOut(Wire):
    asset_id: str
    version_group_id: str
    version_number: int


class CreatedOut(Wire):
    submission_id: str
    workflow_id: str
    ably_channel: str
    status: SubmissionStatus
    assets: list[CreatedAssetOut]


class AssetSummaryOut(Wire):
    asset_id: str
    version_group_id: str
    version_number: int
    status: AssetStatus
    filename: str
    issue_count: int | None
    error_message: str | None
    error_type: str | None
    is_retryable: bool
    retry_count: int


class SubmissionOut(Wire):
    submission_id: str
    workflow_id: str
    workspace_id: str
    status: SubmissionStatus
    progress_percent: int = Field(ge=0, le=100)
    created_at: str
    completed_at: str | None
    error_message: str | None
    is_retryable: bool
    assets: list[AssetSummaryOut]


class PrecedentOut(Wire):
    url: str
    title: str
    decision: str
    date: str


class IssueOut(Wire):
    id: str
    reference_number: int = Field(ge=1)
    rule_code: str
    summary: str
    severity: Severity
    status: IssueStatus
    sidekick_id: str | None
    created_at: str
    updated_at: str
    severity_reasoning: str
    severity_reasoning_headline: str
    precedents: list[PrecedentOut]


class RuleContextOut(Wire):
    code: str
    title: str
    category: str
    regulator: str
    parent_codes: list[str]
    related_codes: list[str]


class EvidenceOut(Wire):
    kind: Literal["timecode", "page", "region", "text"]
    start: float | None = Field(None, exclude_if=_absent_if_none)
    end: float | None = Field(None, exclude_if=_absent_if_none)
    page: int | None = Field(None, exclude_if=_absent_if_none)
    excerpt: str | None = Field(None, exclude_if=_absent_if_none)


class EnrichedIssueOut(IssueOut):
    rule_context: RuleContextOut
    evidence: list[EvidenceOut]


class AssetOut(Wire):
    asset_id: str
    submission_id: str
    filename: str
    mime_type: str
    status: AssetStatus
    issue_count: int | None
    version_number: int
    version_group_id: str
    issues: list[IssueOut]


class IssuesOut(Wire):
    asset_id: str
    submission_id: str
    issues: list[EnrichedIssueOut]


class AnchorOut(Wire):
    kind: Literal["timecode", "page", "region", "text"]
    start: float | None = Field(None, exclude_if=_absent_if_none)
    end: float | None = Field(None, exclude_if=_absent_if_none)
    page: int | None = Field(None, exclude_if=_absent_if_none)


class TopicOut(Wire):
    id: str
    title: str
    summary: str
    kind: Literal["root_cause", "anchor"]
    anchor: AnchorOut | None
    issues: list[IssueOut] = Field(min_length=2)


class TopicsMetadataOut(Wire):
    clustering_model: str
    generated_at: str
    topic_count: int
    orphan_count: int


class TopicsOut(Wire):
    asset_id: str
    topics: list[TopicOut]
    orphan_issues: list[IssueOut]
    metadata: TopicsMetadataOut


# --- responses: webhooks, sandbox, health -----------------------------------------------------
class SubscriptionOut(Wire):
    id: str
    workspace_id: str
    endpoint_url: str
    event_types: list[EventType]
    description: str | None
    enabled: bool
    created_at: str
    updated_at: str


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str  # returned only here


class SubscriptionPageOut(Wire):
    items: list[SubscriptionOut]
    page: int
    page_size: int
    total: int
    total_pages: int


class AttemptOut(Wire):
    id: str
    status: AttemptStatus
    created_at: str
    response_status: int | None
    event_id: str


class DeliveriesOut(Wire):
    attempts: list[AttemptOut]
    total: int


class FireOut(Wire):
    dispatched: int


class WebhookTestOut(Wire):
    delivered: bool
    response_status: int | None
    event_id: str


class HealthOut(Wire):
    status: Literal["ok"]


# --- error bodies, for the OpenAPI document ---------------------------------------------------
class DetailOut(BaseModel):
    detail: str
    docs_url: str | None = Field(None, exclude_if=_absent_if_none)


class RateLimitedOut(BaseModel):
    error: str


class TierOut(BaseModel):
    error_code: Literal["tier_not_authorized_for_integrations_api"]
    message: str
    bucket: str


ERROR_MODELS: dict[int, type[BaseModel]] = {
    402: TierOut,
    429: RateLimitedOut,
}
ERROR_TEXT = {
    400: "Bad request",
    401: "API key missing, invalid, expired or revoked",
    402: "The plan lacks Integrations API access",
    403: "Not allowed for this key, path or workspace",
    404: "Not in the caller's workspace, or not finished yet",
    409: "Conflicts with the resource's state",
    413: "Upload too large",
    415: "Content type not allowed or mismatched",
    429: "Rate limited; retry after Retry-After seconds",
    500: "Internal or storage failure (retry with backoff)",
    502: "A result blob failed to load (retry with backoff)",
}


def error_responses(*codes: int) -> dict[int | str, dict]:
    """The ``responses=`` of a route: the documented errors it can answer, with their bodies."""
    out: dict[int | str, dict] = {}
    for code in codes:
        entry: dict = {"model": ERROR_MODELS.get(code, DetailOut), "description": ERROR_TEXT[code]}
        if code == 429:
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        out[code] = entry
    return out
