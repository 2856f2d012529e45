"""Facts of the Integrations API contract shared by the simulator, the client and the CLI."""

from __future__ import annotations

import re
from pathlib import PurePath

MB = 1024 * 1024
GB = 1024 * MB
DIRECT_UPLOAD_LIMIT = 10 * MB
API_PREFIX = "/api/integrations"

# sk_live_ + 64 hex is documented; the same length for sk_test_ is our decision.
API_KEY_PATTERN = re.compile(r"^sk_(live|test)_[0-9a-f]{64}$")

# content type → (kind, size cap), as published by the API.
ALLOWED_TYPES: dict[str, tuple[str, int]] = {
    **{
        t: ("video", 5 * GB)
        for t in ("video/mp4", "video/quicktime", "video/x-msvideo", "video/x-matroska")
    },
    **{
        t: ("audio", 500 * MB)
        for t in ("audio/mpeg", "audio/wav", "audio/x-wav", "audio/aac", "audio/ogg")
    },
    **{
        t: ("image", 50 * MB)
        for t in ("image/jpeg", "image/png", "image/gif", "image/webp", "image/svg+xml")
    },
    **{
        t: ("document", 100 * MB)
        for t in (
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "text/plain",
        )
    },
}

EXTENSIONS: dict[str, str] = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".txt": "text/plain",
}

SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "INFO")
ISSUE_STATUSES = ("OPEN", "ACKNOWLEDGED", "AWAITING_HUMAN_INPUT", "RESOLVED", "DISMISSED")
OPEN_STATUSES = ("OPEN", "ACKNOWLEDGED", "AWAITING_HUMAN_INPUT")
EVENT_TYPES = ("asset.processing.completed", "asset.processing.failed")


def size_cap(content_type: str) -> int:
    return ALLOWED_TYPES[content_type][1]


def content_type_for(filename: str) -> str | None:
    """The allowed content type for a file name's extension, or None when not allowed."""
    return EXTENSIONS.get(PurePath(filename).suffix.lower())
