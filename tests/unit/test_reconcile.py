"""Refresh (observe + reconcile) after things happened that esmctl did not see: a create whose answer
was lost, an endpoint deleted by someone else or by its stop timer, a key rotation that died. Run
against the in-memory fake AWS (tests/fakes.py) on a fake clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from esmctl import secrets
from tests.fakes import Env

pytestmark = pytest.mark.usefixtures("fast_disk")

PERF, PROTO = "performance_model", "prototype_model"


def test_a_create_whose_answer_was_lost_is_marked_created_by_the_next_refresh(tmp_path: Path) -> None:
    env = Env(tmp_path)
    model = "Model-ESMC-300M-1-00000001"  # the performance model
    env.aws.fail("CreateModel", model, after=True)  # made in AWS; the answer never came
    out = env.deploy()
    assert [f.split(":")[0] for f in out.failures] == [PERF]
    assert env.state.deployments[PERF].model.created is False  # type: ignore[union-attr]
    assert env.aws.sagemaker.describe_model(model) is not None

    drift = env.refresh()
    rec = env.state.deployments[PERF].model
    assert rec is not None and rec.created and rec.arn.endswith(f"model/{model.lower()}")
    assert drift == []
    assert env.deploy().failures == []
    assert env.aws.count("CreateModel", model) == 1  # not made twice


def test_an_endpoint_deleted_outside_esmctl_is_drift_and_deploy_recreates_it(tmp_path: Path) -> None:
    env = Env(tmp_path)
    assert env.deploy().failures == []
    endpoint = env.state.deployments[PROTO].endpoint.name  # type: ignore[union-attr]
    env.aws.sagemaker.vanish(endpoint)

    drift = env.refresh()
    assert drift == [f"{PROTO}: endpoint {endpoint} deleted outside esmctl"]
    assert env.state.deployments[PROTO].endpoint.created is False  # type: ignore[union-attr]
    again = env.plan(refresh=False)
    assert [(a.action, a.name) for a in again.shown] == [("create_endpoint", endpoint)]  # under the same name


def test_the_plan_says_why_a_vanished_endpoint_is_created_again(tmp_path: Path) -> None:
    env = Env(tmp_path)
    assert env.deploy().failures == []
    env.aws.sagemaker.vanish(env.state.deployments[PROTO].endpoint.name)  # type: ignore[union-attr]
    (step,) = env.plan().shown
    assert step.reason == "vanished from AWS: recreate"


@pytest.mark.parametrize("gone_after", [dt.timedelta(hours=2), dt.timedelta(minutes=30)])
def test_an_endpoint_gone_after_its_stop_time_was_stopped_by_the_schedule_not_drift(
        tmp_path: Path, gone_after: dt.timedelta) -> None:
    env = Env(tmp_path)
    assert env.deploy(ttl=3600).failures == []  # fires an hour after the run
    endpoint = env.state.deployments[PROTO].endpoint.name  # type: ignore[union-attr]
    if gone_after < dt.timedelta(hours=1):
        env.aws.sagemaker.vanish(endpoint)  # someone else deleted it before the timer was due
    env.clock.advance(gone_after.total_seconds())

    drift = env.refresh()
    dep = env.state.deployments[PROTO]
    assert env.aws.sagemaker.status(endpoint) is None
    if gone_after > dt.timedelta(hours=1):  # the timer fired: stopped as asked
        assert not any(PROTO in d for d in drift)
        assert (dep.desired, dep.stopped_by) == ("stopped", "schedule")
        assert dep.stop_schedule is not None and dep.stop_schedule.fired
        assert not [a for a in env.plan(refresh=False).actions if a.deployment == PROTO]  # stays stopped
    else:
        assert f"{PROTO}: endpoint {endpoint} deleted outside esmctl" in drift
        assert dep.desired == "running"


def test_a_stored_key_that_differs_from_the_recorded_one_is_adopted(tmp_path: Path) -> None:
    env = Env(tmp_path, "basic_shared_user")
    assert env.deploy().failures == []
    rec = env.state.shared_account
    assert rec is not None
    old = rec.access_key_id
    # a rotation that died after storing the new key's secret, before recording its id
    new = env.aws.iam.create_access_key(rec.user_name)
    env.aws.secrets.put(secrets.secret_name("dev", rec.user_name),
                        {"aws_access_key_id": new["AccessKeyId"], "aws_secret_access_key": new["SecretAccessKey"]},
                        tags={}, description="")

    drift = env.refresh()
    assert rec.access_key_id == new["AccessKeyId"] != old
    assert drift == [f"shared user {rec.user_name}: 1 extra access key(s) ({old})"]
