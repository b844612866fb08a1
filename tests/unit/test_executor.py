"""The executor with the real planner and handlers against the in-memory fake AWS (tests/fakes.py),
waiting on a fake clock: what a user sees of a deploy — the order of the calls, the state written
before each create, the wait, an update that rolls back, one deployment failing, Ctrl-C. No sleeps."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from esmctl.errors import Interrupted
from tests.fakes import Env

PERF, PROTO = "performance_model", "prototype_model"


def names(env: Env, dep: str) -> tuple[str, str, str]:
    """The (model, endpoint config, endpoint) names recorded for `dep`."""
    d = env.state.deployments[dep]
    assert d.model and d.endpoint_config and d.endpoint
    return d.model.name, d.endpoint_config.name, d.endpoint.name


def record_of(doc: Any, name: str) -> dict[str, Any] | None:
    """The record named `name` anywhere in a state document."""
    if isinstance(doc, dict):
        if doc.get("name") == name:
            return doc
        items = list(doc.values())
    elif isinstance(doc, list):
        items = doc
    else:
        return None
    for x in items:
        found = record_of(x, name)
        if found is not None:
            return found
    return None


def index(env: Env, op: str, name: str) -> int:
    return next(i for i, c in enumerate(env.aws.calls) if c.op == op and c.name == name)


# --- a fresh deploy -------------------------------------------------------------------------------------
def test_a_fresh_deploy_records_each_name_before_creating_it_and_waits_on_the_clock(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    on_disk: dict[str, dict[str, Any] | None] = {}

    def look(name: str) -> None:  # inside the create call, before it takes effect: what is on disk?
        on_disk[name] = record_of(env.saved(), name)

    for op in ("CreateRole", "CreateModel", "CreateEndpointConfig", "CreateEndpoint"):
        env.aws.on(op, look)
    p = env.plan()
    env.aws.reset_calls()  # what the refresh read
    def no_real_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s for real")
    monkeypatch.setattr(time, "sleep", no_real_sleep)  # every wait goes through the fake clock
    out = env.apply(p)

    assert out.failures == [] and out.still_busy == []
    creates = [c for c in env.aws.calls if c.op.startswith("Create")]
    assert len(creates) == 7  # the role, and a model, config and endpoint per deployment
    assert set(on_disk) == {c.name for c in creates}
    for name, rec in on_disk.items():
        assert rec is not None and rec["created"] is False, f"{name} was not in the state file before its create"
    # order: the role first, every model (the Marketplace gate) before any config, each config
    # confirmed before its endpoint
    ops = [c.op for c in creates]
    assert ops[0] == "CreateRole" and index(env, "AttachRolePolicy", env.config.role_name) < index(
        env, "CreateModel", names(env, PERF)[0])
    assert max(i for i, o in enumerate(ops) if o == "CreateModel") < min(
        i for i, o in enumerate(ops) if o == "CreateEndpointConfig")
    for dep in (PERF, PROTO):
        model, config, endpoint = names(env, dep)
        assert index(env, "CreateModel", model) < index(env, "CreateEndpointConfig", config) \
            < index(env, "DescribeEndpointConfig", config) < index(env, "CreateEndpoint", endpoint)
        assert env.aws.sagemaker.status(endpoint) == "InService"
        rec = env.saved()["deployments"][dep]
        assert rec["endpoint"]["status"] == "InService" and rec["endpoint"]["created"] is True
        assert rec["model"]["created"] and rec["endpoint_config"]["created"]
    # the wait took ten minutes of the fake clock (and no real sleep: see above)
    assert env.clock.now() >= env.aws.sagemaker.seconds["Creating"] and env.clock.slept > 0
    assert env.state.creation_seconds == [pytest.approx(600.0, abs=env.interval)] * 2
    assert env.aws.count("ListEndpoints") == env.clock.sleeps + 1  # one listing per poll for both endpoints
    assert "Waiting for 2 endpoints to be InService" in env.ui.text()


def test_an_endpoint_that_ends_failed_fails_its_deployment_with_the_reason_and_not_the_other(env: Env) -> None:
    env.aws.sagemaker.fail_next_create("Endpoint-ESMC-300M-1-00000001", "The primary container did not pass the ping")
    out = env.deploy()
    (failure,) = out.failures
    assert failure.startswith(f"{PERF}: endpoint Endpoint-ESMC-300M-1-00000001 Failed: The primary container")
    assert "/aws/sagemaker/Endpoints/Endpoint-ESMC-300M-1-00000001" in failure
    assert env.aws.sagemaker.status(names(env, PROTO)[2]) == "InService"
    assert env.state.deployments[PERF].endpoint.failure_reason.startswith("The primary container")  # type: ignore[union-attr]
    again = env.plan()
    assert [(a.action, a.deployment) for a in again.shown] == [("replace_endpoint", PERF)]


def test_a_wait_that_times_out_says_what_is_still_creating_and_leaves_it_running(tmp_path: Path) -> None:
    env = Env(tmp_path, interval=60, timeout=1800)
    env.aws.sagemaker.seconds["Creating"] = 7200
    out = env.deploy()
    assert sorted(out.still_busy) == sorted(names(env, d)[2] for d in (PERF, PROTO))
    assert all("still Creating after 30m" in f for f in out.failures) and len(out.failures) == 2
    assert 1800 <= env.clock.now() < 1800 + 60
    assert env.aws.count("DeleteEndpoint") == 0  # it goes on in AWS


# --- an update ------------------------------------------------------------------------------------
def test_an_update_deletes_the_old_config_only_after_the_endpoint_runs_on_the_new_one(env: Env) -> None:
    assert env.deploy().failures == []
    _, old_config, endpoint = names(env, PERF)
    env.edit("ml.g5.4xlarge", "ml.g5.8xlarge")
    seen_at_delete: list[str] = []
    env.aws.on("DeleteEndpointConfig",
               lambda _: seen_at_delete.append(env.aws.sagemaker.endpoints[endpoint.lower()].config_name))
    env.aws.reset_calls()
    out = env.deploy()

    assert out.failures == []
    new_config = env.state.deployments[PERF].endpoint_config.name  # type: ignore[union-attr]
    assert new_config != old_config
    assert index(env, "CreateEndpointConfig", new_config) < index(env, "UpdateEndpoint", endpoint) \
        < index(env, "DescribeEndpoint", endpoint) < index(env, "DeleteEndpointConfig", old_config)
    assert seen_at_delete == [new_config]
    assert env.aws.sagemaker.describe_endpoint_config(old_config) is None
    dep = env.state.deployments[PERF]
    assert dep.endpoint.config_name == new_config and dep.retired == []  # type: ignore[union-attr]
    assert not [c for c in env.aws.calls if "00000002" in c.name and not c.op.startswith(("List", "Describe"))]
    assert env.aws.count("DeleteModel") == 0  # the model did not change


def test_an_update_that_rolls_back_fails_with_the_rollback_message_and_keeps_the_old_config(env: Env) -> None:
    assert env.deploy().failures == []
    _, old_config, endpoint = names(env, PERF)
    env.edit("ml.g5.4xlarge", "ml.g5.8xlarge")
    env.aws.sagemaker.roll_back_next_update(endpoint)
    out = env.deploy()

    (failure,) = out.failures
    assert f"SageMaker rolled the update of endpoint {endpoint} back: it is InService on {old_config}" in failure
    assert f"/aws/sagemaker/Endpoints/{endpoint}" in failure
    assert env.aws.sagemaker.describe_endpoint_config(old_config) is not None
    assert env.aws.count("DeleteEndpointConfig") == 0
    dep = env.state.deployments[PERF]
    assert dep.endpoint.config_name == old_config  # type: ignore[union-attr]
    assert [r.name for r in dep.retired] == [old_config]  # deleted once an update succeeds
    again = env.plan()  # the next deploy tries the update again; the old config goes only once it worked
    assert [(a.action, a.name, a.phase) for a in again.shown] == [
        ("update_endpoint", endpoint, "apply"), ("delete_endpoint_config", old_config, "after_wait")]


# --- failures and Ctrl-C ------------------------------------------------------------------------------
def test_one_deployment_failing_does_not_stop_the_other(env: Env) -> None:
    env.aws.fail("CreateEndpointConfig", "EndpointConfig-Endpoint-ESMC-300M-1-00000001")
    out = env.deploy()

    (failure,) = out.failures
    assert failure.startswith(f"{PERF}: sagemaker:CreateEndpointConfig EndpointConfig-Endpoint-ESMC-300M-1-00000001 "
                              "failed: InternalFailure")
    assert env.aws.count("CreateEndpoint") == 1
    assert env.aws.sagemaker.status(names(env, PROTO)[2]) == "InService"
    perf = env.state.deployments[PERF]
    assert perf.endpoint is None and perf.endpoint_config is not None and not perf.endpoint_config.created
    assert env.deploy().failures == []  # the next run finishes it
    assert env.aws.sagemaker.status(names(env, PERF)[2]) == "InService"


def test_parallelism_one_works_one_deployment_after_the_other_and_finishes(env: Env) -> None:
    threads: set[str] = set()
    for op in ("CreateEndpointConfig", "CreateEndpoint"):
        env.aws.on(op, lambda _: threads.add(threading.current_thread().name))
    out = env.deploy(parallelism=1)
    assert out.failures == [] and out.still_busy == []
    assert len(threads) == 1
    assert [env.aws.sagemaker.status(names(env, d)[2]) for d in (PERF, PROTO)] == ["InService"] * 2


def test_ctrl_c_during_a_create_names_the_endpoints_still_being_created(env: Env) -> None:
    def interrupt(name: str) -> None:
        if name == "Endpoint-ESMC-300M-1-00000002":  # the second deployment's, the first's already Creating
            raise KeyboardInterrupt

    env.aws.on("CreateEndpoint", interrupt)
    with pytest.raises(Interrupted) as e:
        env.deploy(parallelism=1)

    assert "Interrupted; the state is saved." in e.value.message
    assert "Still being created or updated in AWS: Endpoint-ESMC-300M-1-00000001" in e.value.message
    assert "esmctl deploy" in e.value.hint and e.value.exit_code == 130
    assert env.aws.cancel.is_set()  # a retry waiting out AWS's consistency stops at once
    saved = env.saved()["deployments"][PERF]["endpoint"]
    assert saved["status"] == "Creating" and saved["created"] is True


def test_ctrl_c_while_waiting_then_deploy_again_picks_the_wait_up(env: Env) -> None:
    polls = iter(range(1_000))

    def interrupt(_: str) -> None:
        if next(polls) == 5:  # the fifth poll of the wait (after observe's listing)
            raise KeyboardInterrupt

    env.aws.on("ListEndpoints", interrupt)
    with pytest.raises(Interrupted) as e:
        env.deploy()
    for dep in (PERF, PROTO):
        assert names(env, dep)[2] in e.value.message

    out = env.deploy()  # a new run: refresh sees them Creating and waits; nothing is created twice
    assert out.failures == [] and env.aws.count("CreateEndpoint") == 2
    assert {env.state.deployments[d].endpoint.status for d in (PERF, PROTO)} == {"InService"}  # type: ignore[union-attr]
    assert json.dumps(env.saved()).count('"InService"') == 2


# --- stop and destroy -----------------------------------------------------------------------------
def test_stop_deletes_only_the_endpoint_and_waits_until_it_is_gone(env: Env) -> None:
    assert env.deploy().failures == []
    model, config, endpoint = names(env, PROTO)
    env.refresh()
    dep = env.state.deployments[PROTO]
    dep.desired, dep.stopped_by = "stopped", "user"  # what `esmctl stop prototype_model` sets
    before = env.clock.now()
    out = env.apply(env.plan(refresh=False, targets=(PROTO,)))

    assert out.failures == []
    assert env.aws.sagemaker.status(endpoint) is None
    assert env.clock.now() - before >= env.aws.sagemaker.seconds["Deleting"]  # waited for it to go
    assert env.aws.sagemaker.describe_model(model) and env.aws.sagemaker.describe_endpoint_config(config)
    assert env.state.deployments[PROTO].endpoint.created is False  # type: ignore[union-attr]
    assert env.aws.sagemaker.status(names(env, PERF)[2]) == "InService"


def test_destroy_removes_everything_in_an_order_iam_accepts(tmp_path: Path) -> None:
    env = Env(tmp_path, "basic_shared_user")
    assert env.deploy(ttl=3 * 3600).failures == []
    endpoint = names(env, PROTO)[2]
    out = env.deploy(destroy=True)

    assert out.failures == []
    sm, iam = env.aws.sagemaker, env.aws.iam
    assert (sm.models, sm.configs, sm.status(endpoint), env.aws.scheduler.schedules) == ({}, {}, None, {})
    assert (iam.roles, iam.users, iam.policies, iam.keys, env.aws.secrets.secrets) == ({}, {}, {}, {}, {})
    assert env.state.deployments == {} and env.state.role is None and env.state.shared_account is None
    assert env.saved()["deployments"] == {}
    # IAM refuses (DeleteConflict) to delete a role, user or policy with something still attached
    role = env.config.role_name
    assert [c.op for c in env.aws.ops("DetachRolePolicy", "DeleteRole") if c.name == role] == [
        "DetachRolePolicy", "DeleteRole"]
    assert env.aws.ops("DeleteUser")[0] == env.aws.ops("DeleteAccessKey", "DetachUserPolicy", "DeleteUser")[-1]
