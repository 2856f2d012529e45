"""``mmq submit``, ``mmq status`` and ``mmq retry`` against a real simulator."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from mmq.contract import DIRECT_UPLOAD_LIMIT
from tests.cli.conftest import Cli, assert_error_line

pytestmark = pytest.mark.timeout(60)
FAST = ("--interval", "0.05")


def media(directory: Path, name: str, size: int = 64) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


def test_submit_uploads_directly_and_presigned_then_creates_one_submission(cli, tmp_path):
    small = media(tmp_path, "brief.txt", 300)
    image = media(tmp_path, "key visual.png", 5000)
    video = media(tmp_path, "spot.mp4", DIRECT_UPLOAD_LIMIT + 1)  # above 10 MB: presigned
    result = cli("submit", str(small), str(image), str(video))
    assert result.exit_code == 0, result.output

    (sid, submission), *others = [
        (sid, sub)
        for sid, sub in cli.sim.state.submissions.items()
        if sub.workspace_id == cli.workspace_id
    ]
    assert not others
    assert f"Submission {sid}" in result.stdout and f"mmq status {sid}" in result.stdout
    assets = [cli.sim.state.assets[aid] for aid in submission.asset_ids]
    assert [a.filename for a in assets] == ["brief.txt", "key visual.png", "spot.mp4"]
    assert [a.mime_type for a in assets] == ["text/plain", "image/png", "video/mp4"]
    for asset in assets:
        assert asset.asset_id in result.stdout
    blobs = cli.blobs()
    for path in (small, image, video):  # every byte arrived, the streamed PUT included
        assert blobs[f"{cli.workspace_id}/{path.name}"].size == path.stat().st_size
    progress = result.stderr.splitlines()
    assert progress[0].startswith("[1/3] brief.txt") and "direct" in progress[0]
    assert progress[2].startswith("[3/3] spot.mp4") and "presigned" in progress[2]


def test_submit_json_with_presigned_metadata_and_wait(cli, tmp_path):
    clip = media(tmp_path, "jingle.mp3", 2048)
    meta = tmp_path / "meta.json"
    meta.write_text('{"campaign": "spring", "market": ["UK"]}')
    result = cli(
        "submit", str(clip), "--presigned", "--metadata", f"@{meta}", "--wait", *FAST, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (upload,) = data["uploads"]
    assert upload["method"] == "presigned" and upload["sizeBytes"] == 2048
    assert "uploadUrl" not in upload  # a write credential for the blob: never printed
    assert "_blobs/" not in result.output
    sid = data["submission"]["submissionId"]
    assert data["status"]["submissionId"] == sid and data["status"]["status"] == "complete"
    assert [a["assetId"] for a in data["status"]["assets"]] == [
        a["assetId"] for a in data["submission"]["assets"]
    ]
    assert cli.sim.state.submissions[sid].metadata == {"campaign": "spring", "market": ["UK"]}
    assert any(line.startswith("waiting: complete 100%") for line in result.stderr.splitlines())


def test_bad_input_is_refused_before_anything_is_uploaded(cli, tmp_path):
    good = media(tmp_path, "ok.pdf")
    cases = [
        ((str(good), str(media(tmp_path, "setup.exe"))), "file type '.exe' is not accepted"),
        ((str(good), str(media(tmp_path, "README"))), "file type '(none)' is not accepted"),
        ((str(good), str(tmp_path / "missing.mp4")), "no such file"),
        ((str(good), str(tmp_path)), "is a directory"),
        ((str(good), str(media(tmp_path / "b", "ok.pdf"))), "have the same name"),
        ((str(good), "--metadata", "{campaign: spring}"), "--metadata is not valid JSON"),
        ((str(good), "--metadata", "[1, 2]"), "must be a JSON object, not list"),
        ((str(good), "--metadata", f"@{tmp_path / 'nope.json'}"), "cannot read --metadata file"),
    ]
    for args, message in cases:
        result = cli("submit", *args)
        assert_error_line(result, 2, message)
    assert cli.blobs() == {}


def test_unsupported_type_needs_no_api_and_no_key(cli, tmp_path, dead_url):
    """The allowlist check is local: it answers even with no key and no API."""
    result = cli("submit", str(media(tmp_path, "x.heic")), "--base-url", dead_url, MMQ_API_KEY=None)
    assert_error_line(result, 2, "'.heic' is not accepted", ".mp4")


def test_previous_submission_makes_new_versions(cli, tmp_path):
    first = json.loads(cli("submit", str(media(tmp_path, "ad.jpg")), "--json").stdout)
    sid = first["submission"]["submissionId"]
    (v1,) = first["submission"]["assets"]

    unknown = cli(
        "submit", str(media(tmp_path, "ad.jpg")), "--previous-submission-id", str(uuid.uuid4())
    )
    assert_error_line(unknown, 1, "404 Not Found", "Submission not found")
    assert [b.size for b in cli.blobs().values()] == [64]  # checked before the new upload

    second = cli(
        "submit", str(media(tmp_path, "ad.jpg")), "--previous-submission-id", sid, "--json"
    )
    assert second.exit_code == 0, second.output
    (v2,) = json.loads(second.stdout)["submission"]["assets"]
    assert v2["versionGroupId"] == v1["versionGroupId"]
    assert (v1["versionNumber"], v2["versionNumber"]) == (1, 2)


def test_status_table_and_json(cli, tmp_path):
    created = json.loads(
        cli("submit", str(media(tmp_path, "a.wav")), str(media(tmp_path, "b.gif")), "--json").stdout
    )
    sid = created["submission"]["submissionId"]
    waited = cli("status", sid, "--wait", *FAST)
    assert waited.exit_code == 0, waited.output
    assert f"Submission {sid}: complete, 100%" in waited.stdout
    for asset in created["submission"]["assets"]:
        assert asset["assetId"] in waited.stdout

    data = json.loads(cli("status", sid, "--json").stdout)
    assert data == cli.sim.state.submission_status(cli.sim.state.submissions[sid])
    for row in data["assets"]:
        line = next(ln for ln in waited.stdout.splitlines() if row["assetId"] in ln)
        assert str(row["issueCount"]) in line and "complete" in line


def test_status_errors(cli, dead_url):
    missing = cli("status", str(uuid.uuid4()))
    assert_error_line(missing, 1, "404 Not Found", "check the id")
    refused = cli("status", str(uuid.uuid4()), "--base-url", dead_url, MMQ_API_MAX_ATTEMPTS="1")
    assert_error_line(refused, 1, f"cannot reach the API at {dead_url}")


def test_wait_times_out_with_exit_4(cli, tmp_path):
    result = cli(
        "submit", str(media(tmp_path, "slow.mov")), "--simulation-delay", "30",
        "--wait", "--timeout", "1", "--interval", "0.2",
    )  # fmt: skip
    assert_error_line(result, 4, "still", "after 1 s", "mmq status")


def test_simulation_delay_with_a_live_key_is_400(cli, tmp_path):
    result = cli(
        "submit", str(media(tmp_path, "x.ogg")), "--simulation-delay", "1",
        MMQ_API_KEY=cli.sim.live_key,
    )  # fmt: skip
    assert_error_line(result, 1, "400 Bad Request", "sandbox")


def test_retry_of_a_finished_asset_is_409(cli, tmp_path):
    data = json.loads(
        cli("submit", str(media(tmp_path, "c.docx")), "--wait", *FAST, "--json").stdout
    )
    sid = data["submission"]["submissionId"]
    (asset,) = data["submission"]["assets"]
    result = cli("retry", sid, asset["assetId"])
    assert_error_line(result, 1, "409 Conflict", "Only failed assets", asset["assetId"])
    nothing = cli("retry", sid)
    assert nothing.exit_code == 0 and "nothing to retry" in nothing.stderr


def test_failed_submission_exit_3_then_retry(failing_sim, tmp_path):
    from typer.testing import CliRunner

    cli = Cli(failing_sim, failing_sim.api_key, tmp_path / "data", CliRunner())
    files = [str(media(tmp_path, "one.mkv")), str(media(tmp_path, "two.avi"))]
    result = cli("submit", *files, "--wait", *FAST)
    assert_error_line(result, 3, "failed: 2 of 2 assets failed, 2 retryable", "mmq retry")
    assert "Transcoding worker timed out" in result.stdout  # the per-asset table
    sid = next(iter(failing_sim.state.submissions))
    narrow = cli("status", sid, COLUMNS="80")  # errors move below the table; ids stay whole
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    flat = " ".join(narrow.stdout.split())  # long lines wrap at 80 columns
    for aid in failing_sim.state.submissions[sid].asset_ids:
        assert f" {aid} " in narrow.stdout
        assert f"{aid}: TIMEOUT: Transcoding worker timed out (retryable: yes)" in flat

    retried = cli("retry", sid, "--json")
    assert retried.exit_code == 0, retried.output
    assert len(json.loads(retried.stdout)) == 2
    assets = [failing_sim.state.assets[a] for a in failing_sim.state.submissions[sid].asset_ids]
    assert [a.retry_count for a in assets] == [1, 1]
    after = json.loads(cli("status", sid, "--wait", *FAST, "--json").stdout)
    assert [a["retryCount"] for a in after["assets"]] == [1, 1]
