"""Uploads: presigned URL (+ the PUT target the simulator serves itself) and direct upload."""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response

from mmq.contract import ALLOWED_TYPES, DIRECT_UPLOAD_LIMIT, size_cap
from simulator.auth import Caller, caller_for
from simulator.errors import ApiProblem
from simulator.schemas import UploadedOut, UploadUrlIn, UploadUrlOut, error_responses
from simulator.state import Blob, iso, now

router = APIRouter(tags=["uploads"])
blob_router = APIRouter()  # the presigned PUT target, served at the host root
# A plain file name: no directories, no leading dot or dash, no control characters.
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+,-]{0,254}$")
UPLOAD_URL_SECONDS = 3600
BLOB_PREFIX = "/_blobs/"
AUTH_ERRORS = (401, 402, 429, 500, 502)


def _check_file(filename: str, content_type: str) -> None:
    if not FILENAME.match(filename) or ".." in filename:
        raise ApiProblem(403, "Invalid filename")
    if content_type not in ALLOWED_TYPES:
        raise ApiProblem(415, f"Content type {content_type!r} is not allowed")


def _store(request: Request, blob: Blob) -> None:
    # Uploading to a path again replaces the blob (a new version to submit), as blob storage does.
    request.app.state.sim.state.blobs[blob.path] = blob


@router.post(
    "/uploads/url",
    response_model=UploadUrlOut,
    responses=error_responses(403, 415, *AUTH_ERRORS),
)
async def create_upload_url(
    body: UploadUrlIn, request: Request, caller: Caller = Depends(caller_for("upload"))
) -> dict:
    _check_file(body.filename, body.content_type)
    sim = request.app.state.sim
    path = f"{caller.workspace_id}/{body.filename}"
    _store(request, Blob(path, caller.workspace_id, body.filename, body.content_type))
    token = secrets.token_urlsafe(24)
    sim.state.upload_tokens[token] = (path, time.monotonic() + UPLOAD_URL_SECONDS)
    return {
        "uploadUrl": f"{str(request.base_url).rstrip('/')}{BLOB_PREFIX}{token}",
        "blobPath": path,
        "expiresAt": iso(now() + timedelta(seconds=UPLOAD_URL_SECONDS)),
    }


@blob_router.put(BLOB_PREFIX + "{token}", include_in_schema=False, status_code=201)
async def put_blob(token: str, request: Request) -> Response:
    """The presigned URL's target, in the manner of Azure Blob Storage (201 Created, no body)."""
    sim = request.app.state.sim
    entry = sim.state.upload_tokens.get(token)
    if entry is None or entry[1] < time.monotonic():
        sim.state.upload_tokens.pop(token, None)
        raise ApiProblem(404, "Upload URL not found or expired")
    path = entry[0]
    if request.headers.get("x-ms-blob-type") != "BlockBlob":
        raise ApiProblem(400, "Header x-ms-blob-type: BlockBlob is required")
    blob = sim.state.blobs.get(path)
    if blob is None:  # replaced by a newer upload URL for the same path and already submitted
        raise ApiProblem(404, "Upload URL not found or expired")
    sent_type = request.headers.get("content-type", blob.content_type).split(";")[0].strip()
    if sent_type != blob.content_type:
        raise ApiProblem(415, f"Content type {sent_type!r} does not match {blob.content_type!r}")
    cap = size_cap(blob.content_type)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ApiProblem(413, "Upload exceeds the size limit for this content type")
    size = 0
    async for chunk in request.stream():  # counted, not kept: the simulator never reads media
        size += len(chunk)
        if size > cap:
            raise ApiProblem(413, "Upload exceeds the size limit for this content type")
    blob.size = size
    del sim.state.upload_tokens[token]
    return Response(status_code=201)


@router.post(
    "/uploads/direct",
    status_code=201,
    response_model=UploadedOut,
    responses=error_responses(403, 413, 415, *AUTH_ERRORS),
)
async def upload_direct(
    request: Request,
    file: UploadFile = File(description="the media file, at most 10 MB"),
    caller: Caller = Depends(caller_for("upload")),
) -> dict:
    filename = file.filename or ""
    content_type = (file.content_type or "").split(";")[0].strip()
    _check_file(filename, content_type)
    # The body-limit middleware already stopped anything far above 10 MB from being read.
    size = file.size if file.size is not None else len(await file.read())
    if size > DIRECT_UPLOAD_LIMIT:
        raise ApiProblem(413, "Direct uploads are limited to 10 MB; use a presigned URL")
    path = f"{caller.workspace_id}/{filename}"
    _store(request, Blob(path, caller.workspace_id, filename, content_type, size))
    return {"blobPath": path, "filename": filename, "contentType": content_type, "sizeBytes": size}
