"""The feed sensor, evaluated with build_sensor_context against a live receiver feed."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from mmq.client import MediaMagicClient
from mmq.netutil import free_port
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


def test_one_run_per_tick_covers_every_new_event(stack):
    stack.drive(5, retry_failed=False)
    latest = stack.feed.page(0, 1).latest_seq
    events = list(stack.feed.iter_range(0, latest))
    in_order = list(dict.fromkeys(json.loads(e["body"])["data"]["submission_id"] for e in events))

    result = evaluate(stack)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.run_key == f"feed:0-{latest}:{in_order[0]}..{in_order[-1]}"
    assert request.tags["dagster/asset_partition_range_start"] == in_order[0]
    assert request.tags["dagster/asset_partition_range_end"] == in_order[-1]
    config = request.run_config["ops"]["webhook_events"]["config"]
    assert config == {"after_seq": 0, "until_seq": latest}
    (add,) = result.dynamic_partitions_requests
    assert list(add.partition_keys) == in_order
    assert json.loads(result.cursor) == {"seq": latest, "deferred": []}


def test_bounded_batches_advance_the_cursor(stack, monkeypatch):
    stack.drive(4, retry_failed=False)
    latest = stack.feed.page(0, 1).latest_seq
    assert latest > 5
    monkeypatch.setenv("MMQ_PIPELINE_MAX_EVENTS_PER_RUN", "5")
    first = evaluate(stack)
    assert json.loads(first.cursor)["seq"] == 5
    assert first.run_requests[0].run_config["ops"]["webhook_events"]["config"]["until_seq"] == 5
    second = evaluate(stack, cursor=first.cursor)
    assert json.loads(second.cursor)["seq"] == min(10, latest)
    assert second.run_requests[0].run_key.startswith("feed:5-")


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
    assert result.dynamic_partitions_requests == []
