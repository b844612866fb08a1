"""Observe reads AWS in bulk: one listing per kind however many resources the account has, and a
DescribeEndpoint only where a listing cannot tell what the planner needs. Counted on the in-memory
fake AWS (tests/fakes.py)."""

from __future__ import annotations

import pytest

from esmctl.observe import observe
from tests.fakes import Env

PERF, PROTO = "performance_model", "prototype_model"
LISTINGS = ("ListModels", "ListEndpointConfigs", "ListEndpoints")


@pytest.fixture
def env(env: Env) -> Env:
    """Deployed."""
    assert env.deploy().failures == []
    return env


def endpoint(env: Env, dep: str) -> str:
    return env.state.deployments[dep].endpoint.name  # type: ignore[union-attr]


def test_one_listing_per_kind_and_no_describe_when_the_state_is_exact(env: Env) -> None:
    sm = env.aws.sagemaker
    for i in range(40):  # other people's resources in the same account
        sm.create_model(f"other-{i}", role_arn="r", model_package="p", tags={})
        sm.create_endpoint_config(f"other-{i}", model_name=f"other-{i}", instance_type="ml.t2.medium",
                                  instance_count=1, tags={})
        sm.create_endpoint(f"other-{i}", config_name=f"other-{i}", tags={})
    env.aws.reset_calls()

    seen = observe(env.aws, env.config, env.state)  # type: ignore[arg-type]
    assert [env.aws.count(op) for op in LISTINGS] == [1, 1, 1]
    assert env.aws.count("DescribeEndpoint") == 0
    assert len(seen.endpoints) == 42 and seen.endpoint(endpoint(env, PERF)).status == "InService"  # type: ignore[union-attr]
    assert seen.role is not None and seen.role.policy_attached
    assert {c.op for c in env.aws.calls} == {*LISTINGS, "GetRole", "ListAttachedRolePolicies"}


def test_only_a_failed_endpoint_is_described_for_its_failure_reason(env: Env) -> None:
    env.aws.sagemaker.set_status(endpoint(env, PERF), "Failed", "CannotStartContainerError")
    env.aws.reset_calls()

    seen = observe(env.aws, env.config, env.state)  # type: ignore[arg-type]
    assert [c.name for c in env.aws.ops("DescribeEndpoint")] == [endpoint(env, PERF)]
    assert seen.endpoint(endpoint(env, PERF)).failure_reason == "CannotStartContainerError"  # type: ignore[union-attr]
    assert seen.endpoint(endpoint(env, PROTO)).config_name is None  # type: ignore[union-attr]  # not described


def test_an_endpoint_whose_config_is_unknown_is_described_a_creating_one_is_not(env: Env) -> None:
    perf = env.state.deployments[PERF]
    perf.endpoint.config_name = "EndpointConfig-from-a-run-that-died"  # type: ignore[union-attr]
    env.aws.sagemaker.set_status(endpoint(env, PROTO), "Creating")  # runs the config it was created with
    env.aws.reset_calls()

    seen = observe(env.aws, env.config, env.state)  # type: ignore[arg-type]
    assert [c.name for c in env.aws.ops("DescribeEndpoint")] == [endpoint(env, PERF)]
    assert seen.endpoint(endpoint(env, PERF)).config_name == perf.endpoint_config.name  # type: ignore[union-attr]
    assert seen.endpoint(endpoint(env, PROTO)).status == "Creating"  # type: ignore[union-attr]


def test_an_endpoint_being_updated_is_described(env: Env) -> None:
    new = "EndpointConfig-new"
    env.aws.sagemaker.create_endpoint_config(new, model_name=env.state.deployments[PERF].model.name,  # type: ignore[union-attr]
                                             instance_type="ml.g5.8xlarge", instance_count=1, tags={})
    env.aws.sagemaker.update_endpoint(endpoint(env, PERF), config_name=new)
    env.aws.reset_calls()

    seen = observe(env.aws, env.config, env.state)  # type: ignore[arg-type]
    assert [c.name for c in env.aws.ops("DescribeEndpoint")] == [endpoint(env, PERF)]
    assert seen.endpoint(endpoint(env, PERF)).status == "Updating"  # type: ignore[union-attr]
