"""Schema-driven fuzzing: schemathesis generates requests for every operation of the simulator's
own OpenAPI document and sends them over real HTTP. No input may produce a 5xx that the fault
injector did not produce (faults are off here, so: no 5xx at all)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from simulator.app import create_app
from simulator.config import SimulatorConfig
from simulator.faults import FaultProfile
from simulator.testing import new_key, running_simulator

KEY = new_key("test")
SETTINGS = dict(api_keys=[KEY], time_scale=0.002, subscription_limit=100_000)
SCHEMA = schemathesis.openapi.from_dict(create_app(SimulatorConfig(**SETTINGS)).openapi())
ALL_CHECKS = list(HealthCheck)  # generation against a live server is slow by nature
OPERATIONS = {
    op.label: op for result in SCHEMA.get_all_operations() if (op := result.ok()) is not None
}


@pytest.fixture(scope="module")
def base_url():
    with running_simulator(**SETTINGS, rate_limit_per_second=1e9, rate_limit_burst=10**9) as sim:
        yield sim.base_url


def test_the_schema_covers_the_contract():
    assert len(OPERATIONS) >= 15, sorted(OPERATIONS)  # every endpoint of the contract


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_generated_request_gets_a_server_error(label, base_url):
    @given(case=OPERATIONS[label].as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=ALL_CHECKS,
    )
    def check(case):
        # Authenticated, so generation reaches the handlers rather than stopping at the 401.
        response = case.call(base_url=base_url, headers={"X-API-Key": KEY}, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )

    check()


@pytest.fixture(scope="module")
def faulty_base_url():
    faults = FaultProfile(rate_500=0.2, rate_502=0.2)
    with running_simulator(
        **SETTINGS, rate_limit_per_second=1e9, rate_limit_burst=10**9, faults=faults, seed=11
    ) as sim:
        yield sim.base_url


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_with_faults_on_every_server_error_is_an_injected_one(label, faulty_base_url):
    @given(case=OPERATIONS[label].as_strategy())
    @settings(max_examples=10, deadline=None, database=None, suppress_health_check=ALL_CHECKS)
    def check(case):
        response = case.call(base_url=faulty_base_url, headers={"X-API-Key": KEY}, timeout=30)
        if response.status_code >= 500:
            assert "(injected)" in response.text, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

    check()
