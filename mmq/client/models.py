"""Typed API results. Each keeps ``raw`` — the JSON exactly as received — and tolerates unknown
or missing optional fields, since the real service may differ from the contract's [decided] points.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    _raw: dict = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> dict:
        return self._raw

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ValidatorFunctionWrapHandler):
        # On every model, nested ones too (a submission's assets, a page's items): set here
        # rather than in from_json, which only sees the outermost object.
        model = handler(data)
        if isinstance(data, dict):
            model._raw = data
        return model

    @classmethod
    def from_json(cls, data: dict):
        return cls.model_validate(data)


class UploadUrl(ApiModel):
    upload_url: str
    blob_path: str
    expires_at: str | None = None


class UploadedBlob(ApiModel):
    blob_path: str
    filename: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None


class CreatedAsset(ApiModel):
    asset_id: str
    version_group_id: str | None = None
    version_number: int | None = None


class CreatedSubmission(ApiModel):
    submission_id: str
    workflow_id: str | None = None
    status: str | None = None
    assets: list[CreatedAsset] = Field(default_factory=list)


class AssetSummary(ApiModel):
    asset_id: str
    status: str | None = None
    filename: str | None = None
    version_group_id: str | None = None
    version_number: int | None = None
    issue_count: int | None = None
    error_message: str | None = None
    error_type: str | None = None
    is_retryable: bool | None = None
    retry_count: int | None = None


class Submission(ApiModel):
    submission_id: str
    status: str
    workflow_id: str | None = None
    workspace_id: str | None = None
    progress_percent: int | None = None
    created_at: str | None = None
    completed_at: str | None = None
    error_message: str | None = None
    is_retryable: bool | None = None
    assets: list[AssetSummary] = Field(default_factory=list)


class Asset(ApiModel):
    asset_id: str
    submission_id: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    status: str | None = None
    issue_count: int | None = None
    issues: list[dict[str, Any]] = Field(default_factory=list)


class IssuesPage(ApiModel):
    issues: list[dict[str, Any]] = Field(default_factory=list)
    asset_id: str | None = None
    submission_id: str | None = None


class TopicsPage(ApiModel):
    topics: list[dict[str, Any]] = Field(default_factory=list)
    orphan_issues: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    asset_id: str | None = None


class Subscription(ApiModel):
    id: str
    endpoint_url: str
    event_types: list[str] = Field(default_factory=list)
    enabled: bool = True
    description: str | None = None
    workspace_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    # Only on create; SecretStr keeps it out of reprs and logs.
    secret: SecretStr | None = None


class SubscriptionPage(ApiModel):
    items: list[Subscription] = Field(default_factory=list)
    page: int = 1
    page_size: int | None = None
    total: int = 0
    total_pages: int = 0


class DeliveryAttempt(ApiModel):
    id: str
    status: str
    created_at: str | None = None
    response_status: int | None = None
    event_id: str | None = None


class Deliveries(ApiModel):
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    total: int = 0


class WebhookTestResult(ApiModel):
    delivered: bool
    response_status: int | None = None
    event_id: str | None = None
