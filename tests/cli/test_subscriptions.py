"""``mmq subscriptions …`` against a real simulator: secrets on disk, paging, errors."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest

from mmq.client import MediaMagicClient
from mmq.commands._common import CliError
from mmq.commands.subscriptions import create_subscription_with_secret
from simulator.testing import new_key
from tests.cli.conftest import assert_error_line

pytestmark = pytest.mark.timeout(60)
URL = "http://127.0.0.1:9/webhooks/integrations"  # never delivered to in these tests


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def create(cli, *args: str) -> tuple[dict, object]:
    """Create via the CLI with --json; returns (printed JSON, simulator's subscription)."""
    result = cli("subscriptions", "create", "--url", URL, "--json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return data, cli.subscriptions()[data["id"]]


def test_create_stores_the_secret_0600_and_never_prints_it(cli):
    result = cli("subscriptions", "create", "--url", URL, "--description", "[team] main")
    assert result.exit_code == 0, result.output
    (sub_id, sub), *others = cli.subscriptions().items()
    assert not others
    path = cli.data_dir.absolute() / "secrets" / f"{sub_id}.whsec"
    assert path.read_text() == sub.secret + "\n"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert sub.secret not in result.output
    assert "whsec_" not in result.output
    assert str(path) in result.stdout
    assert f"mmq receiver --secrets-file {path}" in result.stdout
    assert "MMQ_WEBHOOK_SECRETS" in result.stdout
    assert "[team] main" in result.stdout  # API text is printed verbatim, not as markup
    assert sub.event_types == ["asset.processing.completed", "asset.processing.failed"]
    assert sub.description == "[team] main"


def test_create_json_hides_the_secret_unless_asked(cli):
    data, sub = create(cli, "--event-type", "failed")
    assert data["secret"] is None
    assert sub.secret not in json.dumps(data)
    assert Path(data["secretFile"]).read_text().strip() == sub.secret
    assert data["eventTypes"] == sub.event_types == ["asset.processing.failed"]

    shown, sub = create(cli, "--show-secret")
    assert shown["secret"] == sub.secret == Path(shown["secretFile"]).read_text().strip()

    table = cli("subscriptions", "create", "--url", URL, "--show-secret")
    assert table.exit_code == 0
    newest = [s for s in cli.subscriptions().values() if s.secret in table.stdout]
    assert len(newest) == 1


def test_create_refuses_to_overwrite_a_secret_file_before_calling_the_api(cli, tmp_path):
    target = tmp_path / "mine.whsec"
    target.write_text("keep me\n")
    target.chmod(0o644)
    result = cli("subscriptions", "create", "--url", URL, "--secret-file", str(target))
    assert_error_line(result, 2, "already exists", "--force")
    assert cli.subscriptions() == {}  # the API was not asked
    assert target.read_text() == "keep me\n"

    result = cli("subscriptions", "create", "--url", URL, "--secret-file", str(target), "--force")
    assert result.exit_code == 0, result.output
    (sub,) = cli.subscriptions().values()
    assert target.read_text() == sub.secret + "\n"
    assert mode(target) == 0o600
    assert not list(tmp_path.glob(".pending-*"))  # no temporary file left behind


def test_create_checks_the_secret_location_before_calling_the_api(cli, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    target = blocker / "x.whsec"
    result = cli("subscriptions", "create", "--url", URL, "--secret-file", str(target))
    assert_error_line(result, 2, "not-a-dir")
    assert cli.subscriptions() == {}


def test_a_secret_that_cannot_be_stored_deletes_the_subscription_again(cli, tmp_path):
    """Another writer takes the file name between preparation and commit."""
    target = tmp_path / "raced.whsec"

    class RacingClient:
        def __init__(self, client: MediaMagicClient) -> None:
            self.client = client

        def create_subscription(self, *args, **kwargs):
            created = self.client.create_subscription(*args, **kwargs)
            target.write_text("someone else's\n")
            return created

        def __getattr__(self, name):
            return getattr(self.client, name)

    with (
        MediaMagicClient(cli.sim.base_url, cli.key) as client,
        pytest.raises(CliError, match="was deleted again") as caught,
    ):
        create_subscription_with_secret(RacingClient(client), URL, secret_file=target)
    assert "whsec_" not in str(caught.value)
    assert cli.subscriptions() == {}
    assert target.read_text() == "someone else's\n"


def test_the_create_function_defaults_to_the_data_dir(cli, tmp_path):
    with MediaMagicClient(cli.sim.base_url, cli.key) as client:
        stored = create_subscription_with_secret(
            client, URL, event_types=["asset.processing.completed"], data_dir=tmp_path
        )
    assert stored.secret_file == tmp_path / "secrets" / f"{stored.subscription.id}.whsec"
    assert stored.secret_file.read_text().strip() == stored.subscription.secret.get_secret_value()
    assert cli.subscriptions()[stored.subscription.id].event_types == ["asset.processing.completed"]


def test_list_one_page_or_all(cli):
    ids = {create(cli)[0]["id"] for _ in range(5)}

    page = json.loads(
        cli("subscriptions", "list", "--page", "2", "--page-size", "2", "--json").stdout
    )
    assert (page["page"], page["pageSize"], page["total"], page["totalPages"]) == (2, 2, 5, 3)
    assert len(page["items"]) == 2 and {i["id"] for i in page["items"]} <= ids
    assert all("secret" not in item for item in page["items"])

    every = json.loads(cli("subscriptions", "list", "--all", "--page-size", "2", "--json").stdout)
    assert {i["id"] for i in every["items"]} == ids and every["total"] == 5

    table = cli("subscriptions", "list", "--all", "--page-size", "2")
    assert table.exit_code == 0
    assert all(sub_id in table.stdout for sub_id in ids)
    first = cli("subscriptions", "list", "--page-size", "2")
    assert "page 1 of 3 · 5 in total" in first.stdout
    assert sum(sub_id in first.stdout for sub_id in ids) == 2
    narrow = cli("subscriptions", "list", "--all", COLUMNS="80")
    assert all(sub_id in narrow.stdout for sub_id in ids)
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    empty = cli("subscriptions", "list", "--page", "9")
    assert empty.exit_code == 0 and "No subscriptions on page 9." in empty.stdout


def test_get_disable_enable(cli):
    data, sub = create(cli, "--description", "toggle me")
    shown = cli("subscriptions", "get", data["id"])
    assert shown.exit_code == 0 and URL in shown.stdout and "toggle me" in shown.stdout
    assert json.loads(cli("subscriptions", "get", data["id"], "--json").stdout)["id"] == data["id"]

    off = cli("subscriptions", "disable", data["id"])
    assert off.exit_code == 0 and "disabled" in off.stdout
    assert sub.enabled is False
    on = cli("subscriptions", "enable", data["id"], "--json")
    assert json.loads(on.stdout)["enabled"] is True
    assert sub.enabled is True


def test_delete_asks_first(cli):
    data, _ = create(cli)
    secret_file = Path(data["secretFile"])
    no = cli("subscriptions", "delete", data["id"], input="n\n")
    assert_error_line(no, 1, "not deleted", others_may_start=("Delete subscription",))
    eof = cli("subscriptions", "delete", data["id"])  # no answer at all
    assert_error_line(eof, 1, "not deleted", others_may_start=("Delete subscription",))
    assert data["id"] in cli.subscriptions() and secret_file.exists()

    yes = cli("subscriptions", "delete", data["id"], input="y\n")
    assert yes.exit_code == 0 and f"Deleted subscription {data['id']}" in yes.stdout
    assert data["id"] not in cli.subscriptions()
    assert not secret_file.exists()

    other, _ = create(cli)
    done = cli("subscriptions", "delete", other["id"], "--yes", "--json")
    assert json.loads(done.stdout)["deleted"] == other["id"]
    assert cli.subscriptions() == {}


def test_unknown_and_foreign_subscriptions(cli, sim):
    missing = str(uuid.uuid4())
    for command in ("get", "enable", "disable", "deliveries"):
        result = cli("subscriptions", command, missing)
        assert_error_line(result, 1, "404 Not Found", "Subscription not found", "check the id")
    result = cli("subscriptions", "delete", missing, "--yes")
    assert_error_line(result, 1, "404")

    data, _ = create(cli)
    foreign = cli("subscriptions", "get", data["id"], MMQ_API_KEY=sim.free_keys.pop())
    assert_error_line(foreign, 1, "403 Forbidden", "another workspace")


def test_validation_error_is_one_line(cli):
    result = cli("subscriptions", "create", "--url", "ftp://example.com/hook")
    assert_error_line(result, 1, "422", "endpointUrl", "https://")
    assert cli.subscriptions() == {}


def test_bad_key_is_401_and_not_printed(cli):
    wrong = new_key()
    result = cli("subscriptions", "list", MMQ_API_KEY=wrong)
    line = assert_error_line(result, 1, "401 Unauthorized", "Invalid API key", "MMQ_API_KEY")
    assert wrong not in result.output and wrong[8:] not in line


def test_missing_key_and_key_files(cli, tmp_path):
    missing = cli("subscriptions", "list", MMQ_API_KEY=None)
    assert_error_line(missing, 2, "no API key", "MMQ_API_KEY", "--api-key-file")

    key_file = tmp_path / "key"
    key_file.write_text(cli.key + "\n")
    key_file.chmod(0o600)
    ok = cli("subscriptions", "list", "--api-key-file", str(key_file), "--json", MMQ_API_KEY=None)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["total"] == 0
    assert "warning" not in ok.stderr

    key_file.chmod(0o644)
    loose = cli("subscriptions", "list", "--api-key-file", str(key_file), MMQ_API_KEY=None)
    assert loose.exit_code == 0 and "readable by other users" in loose.stderr

    key_file.write_text("\n")
    empty = cli("subscriptions", "list", "--api-key-file", str(key_file))
    assert_error_line(empty, 2, "is empty")
    gone = cli("subscriptions", "list", "--api-key-file", str(tmp_path / "nope"))
    assert_error_line(gone, 2, "cannot read API key file")


def test_connection_refused_and_bad_urls(cli, dead_url):
    refused = cli("subscriptions", "list", "--base-url", dead_url, MMQ_API_MAX_ATTEMPTS="2")
    assert_error_line(refused, 1, f"cannot reach the API at {dead_url}", "--base-url")
    no_scheme = cli("subscriptions", "list", "--base-url", "localhost:8100")
    assert_error_line(no_scheme, 2, "must start with http:// or https://")
    # The API root is also accepted with the path prefix the client adds itself.
    prefixed = cli("subscriptions", "list", "--base-url", cli.sim.base_url + "/api/integrations/")
    assert prefixed.exit_code == 0, prefixed.output


def test_an_answer_that_is_not_the_api_is_one_line(cli):
    """A base URL pointing at some other web server (here: the simulator's docs page)."""
    result = cli("subscriptions", "get", "x", "--base-url", cli.sim.base_url + "/docs#")
    assert_error_line(result, 1, "unexpected answer from the API", "--base-url")


def test_invalid_settings_are_one_line(cli):
    result = cli("subscriptions", "list", MMQ_API_MAX_ATTEMPTS="lots")
    assert_error_line(result, 2, "invalid setting", "api_max_attempts")
