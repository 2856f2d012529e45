"""Contract §4: presigned and direct uploads, the allowlist, size caps, 403/413/415."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mmq.contract import ALLOWED_TYPES, DIRECT_UPLOAD_LIMIT, MB
from tests.simulator.helpers import unique

pytestmark = pytest.mark.timeout(60)
BLOCK = {"x-ms-blob-type": "BlockBlob"}


def test_presigned_url_then_put_then_submit(api):
    name = unique("campaign.mp4")
    r = api.post("/uploads/url", json={"filename": name, "contentType": "video/mp4"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"uploadUrl", "blobPath", "expiresAt"}
    assert re.fullmatch(r"[0-9a-f-]{36}/" + re.escape(name), body["blobPath"])
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    # Not uploaded yet: the blob path is not valid for a submission.
    early = api.post("/submissions", json={"assets": [{"blobPath": body["blobPath"]}]})
    assert early.status_code == 403
    put = httpx.put(body["uploadUrl"], content=b"\0" * 1000, headers=BLOCK | _ct("video/mp4"))
    assert put.status_code == 201
    # The URL is single-use.
    again = httpx.put(body["uploadUrl"], content=b"x", headers=BLOCK | _ct("video/mp4"))
    assert again.status_code == 404
    created = api.submit(body["blobPath"])
    assert created["status"] == "submitted"


def _ct(content_type: str) -> dict:
    return {"content-type": content_type}


def _upload_url(api, name: str, content_type: str) -> str:
    r = api.post("/uploads/url", json={"filename": name, "contentType": content_type})
    assert r.status_code == 200, r.text
    return r.json()["uploadUrl"]


def test_put_needs_block_blob_header_and_matching_type(api):
    url = _upload_url(api, unique("a.png"), "image/png")
    assert httpx.put(url, content=b"x", headers=_ct("image/png")).status_code == 400
    mismatched = httpx.put(url, content=b"x", headers=BLOCK | _ct("image/jpeg"))
    assert mismatched.status_code == 415
    assert httpx.put(url, content=b"x", headers=BLOCK | _ct("image/png")).status_code == 201


def test_put_to_unknown_url_is_404(sim):
    r = httpx.put(f"{sim.base_url}/_blobs/nope", content=b"x", headers=BLOCK)
    assert r.status_code == 404


@pytest.mark.parametrize(
    "filename", ["../etc/passwd", "a/b.mp4", ".hidden.mp4", "-x.mp4", "a\nb.mp4", "x" * 300]
)
def test_bad_filenames_are_403(api, filename):
    r = api.post("/uploads/url", json={"filename": filename, "contentType": "video/mp4"})
    # Over 255 characters is a validation error; everything else a 403 "Invalid filename".
    assert r.status_code == (422 if len(filename) > 255 else 403), r.text
    files = {"file": (filename, b"x", "video/mp4")}
    direct = api.post("/uploads/direct", files=files)
    assert direct.status_code in (403, 422)


@pytest.mark.parametrize("content_type", ["application/zip", "text/html", "video/webm", ""])
def test_types_off_the_allowlist_are_415(api, content_type):
    r = api.post("/uploads/url", json={"filename": "f.bin", "contentType": content_type})
    assert r.status_code == (422 if not content_type else 415), r.text
    if content_type:
        direct = api.post("/uploads/direct", files={"file": ("f.bin", b"x", content_type)})
        assert direct.status_code == 415


def test_every_allowlisted_type_is_accepted(api):
    for content_type in ALLOWED_TYPES:
        r = api.post("/uploads/url", json={"filename": "ok.bin", "contentType": content_type})
        assert r.status_code == 200, content_type


def test_put_over_the_type_cap_is_413_declared_or_streamed(api, sim):
    # Declared: the Content-Length alone says too much (raw socket: we never send the bytes).
    url = httpx.URL(_upload_url(api, unique("big.png"), "image/png"))
    request = (
        f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"x-ms-blob-type: BlockBlob\r\ncontent-type: image/png\r\n"
        f"content-length: {50 * MB + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.host, url.port), timeout=5) as conn:
        conn.sendall(request)
        assert conn.recv(64).startswith(b"HTTP/1.1 413")
    # Streamed without a length: counted while it arrives.
    url2 = _upload_url(api, unique("big2.png"), "image/png")

    def chunks():
        for _ in range(51):
            yield b"\0" * MB

    r = httpx.put(url2, content=chunks(), headers=BLOCK | _ct("image/png"), timeout=30)
    assert r.status_code == 413


def test_direct_upload(api):
    name = unique("leaflet.pdf")
    r = api.post("/uploads/direct", files={"file": (name, b"%PDF-1.7 data", "application/pdf")})
    assert r.status_code == 201
    body = r.json()
    assert body["filename"] == name
    assert body["contentType"] == "application/pdf"
    assert body["sizeBytes"] == len(b"%PDF-1.7 data")
    assert body["blobPath"].endswith("/" + name)
    assert api.submit(body["blobPath"])["assets"][0]["versionNumber"] == 1


def test_direct_upload_limit_is_10_mb(api):
    exact = api.post(
        "/uploads/direct", files={"file": ("max.png", b"\0" * DIRECT_UPLOAD_LIMIT, "image/png")}
    )
    assert exact.status_code == 201
    over = api.post(
        "/uploads/direct",
        files={"file": ("over.png", b"\0" * (DIRECT_UPLOAD_LIMIT + 1), "image/png")},
    )
    assert over.status_code == 413
    assert "10 MB" in over.json()["detail"]
    # Far over the limit: refused from the Content-Length before the body is read.
    huge = api.post("/uploads/direct", files={"file": ("huge.png", b"\0" * (12 * MB), "image/png")})
    assert huge.status_code == 413


def test_direct_upload_without_file_is_422(api):
    r = api.post("/uploads/direct", data={"notfile": "x"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "file"]


def test_json_bodies_are_capped(api):
    r = api.post("/submissions", json={"assets": [{"blobPath": "x" * (2 * MB)}]})
    assert r.status_code == 413
    assert r.json() == {"detail": "Request body too large"}


def test_reupload_of_a_path_is_a_new_blob_to_submit(api):
    name = unique("spot.mp4")
    first = api.upload(name)
    api.submit(first)
    assert api.post("/submissions", json={"assets": [{"blobPath": first}]}).status_code == 409
    # Uploading the same file name again gives a fresh blob (a new version) at the same path.
    second = api.upload(name)
    assert second == first
    assert api.submit(second)["status"] == "submitted"
