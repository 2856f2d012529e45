"""The feed sensor, evaluated with build_sensor_context against a live receiver feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, StepSuccessData

from mmq.client import MediaMagicClient
from mmq.netutil import free_port
from pipelines.jobs import SCOPED_OPS
from pipelines.resources import ReceiverFeedResource
from sensors.feed_sensor import SENSOR_NAME, receiver_feed_sensor
from tests.pipeline.stack import running_stack

pytestmark = pytest.mark.timeout(120)


def evaluate(stack, cursor=None, receiver=None):
    context = dg.build_sensor_context(
        instance=stack.instance,
        cursor=cursor,
        definitions=stack.defs,
        resources={"receiver": receiver or stack.resources()["receiver"]},
    )
    return receiver_feed_sensor(context)


@pytest.fixture
def stack(tmp_path):
    with running_stack(tmp_path, failure_rate=0.0, seed=11) as stack:
        yield stack


def test_skips_explain_themselves(stack):
    nothing = evaluate(stack)
    assert isinstance(nothing, dg.SkipReason)
    assert "nothing new: no events after seq 0 (receiver at 0)" in nothing.skip_message
    dead = ReceiverFeedResource(url=f"http://127.0.0.1:{free_port()}", token=stack.token)
    unreachable = evaluate(stack, receiver=dead)
    assert isinstance(unreachable, dg.SkipReason)
    assert "receiver unreachable" in unreachable.skip_message
    wrong = ReceiverFeedResource(url=stack.receiver.url, token="not-the-token")
    refused = evaluate(stack, receiver=wrong)
    assert "answered 401" in refused.skip_message
    assert "not-the-token" not in refused.skip_message


def scope(request, op="webhook_events") -> dict:
    return request.run_config["ops"][op]["config"]


def test_one_run_per_tick_covers_every_new_event(stack):
    stack.drive(5, retry_failed=False)
    latest = stack.feed.page(0, 1).latest_seq
    events = list(stack.feed.iter_range(0, latest))
    in_order = list(dict.fromkeys(json.loads(e["body"])["data"]["submission_id"] for e in events))

    result = evaluate(stack)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.run_key == f"feed:0-{latest}"
    assert request.asset_selection is None  # the whole (unpartitioned) ingest job
    assert request.partition_key is None
    assert not any(t.startswith("dagster/asset_partition") for t in request.tags)
    # Every op that needs the run's submissions gets the same scope.
    assert set(request.run_config["ops"]) == set(SCOPED_OPS)
    for op in SCOPED_OPS:
        assert scope(request, op) == {"after_seq": 0, "until_seq": latest, "retry_submissions": []}
    assert request.tags["mmq/submissions"] == str(len(in_order))
    (add,) = result.dynamic_partitions_requests
    assert list(add.partition_keys) == in_order
    assert json.loads(result.cursor) == {"seq": latest}


def test_a_late_event_for_an_old_submission_joins_the_one_run_without_a_new_partition(stack):
    first_ids = stack.drive(3, retry_failed=False)
    first = evaluate(stack)
    (add,) = first.dynamic_partitions_requests
    stack.instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    seq = json.loads(first.cursor)["seq"]

    old = next(a for a in stack.sim.state.assets.values() if a.submission_id == first_ids[0])
    stack.sim.sim.engine.emit_for_asset(old)  # a late event for the oldest submission
    new_ids = stack.drive(2, retry_failed=False)
    second = evaluate(stack, cursor=first.cursor)
    (request,) = second.run_requests  # one run, however far back the late event points
    latest = json.loads(second.cursor)["seq"]
    assert request.run_key == f"feed:{seq}-{latest}"
    assert scope(request) == {"after_seq": seq, "until_seq": latest, "retry_submissions": []}
    (add,) = second.dynamic_partitions_requests
    assert set(add.partition_keys) == set(new_ids)  # the old one is already a partition
    assert request.tags["mmq/submissions"] == str(len(new_ids) + 1)


def report_pending(stack, upcoming: list[dict]) -> None:
    """A pending_fetches materialization as an ingest run records it (metadata only)."""
    stack.instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "pending_fetches", metadata={"upcoming": dg.MetadataValue.json(upcoming)}
        )
    )


def test_due_retries_travel_in_run_config_and_key_a_retry_run(stack):
    now = datetime.now(UTC)
    due = {"submission_id": "sub_due", "next_attempt_at": (now - timedelta(seconds=5)).isoformat()}
    hour = (now + timedelta(hours=1)).isoformat()
    later = {"submission_id": "sub_later", "next_attempt_at": hour}
    report_pending(stack, [due, later])
    (record,) = stack.instance.fetch_materializations(
        dg.AssetKey("pending_fetches"), limit=1
    ).records
    result = evaluate(stack, cursor='{"seq": 0}')
    (request,) = result.run_requests
    assert request.run_key == f"retry:{record.storage_id}"
    expected = {"after_seq": 0, "until_seq": 0, "retry_submissions": ["sub_due"]}
    assert all(scope(request, op) == expected for op in SCOPED_OPS)
    assert result.dynamic_partitions_requests == []
    assert json.loads(result.cursor) == {"seq": 0}

    # Nothing due (the next attempt is later): the skip says so.
    report_pending(stack, [later])
    skipped = evaluate(stack, cursor=result.cursor)
    assert isinstance(skipped, dg.SkipReason)
    assert "no pending retries due" in skipped.skip_message


def test_submissions_deferred_by_an_older_cursor_are_re_processed_once(stack):
    result = evaluate(stack, cursor='{"seq": 0, "deferred": ["sub_a", "sub_b"]}')
    (request,) = result.run_requests
    assert scope(request)["retry_submissions"] == ["sub_a", "sub_b"]
    assert request.run_key == "retry:deferred-0"
    assert json.loads(result.cursor) == {"seq": 0}  # carried once, then gone
    assert isinstance(evaluate(stack, cursor=result.cursor), dg.SkipReason)


def test_bounded_batches_advance_the_cursor(stack, monkeypatch):
    stack.drive(4, retry_failed=False)
    latest = stack.feed.page(0, 1).latest_seq
    assert latest > 5
    monkeypatch.setenv("MMQ_PIPELINE_MAX_EVENTS_PER_RUN", "5")
    first = evaluate(stack)
    assert json.loads(first.cursor)["seq"] == 5
    (request,) = first.run_requests
    assert request.run_key == "feed:0-5"
    assert scope(request)["until_seq"] == 5
    second = evaluate(stack, cursor=first.cursor)
    assert json.loads(second.cursor)["seq"] == min(10, latest)
    assert second.run_requests[0].run_key == f"feed:5-{min(10, latest)}"


def test_waits_while_its_previous_run_is_in_flight(stack):
    stack.drive(1, retry_failed=False)
    job = stack.defs.resolve_job_def("ingest_job")
    run = stack.instance.create_run_for_job(
        job_def=job,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={"dagster/sensor_name": SENSOR_NAME},
    )
    waiting = evaluate(stack)
    assert isinstance(waiting, dg.SkipReason)
    assert f"run {run.run_id[:8]} is still not_started" in waiting.skip_message
    stack.instance.report_run_canceled(run)
    assert isinstance(evaluate(stack), dg.SensorResult)


def report_step_success(instance, run, step_key):
    """Write the STEP_SUCCESS event a run worker writes when ``step_key`` succeeds."""
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=dg.DagsterEventType.STEP_SUCCESS.value,
            job_name=run.job_name,
            step_key=step_key,
            event_specific_data=StepSuccessData(duration_ms=1.0),
        ),
        run_id=run.run_id,
    )


def test_a_started_run_is_waited_for_until_it_has_published(stack):
    """Once its run has published, the next tick requests the next run, although the first
    one is still started (writing its reports): the next run starts up meanwhile."""
    stack.drive(1, retry_failed=False)
    job = stack.defs.resolve_job_def("ingest_job")
    run = stack.instance.create_run_for_job(
        job_def=job, status=dg.DagsterRunStatus.STARTED, tags={"dagster/sensor_name": SENSOR_NAME}
    )
    for step in ("webhook_events", "api_responses", "submission_tables", "submission_quality"):
        report_step_success(stack.instance, run, step)
    waiting = evaluate(stack)
    assert isinstance(waiting, dg.SkipReason)
    assert f"run {run.run_id[:8]} has not published yet" in waiting.skip_message

    report_step_success(stack.instance, run, "analytics_snapshot")
    assert stack.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    result = evaluate(stack)
    assert isinstance(result, dg.SensorResult)
    assert len(result.run_requests) == 1


def test_test_events_are_landed_but_start_no_partition_work(stack):
    secret = stack.sim.state.subscriptions[next(iter(stack.sim.state.subscriptions))].secret
    with MediaMagicClient(stack.sim.base_url, stack.sim.api_key) as client:
        answer = client.webhook_test(stack.receiver.webhook_url, secret)
    assert answer.delivered
    result = evaluate(stack)
    (request,) = result.run_requests
    assert set(request.asset_selection) == {
        dg.AssetKey("webhook_events"),
        dg.AssetKey("analytics_snapshot"),
    }
    assert set(request.run_config["ops"]) == {"webhook_events"}  # only the selected op's config
    assert result.dynamic_partitions_requests == []
