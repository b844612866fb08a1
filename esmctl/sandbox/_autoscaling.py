"""Application Auto Scaling for SageMaker endpoint variants, as AWS runs it (moto 5.2.5 does not).

Imported only by `patching.apply_patches()` (it imports moto). Registrations and policies stay in
moto's backend (`applicationautoscaling_backends`); the patches add what AWS does and moto does not.
Served on the sandbox's one URL: botocore's service "application-autoscaling" (signing name and
endpoint prefix "application-autoscaling", JSON 1.1, `X-Amz-Target: AnyScaleFrontendService.<Op>`).

RegisterScalableTarget (namespace `sagemaker`, `sagemaker:variant:DesiredInstanceCount`,
ResourceId `endpoint/<EndpointName>/variant/<VariantName>`):
- the endpoint and its variant must exist: moto registers any name (a third party's run against real
  AWS: "Real Application Auto Scaling answers ValidationException for a table that does not exist",
  glensouza/flocilab; for SageMaker the wording is the sandbox's own, `NO_SUCH_VARIANT`);
- a variant on a burstable instance is refused: "You cannot register a variant with ml.t2.medium
  instance type as a scalable target. This is because the burstable performance of these instances
  can lead to unpredictable behavior with Auto Scaling." (AWS's answer, quoted from a run on
  2026-07-30 in a course's grading guide; applied here to ml.t2.* and ml.t3.*);
- MinCapacity and MaxCapacity: "This property is required when registering a new scalable target";
  for SageMaker endpoint variants "the minimum value allowed is 0" (RegisterScalableTarget API
  reference); a minimum above the maximum is a ValidationException (flocilab, above). The wording of
  these three refusals is the sandbox's own. Registering again updates only what is given ("Any
  parameters that you don't specify are not changed by this update request");
- "If the specified resource is not active in the target service, this operation does not change the
  resource's current capacity. Otherwise, it changes the resource's current capacity to a value that
  is inside of this range" (same page): an InService variant outside the new range is scaled into it;
- RoleARN: "If the service supports service-linked roles, Application Auto Scaling uses a
  service-linked role, which it creates if it does not yet exist" (same page, RoleARN): the role
  `AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint` (path
  `/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/`, Application Auto Scaling User
  Guide, "Amazon SageMaker and Application Auto Scaling") is created in IAM on the first registration
  and every SageMaker target reports it. The caller's iam:CreateServiceLinkedRole is not checked.
- SuspendedState is always reported (all false by default; moto reports null).

PutScalingPolicy: "You cannot create a scaling policy until you have registered the resource as a
scalable target" → `ObjectNotFoundException: No scalable target registered for service namespace:
<ns>, resource ID: <id>, scalable dimension: <dim>` (AWS's wording, from an AWS CLI run quoted for
PutScheduledAction); moto accepts it. A SageMaker variant's target tracking accepts only the variant
metrics ("Scalable dimension sagemaker:variant:DesiredProvisionedConcurrency only supports the
following predefined metric types: ...", AWS's wording quoted in aws/aws-cdk#29065). Target tracking
creates the policy's CloudWatch alarms ("Application Auto Scaling creates and manages the CloudWatch
alarms that invoke the scaling policy", User Guide, "How target tracking scaling works"): here an
AlarmHigh and an AlarmLow named `TargetTracking-<ResourceId>-Alarm{High,Low}-<uuid>` on
AWS/SageMaker InvocationsPerInstance (their thresholds and periods are the sandbox's). Putting a policy
again updates it in place: same PolicyARN (moto makes a new one), its alarms replaced.

Not found (DeleteScalingPolicy, DeregisterScalableTarget): `ObjectNotFoundException` — "For any
operation that deletes or deregisters a resource, this exception is thrown if the resource cannot be
found" (botocore application-autoscaling service-2.json); moto answers ValidationException. The
messages are moto's. DeregisterScalableTarget "deletes the scaling policies and the scheduled actions
that are associated with it" (API reference); moto keeps them. DescribeScalingPolicies honours
PolicyNames and matches ResourceId exactly; DescribeScalableTargets pages with NextToken correctly.

SageMaker with registered variants:
- UpdateEndpoint "would change the instance type for any model that is a target for auto scaling,
  the update fails ... If you are trying to update the endpoint by calling the UpdateEndpoint API,
  the call fails"; so does removing such a variant (steps 1 and 7 are needed when "Changing the
  instance type for a production variant configured for auto scaling" or "Removing a production
  variant configured for auto scaling"); changing the model or only the instance count is allowed
  (SageMaker Developer Guide, "Update endpoints that use auto scaling"). The refusal is a
  ValidationException; its wording (`UPDATE_REFUSED`) is the sandbox's own (AWS's is not published).
- DeleteEndpoint: "Application Auto Scaling checks to see whether any of the models on that endpoint
  are targets for auto scaling. If any are and you have permission to deregister the model,
  Application Auto Scaling deregisters those models as scalable targets without notifying you. If
  you use a custom permission policy that doesn't provide permission for the DeregisterScalableTarget
  action, you must request access to this action before deleting the endpoint" (SageMaker Developer
  Guide, "Delete endpoints configured for auto scaling"; the course grading guide above, from a run
  against AWS: the target, its policies and their alarms were gone within 90 s). So the sandbox
  deregisters them with the endpoint (policies and alarms too), and — with IAM enforcement on
  (server: POST /moto-api/reset-auth `0`) — refuses DeleteEndpoint for a caller without
  application-autoscaling:DeregisterScalableTarget: `DEREGISTER_DENIED`, AWS's message as quoted in
  awslabs/stable-diffusion-aws-extension#161 (its error code is not quoted there:
  ValidationException here). A Scheduler role deleting the endpoint needs the permission too
  (control.py).
- `control.scale_variant(endpoint, desired)`: what a scaling activity does, UpdateEndpointWeightsAndCapacities
  on the variant (the service-linked role's policy AWSApplicationAutoscalingSageMakerEndpointPolicy
  allows sagemaker:UpdateEndpointWeightsAndCapacities), within the target's MinCapacity..MaxCapacity
  ("Application Auto Scaling scaling policies will not scale capacity to values that are outside of
  the minimum and maximum range", RegisterScalableTarget API reference), only while the endpoint is
  InService ("auto scaling is blocked while the update operation is in progress", "Update endpoints
  that use auto scaling").
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

from moto.applicationautoscaling import models as aas_models
from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    FakeScalableTarget,
    applicationautoscaling_backends,
)
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse, _build_policy, _build_target
from moto.core.exceptions import JsonRESTError
from moto.core.responses import EmptyResult
from moto.moto_api._internal import mock_random
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.utils import get_partition
from werkzeug.exceptions import HTTPException

from ._sagemaker import SIDECAR, EndpointState, ensure_name_dicts, refresh, update_capacities, variant_types_of
from .control import find_one, lock
from .patching import original, replace

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
RESOURCE_ID = re.compile(r"^endpoint/(?P<endpoint>[^/]+)/variant/(?P<variant>[^/]+)$")
SERVICE_LINKED_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
SERVICE_LINKED_ROLE = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
BURSTABLE = re.compile(r"^ml\.t[23][a-z]*\.")
# Target tracking metrics a SageMaker variant's DesiredInstanceCount accepts (botocore MetricType enum,
# the SageMakerVariant* ones that track instances; ProvisionedConcurrency is for serverless variants).
VARIANT_METRICS = ("SageMakerVariantInvocationsPerInstance", "SageMakerVariantConcurrentRequestsPerModelHighResolution")
DEFAULT_SUSPENDED_STATE = {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                           "ScheduledScalingSuspended": False}
DEREGISTER_ACTION = "application-autoscaling:DeregisterScalableTarget"
DEREGISTER_DENIED = (
    "An Application AutoScaling scalable target exists for a variant being deleted, and the IAM identity used to "
    "invoke DeleteEndpoint does not have application-autoscaling:DeregisterScalableTarget permission to deregister "
    "the scalable target."
)


class ObjectNotFoundException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


def no_such_variant(endpoint: str, variant: str, account: str, region: str) -> str:
    arn = f"arn:{get_partition(region)}:sagemaker:{region}:{account}:endpoint/{endpoint.lower()}"
    return (f'The endpoint "{arn}" does not exist or has no production variant "{variant}": only an existing '
            "endpoint variant can be registered as a scalable target.")


def update_refused(endpoint_arn: str, variant: str, resource_id: str, change: str) -> str:
    return (f'Cannot update endpoint "{endpoint_arn}": production variant "{variant}" is registered as a scalable '
            f"target with Application Auto Scaling (resource ID {resource_id}) and the update would {change}. "
            "Deregister the scalable target (DeregisterScalableTarget) before the update and register it again after.")


# --------------------------------------------------------------------------------------------
# Looking things up without creating backends (an Application Auto Scaling backend builds an ECS one)


def _aas_backend(account: str, region: str) -> ApplicationAutoscalingBackend | None:
    regions = dict.get(applicationautoscaling_backends, account)
    return dict.get(regions, region) if regions is not None else None


def _variant_of(target: FakeScalableTarget) -> tuple[str, str] | None:
    """(endpoint, variant) of a SageMaker variant's DesiredInstanceCount target; None for anything else."""
    if target.service_namespace != NAMESPACE or target.scalable_dimension != DIMENSION:
        return None
    match = RESOURCE_ID.match(target.resource_id or "")
    return (match["endpoint"], match["variant"]) if match else None


def endpoint_targets(account: str, region: str, endpoint_name: str) -> list[FakeScalableTarget]:
    """The registered DesiredInstanceCount targets of the endpoint's variants (endpoint name in any case)."""
    backend = _aas_backend(account, region)
    if backend is None:
        return []
    wanted = endpoint_name.lower()
    found = []
    for target in list(backend.targets.get(DIMENSION, {}).values()):
        variant = _variant_of(target)
        if variant is not None and variant[0].lower() == wanted:
            found.append(target)
    return found


def deregister_endpoint_targets(account: str, region: str, endpoint_name: str) -> None:
    """DeleteEndpoint: Application Auto Scaling deregisters the endpoint's targets (policies included)."""
    backend = _aas_backend(account, region)
    for target in endpoint_targets(account, region, endpoint_name):
        assert backend is not None
        backend.deregister_scalable_target(target.service_namespace, target.resource_id, target.scalable_dimension)


def _find_sagemaker_endpoint(account: str, region: str, name: str) -> tuple[SageMakerModelBackend, FakeEndpoint] | None:
    regions = dict.get(sagemaker_backends, account)
    backend = dict.get(regions, region) if regions is not None else None
    if backend is None:
        return None
    ensure_name_dicts(backend)
    endpoint = backend.endpoints.get(name)
    endpoint = refresh(backend, endpoint) if endpoint is not None else None
    return (backend, endpoint) if endpoint is not None else None


def _variant_types(
    backend: SageMakerModelBackend, endpoint: FakeEndpoint, state: EndpointState | None
) -> dict[str, str]:
    """Variant name → instance type of what the endpoint runs now."""
    if state is not None and state.variant_types:
        return state.variant_types
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    return variant_types_of(config.production_variants) if config is not None else {}


# --------------------------------------------------------------------------------------------
# Application Auto Scaling backend


def _register_scalable_target(
    self: ApplicationAutoscalingBackend,
    namespace: str,
    r_id: str,
    dimension: str,
    min_capacity: int | None,
    max_capacity: int | None,
    role_arn: str,
    suspended_state: Any,
) -> FakeScalableTarget:
    with lock:
        existing = self.targets.get(dimension, {}).get(r_id)
        sagemaker = namespace == NAMESPACE and dimension == DIMENSION
        found = None
        if sagemaker:
            aas_models._target_params_are_valid(namespace, r_id, dimension)
            match = RESOURCE_ID.match(r_id or "")
            found = _find_sagemaker_endpoint(self.account_id, self.region_name, match["endpoint"]) if match else None
            endpoint_name, variant = (match["endpoint"], match["variant"]) if match else (r_id, "")
            variants = {str(v.get("VariantName")) for v in (found[1].production_variants or [])} if found else set()
            if found is None or variant not in variants:
                raise AWSValidationException(no_such_variant(endpoint_name, variant, self.account_id, self.region_name))
            instance_type = _variant_types(found[0], found[1], found[1].__dict__.get(SIDECAR)).get(variant)
            if instance_type and BURSTABLE.match(instance_type):
                raise AWSValidationException(
                    f"You cannot register a variant with {instance_type} instance type as a scalable target. This is "
                    "because the burstable performance of these instances can lead to unpredictable behavior with "
                    "Auto Scaling.")
            if existing is None and (min_capacity is None or max_capacity is None):
                raise AWSValidationException(
                    "MinCapacity and MaxCapacity are required when registering a new scalable target.")
            low = min_capacity if min_capacity is not None else existing.min_capacity if existing else None
            high = max_capacity if max_capacity is not None else existing.max_capacity if existing else None
            if low is not None and low < 0:
                raise AWSValidationException(f"MinCapacity must be at least 0 for {dimension}, got {low}.")
            if low is not None and high is not None and low > high:
                raise AWSValidationException(
                    f"Minimum capacity ({low}) cannot be greater than maximum capacity ({high}).")
            role_arn = _service_linked_role(self.account_id, self.region_name)
        target: FakeScalableTarget = original(ApplicationAutoscalingBackend, "register_scalable_target")(
            self, namespace, r_id, dimension, min_capacity=min_capacity, max_capacity=max_capacity,
            role_arn=role_arn, suspended_state=suspended_state,
        )
        if target.suspended_state is None:
            target.suspended_state = dict(DEFAULT_SUSPENDED_STATE)
        if sagemaker and found is not None:
            target.role_arn = role_arn
            _bring_into_range(found[0], found[1], target)
        return target


def _service_linked_role(account: str, region: str) -> str:
    """The service-linked role Application Auto Scaling uses for SageMaker, created on first use."""
    from moto.iam.models import iam_backends

    partition = get_partition(region)
    iam = iam_backends[account][partition]
    path = f"/aws-service-role/{SERVICE_LINKED_SERVICE}/"
    arn = f"arn:{partition}:iam::{account}:role{path}{SERVICE_LINKED_ROLE}"
    if not any(role.name == SERVICE_LINKED_ROLE for role in list(iam.roles.values())):
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": SERVICE_LINKED_SERVICE}, "Action": "sts:AssumeRole"}]}
        iam.create_role(SERVICE_LINKED_ROLE, json.dumps(trust), path, permissions_boundary=None,
                        description="", tags=[], max_session_duration="3600", linked_service=SERVICE_LINKED_SERVICE)
    return arn


def _bring_into_range(backend: SageMakerModelBackend, endpoint: FakeEndpoint, target: FakeScalableTarget) -> None:
    """An InService variant whose desired count is outside the target's range is scaled into it."""
    variant = _variant_of(target)
    if variant is None or endpoint.endpoint_status != "InService":
        return
    for summary in endpoint.production_variants or []:
        if summary.get("VariantName") != variant[1] or summary.get("DesiredInstanceCount") is None:
            continue
        count = int(summary["DesiredInstanceCount"])
        wanted = min(max(count, target.min_capacity or 0), target.max_capacity if target.max_capacity is not None
                     else count)
        if wanted != count:
            update_capacities(backend, endpoint.endpoint_name, [{"VariantName": variant[1],
                                                                 "DesiredInstanceCount": wanted}])


def _target(backend: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str,
            said: str) -> FakeScalableTarget:
    """The registered target, or ObjectNotFoundException worded as the API says it ("No scalable target
    found|registered for …")."""
    target = backend.targets.get(dimension, {}).get(r_id)
    if target is None or target.service_namespace != namespace:
        raise ObjectNotFoundException(f"No scalable target {said} for service namespace: {namespace}, resource ID: "
                                      f"{r_id}, scalable dimension: {dimension}")
    return target


def _deregister_scalable_target(self: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str) -> None:
    with lock:
        _target(self, namespace, r_id, dimension, "found")
        ident = (namespace, r_id, dimension)
        for key, policy in list(self.policies.items()):
            if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == ident:
                _delete_alarms(policy)
                del self.policies[key]
        self.scheduled_actions = [
            a for a in self.scheduled_actions
            if (a.service_namespace, a.resource_id, a.scalable_dimension) != ident
        ]
        del self.targets[dimension][r_id]


def _put_scaling_policy(
    self: ApplicationAutoscalingBackend,
    policy_name: str,
    service_namespace: str,
    resource_id: str,
    scalable_dimension: str,
    policy_body: dict[str, Any],
    policy_type: str | None,
) -> FakeApplicationAutoscalingPolicy:
    with lock:
        target = _target(self, service_namespace, resource_id, scalable_dimension, "registered")
        sagemaker = _variant_of(target) is not None
        if sagemaker and policy_type == "TargetTrackingScaling":
            metric = ((policy_body or {}).get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            if metric is not None and metric not in VARIANT_METRICS:
                raise AWSValidationException(
                    f"Scalable dimension {scalable_dimension} only supports the following predefined metric types: "
                    f"{', '.join(VARIANT_METRICS)}")
        key = FakeApplicationAutoscalingPolicy.formulate_key(service_namespace, resource_id, scalable_dimension,
                                                             policy_name)
        old = self.policies.get(key)
        policy: FakeApplicationAutoscalingPolicy = original(ApplicationAutoscalingBackend, "put_scaling_policy")(
            self, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type)
        if old is not None:  # an update: same policy, same ARN; its alarms are made again
            _delete_alarms(old)
            policy.policy_arn, policy.creation_time = old.policy_arn, old.creation_time
        if sagemaker and policy.policy_type == "TargetTrackingScaling":
            policy.alarms.extend(_variant_alarms(policy))
        return policy


def _variant_alarms(policy: FakeApplicationAutoscalingPolicy) -> list[Any]:
    """The two alarms Application Auto Scaling makes for a variant's target-tracking policy."""
    from moto.cloudwatch.models import cloudwatch_backends

    variant = RESOURCE_ID.match(policy.resource_id)
    config = policy.target_tracking_scaling_policy_configuration or {}
    if variant is None or "CustomizedMetricSpecification" in config:
        return []
    cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
    target_value = float(config.get("TargetValue") or 0)
    action = f"{policy.policy_arn}:createdBy/{mock_random.uuid4()}"
    dimensions = [{"Name": "EndpointName", "Value": variant["endpoint"]},
                  {"Name": "VariantName", "Value": variant["variant"]}]
    alarms = []
    for side, operator, periods, threshold in (("AlarmHigh", "GreaterThanThreshold", 3, target_value),
                                               ("AlarmLow", "LessThanThreshold", 15, target_value * 0.9)):
        alarms.append(cloudwatch.put_metric_alarm(
            name=f"TargetTracking-{policy.resource_id}-{side}-{mock_random.uuid4()}",
            namespace="AWS/SageMaker", metric_name="InvocationsPerInstance", comparison_operator=operator,
            evaluation_periods=periods, period=60, threshold=threshold, statistic="Sum",
            description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {action}.",
            dimensions=dimensions, alarm_actions=[action],
        ))
    return alarms


def _delete_alarms(policy: FakeApplicationAutoscalingPolicy) -> None:
    if policy.alarms:
        policy.delete_alarms(policy.account_id, policy.region_name)
        policy.alarms = []


def _delete_scaling_policy(
    self: ApplicationAutoscalingBackend, policy_name: str, service_namespace: str, resource_id: str,
    scalable_dimension: str,
) -> None:
    with lock:
        key = FakeApplicationAutoscalingPolicy.formulate_key(service_namespace, resource_id, scalable_dimension,
                                                             policy_name)
        policy = self.policies.get(key)
        if policy is None:
            raise ObjectNotFoundException(
                f"No scaling policy found for service namespace: {service_namespace}, resource ID: {resource_id}, "
                f"scalable dimension: {scalable_dimension}, policy name: {policy_name}")
        _delete_alarms(policy)
        del self.policies[key]


def _describe_scaling_policies(
    self: ApplicationAutoscalingBackend,
    service_namespace: str,
    resource_id: str,
    scalable_dimension: str,
    max_results: int | None,
    next_token: str,
    policy_names: list[str] | None = None,
) -> tuple[str | None, list[FakeApplicationAutoscalingPolicy]]:
    """Exact ResourceId/ScalableDimension matches (moto matches substrings) and PolicyNames (moto ignores it)."""
    with lock:
        policies = [p for p in self.policies.values() if p.service_namespace == service_namespace
                    and (not resource_id or p.resource_id == resource_id)
                    and (not scalable_dimension or p.scalable_dimension == scalable_dimension)
                    and (not policy_names or p.policy_name in policy_names)]
        start = int(next_token) if next_token else 0
        end = start + (max_results or 10)  # DescribeScalingPolicies' MaxResults default is 10 (API reference)
        return (str(end) if end < len(policies) else None), policies[start:end]


# --------------------------------------------------------------------------------------------
# Application Auto Scaling responses


def _response_describe_scalable_targets(self: ApplicationAutoScalingResponse) -> str:
    """DescribeScalableTargets with a NextToken that pages (moto's points back into the first page)."""
    self._validate_params()
    with lock:
        targets = self.applicationautoscaling_backend.describe_scalable_targets(
            self._get_param("ServiceNamespace"), self._get_param("ResourceIds"), self._get_param("ScalableDimension"))
        size = self._get_int_param("MaxResults") or 50  # the API's default page size
        token = self._get_param("NextToken")
        start = int(token) if token and str(token).isdigit() else 0
        page = targets[start:start + size]
        body: dict[str, Any] = {"ScalableTargets": [_build_target(t) for t in page]}
        if start + size < len(targets):
            body["NextToken"] = str(start + size)
        return json.dumps(body)


def _response_describe_scaling_policies(self: ApplicationAutoScalingResponse) -> str:
    self._validate_params()
    backend: Any = self.applicationautoscaling_backend  # describe_scaling_policies takes policy_names here
    next_token, page = backend.describe_scaling_policies(
        service_namespace=self._get_param("ServiceNamespace"),
        resource_id=self._get_param("ResourceId"),
        scalable_dimension=self._get_param("ScalableDimension"),
        max_results=self._get_int_param("MaxResults"),
        next_token=self._get_param("NextToken"),
        policy_names=self._get_param("PolicyNames"),
    )
    body: dict[str, Any] = {"ScalingPolicies": [_build_policy(p) for p in page]}
    if next_token:
        body["NextToken"] = next_token
    return json.dumps(body)


# --------------------------------------------------------------------------------------------
# SageMaker: UpdateEndpoint and DeleteEndpoint of variants with registered targets


def check_update_endpoint(
    backend: SageMakerModelBackend, endpoint: FakeEndpoint, state: EndpointState, new_variants: list[dict[str, Any]]
) -> None:
    """UpdateEndpoint fails when it would change the instance type of, or remove, a registered variant."""
    targets = endpoint_targets(backend.account_id, backend.region_name, endpoint.endpoint_name)
    if not targets:
        return
    current = _variant_types(backend, endpoint, state)
    new = {str(v.get("VariantName")): v.get("InstanceType") for v in new_variants}
    for target in targets:
        variant = _variant_of(target)
        assert variant is not None
        name = variant[1]
        if name not in new:
            change = "remove that variant"
        elif name in current and new[name] != current[name]:
            change = f"change its instance type from {current[name]} to {new[name]}"
        else:
            continue
        raise SageMakerValidationError(update_refused(endpoint.arn, name, target.resource_id, change))


def _caller_allowed(response: Any, action: str, resource: str) -> bool:
    """Whether the caller of this request may also do `action` on `resource`, as moto's IAM enforcement
    would decide (always true while enforcement is off, as in moto by default)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return True
    parsed = urlparse(response.uri)
    path = response.raw_path + (f"?{parsed.query}" if parsed.query else "")
    try:
        request = IAMRequest(account_id=response.current_account, method=response.method, path=path,
                             data=response.data, body=response.raw_body, headers=response.headers,
                             action=response._get_action())
        request._action = action
        request.check_action_permitted(resource)
    except HTTPException:
        return False
    return True


def _response_delete_endpoint(self: SageMakerResponse) -> EmptyResult:
    """DeleteEndpoint: refused when a variant is a scalable target the caller may not deregister."""
    name = self._get_param("EndpointName")
    with lock:
        targets = endpoint_targets(self.current_account, self.region, str(name or ""))
        if any(not _caller_allowed(self, DEREGISTER_ACTION, t.arn) for t in targets):
            raise SageMakerValidationError(DEREGISTER_DENIED)
    self.sagemaker_backend.delete_endpoint(name)
    return EmptyResult()


# --------------------------------------------------------------------------------------------
# control.scale_variant


def scale_variant(endpoint_name: str, desired: int, variant: str, account: str | None, region: str | None) -> str:
    """What Application Auto Scaling does when a policy scales the variant to `desired` instances:
    UpdateEndpointWeightsAndCapacities, within the target's range, only while InService. Returns the
    endpoint's ARN; ValueError when Application Auto Scaling would not (or could not) do it."""
    with lock:
        acct, reg, _, (backend, endpoint) = find_one(
            sagemaker_backends, account, region, lambda a, r, _b: _find_sagemaker_endpoint(a, r, endpoint_name),
            f"endpoint {endpoint_name!r}")
        target = next((t for t in endpoint_targets(acct, reg, endpoint.endpoint_name)
                       if (_variant_of(t) or ("", ""))[1] == variant), None)
        if target is None:
            raise ValueError(f"Variant {variant!r} of endpoint {endpoint.endpoint_name!r} is not a registered scalable "
                             "target: Application Auto Scaling scales only registered variants")
        low, high = target.min_capacity, target.max_capacity
        if (low is not None and desired < low) or (high is not None and desired > high):
            raise ValueError(f"{desired} instances is outside the scalable target's range {low}..{high}: Application "
                             "Auto Scaling never scales outside it")
        if endpoint.endpoint_status != "InService":
            raise ValueError(f"Endpoint {endpoint.endpoint_name!r} is {endpoint.endpoint_status}: auto scaling waits "
                             "until it is InService")
        update_capacities(backend, endpoint.endpoint_name, [{"VariantName": variant, "DesiredInstanceCount": desired}])
        return str(endpoint.arn)


def install() -> None:
    replace(ApplicationAutoscalingBackend, "register_scalable_target", _register_scalable_target)
    replace(ApplicationAutoscalingBackend, "deregister_scalable_target", _deregister_scalable_target)
    replace(ApplicationAutoscalingBackend, "put_scaling_policy", _put_scaling_policy)
    replace(ApplicationAutoscalingBackend, "delete_scaling_policy", _delete_scaling_policy)
    replace(ApplicationAutoscalingBackend, "describe_scaling_policies", _describe_scaling_policies)
    replace(ApplicationAutoScalingResponse, "describe_scalable_targets", _response_describe_scalable_targets)
    replace(ApplicationAutoScalingResponse, "describe_scaling_policies", _response_describe_scaling_policies)
    replace(SageMakerResponse, "delete_endpoint", _response_delete_endpoint)
