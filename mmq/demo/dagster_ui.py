"""The few GraphQL calls the demo makes to the Dagster webserver it started."""

from __future__ import annotations

import httpx

LOCATION = "mmq"  # workspace.yaml's location_name
REPOSITORY = "__repository__"  # a Definitions object's implicit repository
SENSOR = "receiver_feed_sensor"

SENSOR_QUERY = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
START_SENSOR = """
mutation ($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
LAUNCH_RUN = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
DAEMONS_QUERY = """
query { instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }
"""


class DagsterUi:
    def __init__(self, url: str) -> None:
        self.url = url

    def _graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"Dagster GraphQL error: {body['errors'][0].get('message')}")
        return body["data"]

    @property
    def _selector(self) -> dict:
        return {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "sensorName": SENSOR,
        }

    def sensor_status(self) -> str | None:
        """RUNNING / STOPPED, or None while the code location is still loading."""
        found = self._graphql(SENSOR_QUERY, {"selector": self._selector})["sensorOrError"]
        if found["__typename"] != "Sensor":
            return None
        return found["sensorState"]["status"]

    def start_sensor(self) -> str:
        started = self._graphql(START_SENSOR, {"selector": self._selector})["startSensor"]
        if started["__typename"] != "Sensor":
            raise RuntimeError(f"could not start {SENSOR}: {started.get('message', started)}")
        return started["sensorState"]["status"]

    def launch_job(self, job_name: str) -> str:
        """Launch an unconfigured job of the location (queued for the daemon); its run id."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "jobName": job_name,
            },
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": "mmq/launched_by", "value": "demo"}]},
        }
        launched = self._graphql(LAUNCH_RUN, {"params": params})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            detail = launched.get("message") or launched.get("errors") or launched["__typename"]
            raise RuntimeError(f"could not launch {job_name}: {detail}")
        return launched["run"]["runId"]

    def unhealthy_daemons(self) -> list[str]:
        """Required daemons without a recent heartbeat (all of them until the daemon is up)."""
        health = self._graphql(DAEMONS_QUERY)["instance"]["daemonHealth"]
        return [
            d["daemonType"]
            for d in health["allDaemonStatuses"]
            if d["required"] and not d["healthy"]
        ]

    def run_url(self, run_id: str) -> str:
        return f"{self.url}/runs/{run_id}"
