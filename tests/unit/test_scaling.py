"""Autoscaling of a deployment's endpoint (esmctl/resources/scaling.py): the `autoscaling:` block, the
planner and handlers against an in-memory Application Auto Scaling (FakeAutoScaling below, put in
FakeAws.apis) through whole deploys, the IAM it needs, and the handlers' requests against moto's
Application Auto Scaling (botocore checks them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from esmctl import config, permissions
from esmctl.errors import ConfigError
from esmctl.resources import scaling, stop_timer
from tests.fakes import Env, FakeSageMaker, Log, _Service, no_fsync

PROTO = "prototype_model"
BLOCK = """    instance_type: ml.g5.2xlarge
    autoscaling:
      min_instances: 1
      max_instances: 3
      target_invocations_per_instance: 100
"""


@pytest.fixture(autouse=True)
def _fast_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    no_fsync(monkeypatch)


class FakeAutoScaling(_Service):
    """Scalable targets of SageMaker variants and their policies, through the generic `call`: a target
    needs its endpoint to exist; what is not there is ObjectNotFoundException, as in AWS."""

    SERVICE = "application-autoscaling"

    def __init__(self, log: Log, region: str, account: str, sagemaker: FakeSageMaker) -> None:
        super().__init__(log, region, account)
        self.sagemaker = sagemaker
        self.targets: dict[str, dict[str, Any]] = {}  # ResourceId → RegisterScalableTarget's params
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}  # (ResourceId, PolicyName) → params
        log.ticks.append(self._sweep)

    def _sweep(self) -> None:
        """Deleting an endpoint deregisters its variant (SageMaker: "Delete endpoints configured for auto scaling")."""
        for rid in [r for r in self.targets if r.split("/")[1].lower() not in self.sagemaker.endpoints]:
            del self.targets[rid]
            self.policies = {k: v for k, v in self.policies.items() if k[0] != rid}

    def call(self, op: str, resource: str = "", **p: Any) -> dict[str, Any]:
        with self._call(op, resource):
            rid = p.get("ResourceId", "")
            if op == "RegisterScalableTarget":
                endpoint = rid.split("/")[1]
                if self.sagemaker.status(endpoint) != "InService":
                    raise self._error(op, rid, "ValidationException", f"The endpoint {endpoint} is not InService.")
                self.targets[rid] = {**self.targets.get(rid, {}), **p}
                return {}
            if op == "PutScalingPolicy":
                if rid not in self.targets:
                    raise self._error(op, rid, "ObjectNotFoundException", "No scalable target registered.")
                self.policies[(rid, p["PolicyName"])] = p
                return {"PolicyARN": f"arn:aws:autoscaling:{self.region}:{self.account}:scalingPolicy:x"}
            if op == "DeleteScalingPolicy":
                if self.policies.pop((rid, p["PolicyName"]), None) is None:
                    raise self._error(op, rid, "ObjectNotFoundException", "No scaling policy found.")
                return {}
            if op == "DeregisterScalableTarget":
                if self.targets.pop(rid, None) is None:
                    raise self._error(op, rid, "ObjectNotFoundException", "No scalable target found.")
                self.policies = {k: v for k, v in self.policies.items() if k[0] != rid}
                return {}
            raise NotImplementedError(op)

    def pages(self, op: str, key: str, **p: Any) -> Iterator[dict[str, Any]]:
        assert (op, key) == ("DescribeScalableTargets", "ScalableTargets")
        return self._pages(op, lambda: [dict(t) for t in self.targets.values()])


@pytest.fixture
def env(tmp_path: Path) -> Env:
    e = Env(tmp_path)
    e.aws.apis["application-autoscaling"] = FakeAutoScaling(e.aws.log, e.aws.region, e.aws.account_id(),
                                                           e.aws.sagemaker)
    e.edit("    instance_type: ml.g5.2xlarge\n", BLOCK)
    return e


def fake(env: Env) -> FakeAutoScaling:
    return env.aws.apis["application-autoscaling"]  # type: ignore[no-any-return]


def steps(p: object) -> list[tuple[str, str, str]]:
    return [(a.action, a.deployment, a.phase) for a in p.actions]  # type: ignore[attr-defined]


def rid(env: Env) -> str:
    return scaling.resource_id(env.state.deployments[PROTO].endpoint.name)  # type: ignore[union-attr]


# --- configuration -------------------------------------------------------------------------------
def test_the_block_is_carried_onto_the_deployment(env: Env) -> None:
    want = env.config.deployments[PROTO].autoscaling
    assert (want.min_instances, want.max_instances, want.target_invocations_per_instance) == (1, 3, 100)
    assert env.config.deployments["performance_model"].autoscaling is None


@pytest.mark.parametrize(("block", "message"), [
    ("min_instances: 4\n      max_instances: 3", "min_instances (4) is more than max_instances (3)"),
    ("min_instances: 0\n      max_instances: 3", "must be at least 1"),
    ("min_instances: 1\n      max_instance: 3", "did you mean 'max_instances'"),
])
def test_a_bad_block_is_refused_with_where_and_why(env: Env, block: str, message: str) -> None:
    env.edit("min_instances: 1\n      max_instances: 3", block)
    with pytest.raises(ConfigError) as e:
        config.load(env.path)
    assert any(message in p.message and "selected_models.prototype_model.autoscaling" in p.path
               for p in e.value.problems), e.value.problems


# --- planner and handlers, through whole deploys ---------------------------------------------------
def test_a_new_deployment_is_scaled_once_its_endpoint_is_in_service(env: Env) -> None:
    p = env.plan()
    assert ("create_scaling", PROTO, "after_wait") in steps(p)
    assert not any(a.deployment == "performance_model" and a.spec.kind() == "scaling" for a in p.actions)
    assert env.apply(p).failures == []

    target = fake(env).targets[rid(env)]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert rid(env).endswith("/variant/variant-1")
    policy = fake(env).policies[(rid(env), scaling.POLICY_NAME)]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking == {"TargetValue": 100.0, "PredefinedMetricSpecification": {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 600, "ScaleOutCooldown": 60}  # the defaults, 10m and 1m
    rec = scaling.record(env.state.deployments[PROTO])
    assert rec is not None and rec.created and rec.max_instances == 3
    assert env.saved()["deployments"][PROTO]["records"]["scaling"]["resource_id"] == rid(env)
    assert env.plan().actions == ()  # nothing more to do


def test_new_bounds_are_an_update_in_place_without_touching_the_endpoint(env: Env) -> None:
    assert env.deploy().failures == []
    env.edit("max_instances: 3", "max_instances: 5")
    p = env.plan()
    assert steps(p) == [("update_scaling", PROTO, "apply")]
    assert "1-3 instances" in p.actions[0].reason and "1-5 instances" in p.actions[0].reason
    assert p.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert env.apply(p).failures == []
    assert fake(env).targets[rid(env)]["MaxCapacity"] == 5
    assert scaling.record(env.state.deployments[PROTO]).max_instances == 5  # type: ignore[union-attr]


def test_a_new_instance_type_deregisters_before_the_update_and_registers_after(env: Env) -> None:
    assert env.deploy().failures == []
    env.edit("instance_type: ml.g5.2xlarge\n    autoscaling", "instance_type: ml.g5.xlarge\n    autoscaling")
    p = env.plan()
    mine = [s for s in steps(p) if s[1] == PROTO and s[0] != "verify_endpoint"]
    assert mine.index(("delete_scaling", PROTO, "apply")) < mine.index(("update_endpoint", PROTO, "apply"))
    assert ("create_scaling", PROTO, "after_wait") in mine
    assert env.apply(p).failures == []
    assert rid(env) in fake(env).targets


def test_removing_the_block_stopping_and_destroying_remove_the_target(env: Env) -> None:
    assert env.deploy().failures == []
    env.edit(BLOCK, "    instance_type: ml.g5.2xlarge\n")
    p = env.plan()
    assert steps(p) == [("delete_scaling", PROTO, "apply")] and p.actions[0].reason == "autoscaling removed"
    assert env.apply(p).failures == [] and fake(env).targets == {}
    assert "scaling" not in env.state.deployments[PROTO].records

    env.edit("    instance_type: ml.g5.2xlarge\n", BLOCK)
    assert env.deploy().failures == []
    env.state.deployments[PROTO].desired = "stopped"  # what `esmctl stop` sets
    p = env.plan()
    assert [s[0] for s in steps(p) if s[1] == PROTO] == ["delete_scaling", "delete_endpoint"]
    assert env.apply(p).failures == [] and fake(env).targets == {}

    env.state.deployments[PROTO].desired = "running"  # `esmctl start`: a new endpoint, scaled again
    assert env.deploy().failures == [] and rid(env) in fake(env).targets
    p = env.plan(destroy=True)
    assert ("delete_scaling", PROTO, "apply") in steps(p)
    assert env.apply(p).failures == [] and fake(env).targets == {}


def test_a_target_gone_with_its_endpoint_is_registered_again_and_deleting_it_again_is_done(env: Env) -> None:
    assert env.deploy().failures == []
    env.aws.sagemaker.vanish(env.state.deployments[PROTO].endpoint.name)  # type: ignore[union-attr]
    env.aws.log.tick()
    assert fake(env).targets == {}  # AWS deregisters it with the endpoint
    p = env.plan()
    assert ("create_endpoint", PROTO, "apply") in steps(p) and ("create_scaling", PROTO, "after_wait") in steps(p)
    assert env.apply(p).failures == [] and rid(env) in fake(env).targets

    fake(env).call("DeregisterScalableTarget", ResourceId=rid(env))  # someone else removed it
    p = env.plan()
    assert steps(p) == [("create_scaling", PROTO, "apply")] and p.actions[0].reason == "missing in AWS"
    fake(env).targets.clear()
    fake(env).policies.clear()
    assert env.apply(env.plan(destroy=True, refresh=False)).failures == []  # ObjectNotFoundException: done


# --- IAM -----------------------------------------------------------------------------------------
def test_permissions_include_autoscaling_only_when_a_deployment_uses_it(env: Env) -> None:
    doc = permissions.policy(env.config, None, "deploy")
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert {"application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:DescribeScalableTargets", "iam:CreateServiceLinkedRole",
            "sagemaker:UpdateEndpointWeightsAndCapacities"} <= actions
    (slr,) = [s for s in doc["Statement"] if s["Sid"] == "AutoScalingServiceLinkedRole"]
    assert slr["Action"] == ["iam:CreateServiceLinkedRole"] and slr["Resource"].endswith(
        "/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    env.edit(BLOCK, "    instance_type: ml.g5.2xlarge\n")
    assert not any(a.startswith("application-autoscaling:RegisterScalableTarget")
                   for a in permissions.actions(env.config, "deploy"))


def test_a_stop_timer_may_deregister_the_target_of_a_scaled_endpoint(env: Env) -> None:
    assert env.deploy(ttl=7200.0).failures == []
    role = stop_timer.role_name("esm", "dev", env.state.deployments[PROTO].suffix)
    doc = json.loads(env.aws.iam.role_policy(role, stop_timer.POLICY_NAME))  # type: ignore[arg-type]
    assert [s["Action"] for s in doc["Statement"]] == ["sagemaker:DeleteEndpoint",
                                                      "application-autoscaling:DeregisterScalableTarget"]


# --- the requests, as botocore and moto take them ---------------------------------------------------
def test_the_handlers_requests_against_moto(tmp_path: Path) -> None:
    from esmctl.aws import Aws
    from esmctl.resources import Action, Run
    from esmctl.state import DeploymentState, LocalBackend, State, Store
    from tests.fakes import Recording

    with mock_aws():
        aws = Aws(region="us-east-2")
        st = State(region="us-east-2", environment="dev")
        st.deployments[PROTO] = DeploymentState(selector="ESMC-300M", suffix="1", forge_model_name="f")
        run = Run(aws=aws, store=Store(LocalBackend(tmp_path / "dev.json"), st), config=None, ui=Recording(),
                  waiter=None, clock=lambda: 0.0)  # type: ignore[arg-type]
        spec = scaling.Scaling(scaling.resource_id("Endpoint-ESMC-300M-1-00000001"), 1, 3, 100)
        Action("create", spec, PROTO).handler.run(run, Action("create", spec, PROTO))
        bigger = scaling.Scaling(spec.name, 2, 4, 50)
        Action("update", bigger, PROTO).handler.run(run, Action("update", bigger, PROTO))
        client = boto3.client("application-autoscaling", region_name="us-east-2")
        (t,) = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        assert (t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) == (spec.name, 2, 4)
        (pol,) = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
        assert pol["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 50.0
        assert scaling.observe(aws, None, st) == {spec.name.lower(): (2, 4)}
        Action("delete", spec, PROTO).handler.run(run, Action("delete", spec, PROTO))
        assert client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
        assert "scaling" not in st.deployments[PROTO].records
