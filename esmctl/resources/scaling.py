"""Autoscaling of a deployment's endpoint: an Application Auto Scaling scalable target on its one
variant (DesiredInstanceCount between `min_instances` and `max_instances`) with a target-tracking
policy on SageMakerVariantInvocationsPerInstance. Planned from a selection's `autoscaling:` block.

Registered once the endpoint is InService (after the wait, when this plan creates or updates it);
RegisterScalableTarget and PutScalingPolicy are upserts, so a changed bound or target is an update
in place. Removed when the block is removed, the deployment stopped or destroyed, and before an
UpdateEndpoint that changes the instance type, which SageMaker refuses while the variant is a
scalable target (SageMaker Developer Guide, "Update endpoints that use auto scaling"); registered
again after it. Deleting an endpoint deregisters its target when the caller may
(DeregisterScalableTarget), so a recreated endpoint is registered again.

The first RegisterScalableTarget of an account creates the service-linked role
AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint (iam:CreateServiceLinkedRole); the
service then calls sagemaker:DescribeEndpoint(Config) and UpdateEndpointWeightsAndCapacities as
the caller (SageMaker Developer Guide, "Auto scaling prerequisites").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from esmctl import durations, naming, prices
from esmctl.errors import NotFound
from esmctl.resources._base import Action, Phase, Planning, Run, Scope, Spec, handler, reads, record_of, scope
from esmctl.resources.endpoint import Endpoint

if TYPE_CHECKING:
    from esmctl.config import Config
    from esmctl.state import DeploymentState, State

PLAN_ORDER = 45  # when it plans (after the endpoint: reads what this plan does to it)
SECTION = 55  # where its shared steps run and show (it has none)

SERVICE = "application-autoscaling"
NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLICY_NAME = "esmctl-invocations-per-instance"  # unique per scalable target, so one name for all
METRIC = "SageMakerVariantInvocationsPerInstance"

KIND = "scaling"  # its key in a deployment's `records` and in `Observed.kinds`

reads(__name__, {"application-autoscaling:DescribeScalableTargets": "any"})
# created by the first RegisterScalableTarget of the account (Application Auto Scaling User Guide)
SLR_PATH = "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
scope("scaling-role", "AutoScalingServiceLinkedRole", lambda _config, _state, account, partition: [
    f"arn:{partition}:iam::{account}:role/aws-service-role/{SLR_PATH}"])

# PutScalingPolicy of a target-tracking policy creates and deletes CloudWatch alarms named TargetTracking-…
# as the caller (Application Auto Scaling User Guide, "Identity-based policy examples", SageMaker endpoints;
# the service-linked role's AWSApplicationAutoscalingSageMakerEndpointPolicy scopes them the same way)
scope("scaling-alarms", "TargetTrackingAlarms", lambda config, _state, account, partition: [
    f"arn:{partition}:cloudwatch:{config.region}:{account}:alarm:TargetTracking*"])

_PUT: dict[str, Scope] = {
    "iam:PutRolePolicy": "timer-role",  # a stop timer's role may then deregister the target (_arm_stop_timer)
    "cloudwatch:PutMetricAlarm": "scaling-alarms", "cloudwatch:DescribeAlarms": "scaling-alarms",
    "cloudwatch:DeleteAlarms": "scaling-alarms",
    "application-autoscaling:RegisterScalableTarget": "any", "application-autoscaling:PutScalingPolicy": "any",
    "iam:CreateServiceLinkedRole": "scaling-role",  # declared with scope() above
    # called by Application Auto Scaling as the caller (SageMaker: "Auto scaling prerequisites")
    "sagemaker:DescribeEndpoint": "endpoint", "sagemaker:DescribeEndpointConfig": "endpoint-config",
    "sagemaker:UpdateEndpointWeightsAndCapacities": "endpoint"}


class ScalingRecord(BaseModel):
    """`records["scaling"]` of a deployment: its endpoint's scalable target and target-tracking policy."""

    model_config = ConfigDict(extra="forbid")

    resource_id: str  # endpoint/<endpoint>/variant/<variant>
    policy_name: str
    min_instances: int
    max_instances: int
    target: int  # invocations per instance per minute
    scale_in_cooldown: int = 600  # seconds
    scale_out_cooldown: int = 60
    instance_type: str = ""  # what the variant ran on when registered ("": unknown, as if changed)
    created: bool = False  # False: recorded, RegisterScalableTarget/PutScalingPolicy not confirmed yet


def record(dep: DeploymentState) -> ScalingRecord | None:
    return record_of(dep, KIND, ScalingRecord)


def resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{naming.VARIANT}"


def delete_rights(want: Any) -> list[dict[str, Any]]:
    """What a role that deletes an autoscaled endpoint needs besides DeleteEndpoint: DeleteEndpoint
    deregisters the variant's scalable target as the caller and fails without this right (SageMaker
    Developer Guide, "Delete endpoints configured for auto scaling"). The target's ARN is an opaque id
    unknown before registration (Service Authorization Reference), hence "*" — with no condition key, as
    it is not documented which the implicit deregistration carries."""
    if want is None or want.autoscaling is None:
        return []
    return [{"Sid": "DeregisterItsScalableTarget", "Effect": "Allow",
             "Action": "application-autoscaling:DeregisterScalableTarget", "Resource": "*"}]


def keeps_counts(dep: DeploymentState) -> bool:
    """An UpdateEndpoint keeps the instance count Application Auto Scaling set while the target is
    registered (an update that changes the instance type deregisters it first, so that one starts over)."""
    return KIND in dep.records


def applies(config: Config, state: State | None) -> bool:
    """Its rights are in the policy when a deployment uses it, or the state still has a target to remove."""
    return any(d.autoscaling for d in config.deployments.values()) or bool(
        state and any(KIND in d.records for d in state.deployments.values()))


@dataclass(frozen=True)
class Scaling(Spec):
    """`name` is the scalable target's ResourceId (endpoint/<endpoint>/variant/variant-1)."""

    min_instances: int = 0
    max_instances: int = 0
    target: int = 0  # invocations per instance per minute
    scale_in_cooldown: int = 600  # seconds
    scale_out_cooldown: int = 60
    instance_type: str = ""  # the endpoint's, once this plan is done

    def settings(self) -> tuple[int, ...]:
        return (self.min_instances, self.max_instances, self.target, self.scale_in_cooldown, self.scale_out_cooldown)


def _bounds(s: Scaling | ScalingRecord) -> str:
    return (f"{s.min_instances}-{s.max_instances} instances, {s.target} invocations/instance/min, cooldown in "
            f"{durations.human(s.scale_in_cooldown)} / out {durations.human(s.scale_out_cooldown)}")


def _range(ctx: Planning, itype: str, s: Scaling) -> str:
    """The estimated $/h from the minimum to the maximum instance count."""
    assert ctx.config is not None
    low, high = (prices.cost(itype, n, ctx.config.region, ctx.config.settings.prices)
                 for n in (s.min_instances, s.max_instances))
    return f"; est. {prices.money(low)}-{prices.money(high)}" if low is not None and high is not None else ""


def plan(ctx: Planning) -> None:
    for p in ctx.deployments.values():
        want, have = p.want.autoscaling, record(p.have) if p.have else None
        gone = Scaling(have.resource_id) if have else None
        if gone is not None and (want is None or not p.running):
            why = "stop: the endpoint goes" if not p.running else "autoscaling removed"
            ctx.add("delete", gone, p.name, reason=why)
            continue
        if want is None or not p.running or p.stop_now:
            continue  # (stop_now: the endpoint is deleted by this plan, which deregisters its target)
        spec = _spec(p.want, p.endpoint_name)
        endpoint = {a.verb for a in ctx.actions if a.deployment == p.name and isinstance(a.spec, Endpoint)}
        if not endpoint & {"create", "replace"} and ctx.observed.endpoint(p.endpoint_name) is None:
            continue  # no endpoint to scale (off by its office hours): registered once it runs
        moving = bool(endpoint & {"create", "replace", "update"}) or any(
            ep.lower() == p.endpoint_name.lower() for _, ep in ctx.wait_for)
        phase: Phase = "after_wait" if moving else "apply"  # the variant must exist and be InService
        seen = ctx.observed.kinds.get(KIND)
        # An UpdateEndpoint to another instance type is refused while the variant is a scalable target,
        # registered as recorded or as AWS reports (a run killed before it recorded the registration).
        retype = "update" in endpoint and (have is None or have.instance_type != p.want.instance_type)
        registered = gone is not None or (seen is not None and spec.name.lower() in seen)
        missing = have is not None and have.created and seen is not None and have.resource_id.lower() not in seen
        if retype and registered:
            ctx.add("delete", gone or Scaling(spec.name), p.name,
                    reason="SageMaker refuses a new instance type for a scalable variant")
        if missing and p.settling and not endpoint & {"create", "replace"}:
            continue  # started by a schedule moments ago: the schedules that follow it register it
        if have is None or not have.created or retype or endpoint & {"create", "replace"} or missing:
            why = "missing in AWS" if missing else ""
            ctx.add("create", spec, p.name, phase,
                    reason=why or _bounds(spec) + _range(ctx, p.want.instance_type, spec))
        elif (have.min_instances, have.max_instances, have.target, have.scale_in_cooldown,
              have.scale_out_cooldown) != spec.settings():
            ctx.add("update", spec, p.name, phase,
                    reason=f"{_bounds(have)} → {_bounds(spec)}" + _range(ctx, p.want.instance_type, spec))
        elif seen is not None and seen.get(have.resource_id.lower()) not in (None, (spec.min_instances,
                                                                                  spec.max_instances)):
            ctx.add("update", spec, p.name, phase, reason="bounds changed outside esmctl: "
                    f"{seen[have.resource_id.lower()][0]}-{seen[have.resource_id.lower()][1]} instances")
    for name, (dep, why) in ctx.removed.items():
        rec = record(dep)
        if rec is not None:
            ctx.add("delete", Scaling(rec.resource_id), name, reason=why)


def _requests(s: Scaling) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters of RegisterScalableTarget and PutScalingPolicy for the spec."""
    where = {"ServiceNamespace": NAMESPACE, "ResourceId": s.name, "ScalableDimension": DIMENSION}
    return ({**where, "MinCapacity": s.min_instances, "MaxCapacity": s.max_instances},
            {**where, "PolicyName": POLICY_NAME, "PolicyType": "TargetTrackingScaling",
             "TargetTrackingScalingPolicyConfiguration": {
                 "TargetValue": float(s.target), "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
                 "ScaleInCooldown": s.scale_in_cooldown, "ScaleOutCooldown": s.scale_out_cooldown}})


def _spec(want: Any, endpoint: str) -> Scaling:
    a = want.autoscaling
    return Scaling(resource_id(endpoint), a.min_instances, a.max_instances, a.target_invocations_per_instance,
                   a.scale_in_seconds, a.scale_out_seconds, want.instance_type)


# --- after an endpoint is created outside esmctl (office hours' start schedule) ----------------------
# Deleting the endpoint at the end of its hours deregisters its target (and the policy with it), so the
# endpoint the start schedule creates is registered again by two more schedules (office_hours.py asks
# these hooks): RegisterScalableTarget, then PutScalingPolicy, long enough after the start for a typical
# ESM endpoint (10-15 minutes) to be InService. A call that fails (the endpoint still Creating) is retried
# by EventBridge Scheduler under the schedule's RetryPolicy (by default for 24 hours; EventBridge
# Scheduler User Guide, "Configuring a dead-letter queue" / RetryPolicy) — and any later esmctl command
# registers it too ("missing in AWS").
AFTER_START = (("register", 30), ("policy", 32))  # (name, minutes after the start)
_UNIVERSAL = {"register": "applicationautoscaling:registerScalableTarget",
              "policy": "applicationautoscaling:putScalingPolicy"}


def after_start(want: Any, endpoint: str) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(name, minutes after the start, universal target "service:apiAction", its Input) of each call
    that must follow a start of the endpoint made by a schedule; [] when it does not autoscale."""
    if want is None or want.autoscaling is None:
        return []
    requests = dict(zip(("register", "policy"), _requests(_spec(want, endpoint)), strict=True))
    return [(name, minutes, _UNIVERSAL[name], requests[name]) for name, minutes in AFTER_START]


def after_start_rights(want: Any, region: str, account: str, partition: str, endpoint: str,
                       config_name: str) -> list[dict[str, Any]]:
    """What the role making those calls needs: the two calls (Resource "*": a target's ARN is an opaque
    id unknown before registration), and what Application Auto Scaling does as the
    caller (SageMaker Developer Guide, "Auto scaling prerequisites"; CloudWatch alarms of target tracking;
    the service-linked role, created by an account's first registration)."""
    if want is None or want.autoscaling is None:
        return []
    arn = naming.sagemaker_arn(region, account, "endpoint", endpoint)
    return [
        {"Sid": "RegisterItsVariant", "Effect": "Allow",  # no condition key: not verified for these calls
         "Action": ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy"],
         "Resource": "*"},
        {"Sid": "AsTheCallerOfAutoScaling", "Effect": "Allow",
         "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
                    "sagemaker:UpdateEndpointWeightsAndCapacities"],
         "Resource": [arn, naming.sagemaker_arn(region, account, "endpoint-config", config_name)]},
        {"Sid": "TargetTrackingAlarms", "Effect": "Allow",
         "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
         "Resource": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:TargetTracking*"},
        {"Sid": "AutoScalingServiceLinkedRole", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": f"arn:{partition}:iam::{account}:role/aws-service-role/{SLR_PATH}",
         "Condition": {"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}}},
    ]


# --- handlers ------------------------------------------------------------------------------------
@handler("create", Scaling, action="create_scaling", symbol="+", resource="autoscaling of", order=45, iam=_PUT)
def create(run: Run, a: Action) -> None:
    """Register the target and put its policy (both upserts: also the update in place)."""
    s = a.spec
    assert isinstance(s, Scaling)
    rec = ScalingRecord(resource_id=s.name, policy_name=POLICY_NAME, min_instances=s.min_instances,
                        max_instances=s.max_instances, target=s.target, scale_in_cooldown=s.scale_in_cooldown,
                        scale_out_cooldown=s.scale_out_cooldown, instance_type=s.instance_type)
    with run.store.change() as st:
        st.deployments[a.deployment].records[KIND] = rec.model_dump()  # recorded before the calls
    api = run.aws.api(SERVICE)
    register, policy = _requests(s)
    api.call("RegisterScalableTarget", s.name, **register)
    api.call("PutScalingPolicy", s.name, **policy)
    with run.store.change() as st:
        st.deployments[a.deployment].records[KIND]["created"] = True
    _arm_stop_timer(run, a.deployment)


def _arm_stop_timer(run: Run, deployment: str) -> None:
    """A stop timer set before the endpoint autoscaled must be allowed to deregister its target too, or its
    DeleteEndpoint is refused when it fires (and the endpoint keeps billing): its role's policy again."""
    from esmctl.resources import stop_timer

    dep = run.store.state.deployments[deployment]
    timer, want = dep.stop_schedule, run.config.deployments.get(deployment) if run.config else None
    if timer is None or not timer.created or timer.fired or dep.endpoint is None or run.config is None:
        return
    run.aws.iam.put_role_policy(timer.role_name, stop_timer.POLICY_NAME, stop_timer.delete_policy(
        run.config.region, run.aws.account_id(), dep.endpoint.name, delete_rights(want)))


handler("update", Scaling, action="update_scaling", symbol="~", resource="autoscaling of", order=46,
        iam=_PUT)(create)


@handler("delete", Scaling, action="delete_scaling", symbol="-", resource="autoscaling of", order=35,
         iam={"application-autoscaling:DeleteScalingPolicy": "any",
              "application-autoscaling:DeregisterScalableTarget": "any", "cloudwatch:DeleteAlarms": "scaling-alarms"})
def delete(run: Run, a: Action) -> None:
    """Delete the policy and deregister the target; what is already gone (deleting the endpoint
    deregisters it) is done."""
    where = {"ServiceNamespace": NAMESPACE, "ResourceId": a.name, "ScalableDimension": DIMENSION}
    api = run.aws.api(SERVICE)
    for op, extra in (("DeleteScalingPolicy", {"PolicyName": POLICY_NAME}), ("DeregisterScalableTarget", {})):
        try:
            api.call(op, a.name, **where, **extra)
        except NotFound:
            pass
    with run.store.change() as st:
        dep = st.deployments.get(a.deployment)
        rec = record(dep) if dep is not None else None
        if dep is not None and rec is not None and rec.resource_id == a.name:
            del dep.records[KIND]


# --- observation (hooks: what lands in Observed.kinds["scaling"]) ----------------------------------
class Targets(dict[str, tuple[int, int]]):
    """Every SageMaker variant's scalable target: lower ResourceId → (min, max); `counts`: each
    autoscaled endpoint that exists, lower name → (current, desired) instance count (DescribeEndpoint's
    ProductionVariants CurrentInstanceCount / DesiredInstanceCount)."""

    counts: dict[str, tuple[int, int]]

    def __init__(self, targets: dict[str, tuple[int, int]], counts: dict[str, tuple[int, int]] | None = None) -> None:
        super().__init__(targets)
        self.counts = counts or {}


def observe(aws: Any, config: Config | None, state: State | None) -> Targets | None:
    """The account's SageMaker scalable targets and the instance counts of the endpoints esmctl scales;
    None (not read) when no deployment uses autoscaling or has a target recorded."""
    if not ((config and any(d.autoscaling for d in config.deployments.values()))
            or (state and any(KIND in d.records for d in state.deployments.values()))):
        return None
    targets = {t["ResourceId"].lower(): (int(t["MinCapacity"]), int(t["MaxCapacity"]))
               for t in aws.api(SERVICE).pages("DescribeScalableTargets", "ScalableTargets",
                                               ServiceNamespace=NAMESPACE, ScalableDimension=DIMENSION)}
    counts = {}
    for dep in state.deployments.values() if state else []:
        if dep.endpoint is not None and dep.endpoint.created and KIND in dep.records:
            d = aws.sagemaker.describe_endpoint(dep.endpoint.name)
            variant = next(iter((d or {}).get("ProductionVariants") or []), None)
            if variant is not None and "CurrentInstanceCount" in variant:
                current = int(variant["CurrentInstanceCount"])
                counts[dep.endpoint.name.lower()] = (current, int(variant.get("DesiredInstanceCount", current)))
    return Targets(targets, counts)


def from_state(state: State | None) -> Targets | None:
    """What the state records as registered (plan without refresh)."""
    if state is None:
        return None
    recs = [r for r in map(record, state.deployments.values()) if r is not None and r.created]
    return Targets({r.resource_id.lower(): (r.min_instances, r.max_instances) for r in recs})


def status_fields(dep: DeploymentState | None, want: Any, observed: Any, now: Any) -> dict[str, Any]:
    """`autoscaling` of a status row: the bounds and target, and the endpoint's current and desired
    instance count when it was read."""
    rec = record(dep) if dep is not None else None
    if rec is None:
        return {}
    seen = observed.kinds.get(KIND)
    counts = getattr(seen, "counts", {}).get(dep.endpoint.name.lower()) if dep and dep.endpoint else None
    return {"autoscaling": {"min_instances": rec.min_instances, "max_instances": rec.max_instances,
                            "target_invocations_per_instance": rec.target, "registered": rec.created,
                            "current_instances": counts[0] if counts else None,
                            "desired_instances": counts[1] if counts else None}}
