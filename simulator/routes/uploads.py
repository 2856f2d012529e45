"""Uploads: presigned URL (+ the PUT target the simulator serves itself) and direct upload."""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from mmq.contract import ALLOWED_TYPES, DIRECT_UPLOAD_LIMIT, size_cap
from simulator.auth import Caller, caller_for
from simulator.errors import ApiProblem
from simulator.state import Blob, iso, now

router = APIRouter()
blob_router = APIRouter()  # the presigned PUT target, served at the host root
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,254}$")


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(alias="contentType", min_length=1)


def _check_file(filename: str, content_type: str) -> None:
    if not FILENAME.match(filename) or ".." in filename:
        raise ApiProblem(403, "Invalid filename")
    if content_type not in ALLOWED_TYPES:
        raise ApiProblem(415, f"Content type {content_type!r} is not allowed")


@router.post("/uploads/url")
def create_upload_url(
    body: UploadUrlRequest, request: Request, caller: Caller = Depends(caller_for("upload"))
) -> dict:
    _check_file(body.filename, body.content_type)
    sim = request.app.state.sim
    path = f"{caller.workspace_id}/{body.filename}"
    sim.state.blobs[path] = Blob(path, caller.workspace_id, body.filename, body.content_type)
    token = secrets.token_urlsafe(16)
    sim.state.upload_tokens[token] = path
    expires = now().timestamp() + 3600
    return {
        "uploadUrl": f"{str(request.base_url).rstrip('/')}/_blobs/{token}",
        "blobPath": path,
        "expiresAt": iso(now().fromtimestamp(expires, now().tzinfo)),
    }


@blob_router.put("/_blobs/{token}", include_in_schema=False, status_code=201)
async def put_blob(token: str, request: Request) -> Response:
    sim = request.app.state.sim
    path = sim.state.upload_tokens.get(token)
    if path is None:
        raise ApiProblem(404, "Upload URL not found or expired")
    if request.headers.get("x-ms-blob-type") != "BlockBlob":
        raise ApiProblem(400, "Header x-ms-blob-type: BlockBlob is required")
    blob = sim.state.blobs[path]
    sent_type = request.headers.get("content-type", blob.content_type).split(";")[0].strip()
    if sent_type != blob.content_type:
        raise ApiProblem(415, f"Content type {sent_type!r} does not match {blob.content_type!r}")
    declared = int(request.headers.get("content-length") or 0)
    if declared > size_cap(blob.content_type):
        raise ApiProblem(413, "Upload exceeds the size limit for this content type")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > size_cap(blob.content_type):
            raise ApiProblem(413, "Upload exceeds the size limit for this content type")
    blob.size = size
    del sim.state.upload_tokens[token]
    return Response(status_code=201)


@router.post("/uploads/direct", status_code=201)
async def upload_direct(
    request: Request, file: UploadFile, caller: Caller = Depends(caller_for("upload"))
) -> dict:
    filename = file.filename or ""
    content_type = (file.content_type or "").split(";")[0].strip()
    _check_file(filename, content_type)
    data = await file.read(DIRECT_UPLOAD_LIMIT + 1)
    if len(data) > DIRECT_UPLOAD_LIMIT:
        raise ApiProblem(413, "Direct uploads are limited to 10 MB; use a presigned URL")
    sim = request.app.state.sim
    path = f"{caller.workspace_id}/{filename}"
    sim.state.blobs[path] = Blob(path, caller.workspace_id, filename, content_type, len(data))
    return {
        "blobPath": path,
        "filename": filename,
        "contentType": content_type,
        "sizeBytes": len(data),
    }
