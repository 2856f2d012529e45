"""Timeline of the feed sensor's runs in a work directory kept by ``bench_pipeline.py --keep``.

For each run, from the Dagster instance in ``<work>/dagster_home``: when it was created (the
sensor's tick), launched (``PIPELINE_STARTING``: the queue daemon dequeued it), started (its
process is up), each step's start and end, and its end, in seconds from the first run shown.
Then the sensor's ticks that requested a run. This is where a freshness figure's seconds go.

``python bench/pipeline_timeline.py WORK [--since SECONDS]`` (``--since``: skip runs created
in the first SECONDS, e.g. the backlog run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dagster as dg

SENSOR = "receiver_feed_sensor"
RUN_EVENTS = {
    dg.DagsterEventType.PIPELINE_STARTING: "launched",
    dg.DagsterEventType.PIPELINE_START: "started",
    dg.DagsterEventType.PIPELINE_SUCCESS: "ended",
    dg.DagsterEventType.PIPELINE_FAILURE: "ended",
    dg.DagsterEventType.PIPELINE_CANCELED: "ended",
}
STEP_EVENTS = {
    dg.DagsterEventType.STEP_START: "start",
    dg.DagsterEventType.STEP_SUCCESS: "end",
    dg.DagsterEventType.STEP_FAILURE: "end",
}


def run_timeline(instance: dg.DagsterInstance, run_id: str) -> tuple[dict, dict]:
    """Run-level and per-step timestamps of one run, from its event log."""
    marks: dict[str, float] = {}
    steps: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(run_id, of_type=set(RUN_EVENTS) | set(STEP_EVENTS)):
        kind = entry.dagster_event.event_type
        if kind in RUN_EVENTS:
            marks.setdefault(RUN_EVENTS[kind], entry.timestamp)
        else:
            steps.setdefault(entry.step_key, {})[STEP_EVENTS[kind]] = entry.timestamp
    return marks, steps


def print_timeline(home: Path, since: float) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = sorted(
            instance.get_run_records(dg.RunsFilter(tags={"dagster/sensor_name": SENSOR})),
            key=lambda r: r.create_timestamp,
        )
        if not records:
            print("no runs of the feed sensor")
            return
        t0 = records[0].create_timestamp.timestamp()
        records = [r for r in records if r.create_timestamp.timestamp() - t0 >= since]

        def at(value: float | None) -> str:
            return f"{value - t0:7.1f}" if value is not None else "      -"

        for record in records:
            run = record.dagster_run
            created = record.create_timestamp.timestamp()
            marks, steps = run_timeline(instance, run.run_id)
            print(
                f"run {run.run_id[:8]} seq {run.tags.get('mmq/seq_range')} "
                f"submissions {run.tags.get('mmq/submissions')} {run.status.value.lower()}"
            )
            print(
                f"  created {at(created)}  launched {at(marks.get('launched'))}  "
                f"started {at(marks.get('started'))}  ended {at(marks.get('ended'))}"
            )
            for key, step in sorted(steps.items(), key=lambda kv: kv[1].get("start", 0.0)):
                start, end = step.get("start"), step.get("end")
                took = f"{end - start:6.2f}s" if start is not None and end is not None else ""
                print(f"    {key:<22} {at(start)} → {at(end)} {took}")
        sensors = [s for s in instance.all_instigator_state() if s.name == SENSOR]
        ticks = sorted(
            (
                t
                for s in sensors
                for t in instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=5000)
                if t.run_ids
            ),
            key=lambda t: t.timestamp,
        )
        first = records[0].create_timestamp.timestamp() - t0 if records else 0.0
        print("ticks that requested a run:")
        print("  " + " ".join(at(t.timestamp) for t in ticks if t.timestamp - t0 >= first - 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="work directory kept by bench_pipeline --keep")
    parser.add_argument(
        "--since", type=float, default=0.0, help="skip runs created in the first SECONDS"
    )
    args = parser.parse_args()
    print_timeline(args.work / "dagster_home", args.since)


if __name__ == "__main__":
    main()
