"""SageMaker patches: make moto's models, endpoint configs and endpoints behave like SageMaker's.

Imported only by `patching.apply_patches()` (it imports moto). Each patch names the real-AWS
behaviour it reproduces and where AWS documents it; docs/aws-behaviour.md lists them all.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import SagemakerClientError, ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, Model, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter as moto_arn_formatter

from ._consistency import role_assumable, sagemaker_cannot_assume
from .control import ROLLBACK_FAILURE_REASON, control, lock
from .patching import original, replace

T = TypeVar("T")

# Endpoint statuses in which SageMaker refuses UpdateEndpoint/DeleteEndpoint.
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
# Endpoint statuses in which an endpoint serves InvokeEndpoint (an update keeps the old fleet serving;
# UpdateRollbackFailed: "Your endpoint is in service with a mix of the old and new endpoint
# configurations", DescribeEndpoint API reference, EndpointStatus).
SERVING = frozenset({"InService", "Updating", "SystemUpdating", "UpdateRollbackFailed"})
# Endpoint statuses from which UpdateEndpoint starts (UpdateRollbackFailed: updating again is how
# SageMaker's "Rolling Deployments" guide restores InService).
UPDATABLE = frozenset({"InService", "UpdateRollbackFailed"})
DEFAULT_PAGE_SIZE = 10  # SageMaker's List* default MaxResults
MAX_PAGE_SIZE = 100
# SageMaker lowercases the resource name in these ARNs (the rest of SageMaker is left as moto has it).
LOWERCASE_ARN_TYPES = frozenset({"model", "endpoint-config", "endpoint"})
# ml.<family>.<size>: ml.g5.2xlarge, ml.g6e.xlarge, ml.p4d.24xlarge, ml.inf2.48xlarge, ml.p6-b200.48xlarge ...
# Only used when botocore's ProductionVariantInstanceType enum cannot be loaded (see instance_types).
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+$")
CONFIG_CREATED = "_esmctl_config_created"  # on a backend: lowercase config name → time.monotonic() of its creation
MODEL_PACKAGE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"model-package/(?P<name>[A-Za-z0-9-]+)(?:/(?P<version>\d+))?$"
)
NOT_SUBSCRIBED = "Caller is not subscribed to the marketplace offering."
SIDECAR = "_esmctl_sandbox"  # attribute holding the sandbox's bookkeeping on a FakeEndpoint


class ResourceLimitExceeded(SagemakerClientError):
    code = "ResourceLimitExceeded"


# --------------------------------------------------------------------------------------------
# Names are unique case-insensitively (SageMaker: "The name is case-insensitive in CreateEndpoint")


class NameDict(dict[str, Any]):
    """moto's name → resource dict, keyed case-insensitively (keys are stored lowercased).

    Describe/Delete/tag lookups then find `Endpoint-ESMC-300M-1-2df2c3dd` by any spelling, in
    particular by the lowercase name inside its ARN, and duplicates differing in case collide.
    """

    def __init__(self, items: dict[str, Any] | None = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            self[key] = value

    @staticmethod
    def _key(key: Any) -> Any:
        return key.lower() if isinstance(key, str) else key

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(self._key(key))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(self._key(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(self._key(key), default)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        return super().pop(self._key(key), *default)

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().setdefault(self._key(key), default)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def ensure_name_dicts(backend: SageMakerModelBackend) -> None:
    """Turn the backend's model/config/endpoint dicts into NameDicts (also for pre-patch backends)."""
    for attribute in ("_models", "endpoint_configs", "endpoints"):
        current = getattr(backend, attribute)
        if not isinstance(current, NameDict):
            setattr(backend, attribute, NameDict(current))


def sagemaker_arn(kind: str, name: str, account_id: str, region_name: str) -> str:
    """The ARN SageMaker gives a resource: `arn:aws:sagemaker:REGION:ACCOUNT:KIND/lowercased-name`."""
    return moto_arn_formatter(kind, name.lower() if kind in LOWERCASE_ARN_TYPES else name, account_id, region_name)


def _arn(backend: SageMakerModelBackend, kind: str, name: str) -> str:
    return sagemaker_arn(kind, name, backend.account_id, backend.region_name)


# --------------------------------------------------------------------------------------------
# Endpoint lifecycle: Creating → InService/Failed, Updating → InService, Deleting → gone


@dataclass
class Transition:
    """An endpoint operation in progress: it completes `seconds` after it started."""

    status: str  # "Creating", "Updating" or "Deleting"
    started: float  # time.monotonic() when the call was made
    started_at: datetime  # the same instant on the wall clock (naive UTC, like moto's timestamps)
    seconds: float
    config_name: str = ""  # Creating/Updating: the endpoint config being deployed
    variants: list[dict[str, Any]] = field(default_factory=list)  # its ProductionVariants
    rollback: bool = False  # Updating: SageMaker will roll back to the old config
    rollback_failure: str | None = None  # Updating: ends UpdateRollbackFailed with this FailureReason
    # Updating by UpdateEndpointWeightsAndCapacities (or Application Auto Scaling): variant name →
    # (DesiredInstanceCount, DesiredWeight), each None when unchanged; the config stays.
    capacities: dict[str, tuple[int | None, float | None]] | None = None

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.seconds)

    def is_done(self) -> bool:
        return time.monotonic() - self.started >= self.seconds


@dataclass
class EndpointState:
    """The sandbox's bookkeeping for one endpoint, kept on the FakeEndpoint (attribute SIDECAR)."""

    transition: Transition | None = None
    instances: dict[str, int] = field(default_factory=dict)  # instance type → count, serving fleet
    variant_types: dict[str, str] = field(default_factory=dict)  # variant name → instance type, serving


def variant_types_of(variants: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Variant name → instance type of a list of ProductionVariants (serverless ones have none)."""
    return {str(v.get("VariantName")): str(v["InstanceType"]) for v in variants if v.get("InstanceType")}


def _state(endpoint: FakeEndpoint) -> EndpointState:
    state = endpoint.__dict__.get(SIDECAR)
    if state is None:  # an endpoint created before the patches, or by CloudFormation internals
        state = EndpointState()
        setattr(endpoint, SIDECAR, state)
    return state


def _start(status: str, seconds: float, config: FakeEndpointConfig | None = None, rollback: bool = False) -> Transition:
    return Transition(
        status=status,
        started=time.monotonic(),
        started_at=utcnow(),
        seconds=max(0.0, float(seconds)),
        config_name=config.endpoint_config_name if config else "",
        variants=[dict(v) for v in config.production_variants] if config else [],
        rollback=rollback,
    )


def instances_of(variants: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Instance type → instance count of a list of ProductionVariants (serverless ones count none)."""
    counts: dict[str, int] = {}
    for variant in variants:
        instance_type = variant.get("InstanceType")
        if instance_type:
            counts[instance_type] = counts.get(instance_type, 0) + int(variant.get("InitialInstanceCount") or 1)
    return counts


def refresh(backend: SageMakerModelBackend, endpoint: FakeEndpoint) -> FakeEndpoint | None:
    """Bring an endpoint's status up to date with the clock; None once a deletion completed.

    Called (under `lock`) before every read of an endpoint, so DescribeEndpoint, ListEndpoints and
    InvokeEndpoint all see the same, time-driven status.
    """
    state = _state(endpoint)
    transition = state.transition
    failed_at = utcnow()
    if transition is not None and transition.is_done():
        state.transition = None
        if transition.status == "Deleting":
            backend.endpoints.pop(endpoint.endpoint_name, None)
            return None
        _complete(endpoint, state, transition)
        failed_at = transition.ends_at
    if state.transition is None and endpoint.endpoint_status == "InService":
        reason = control.pop_failure(endpoint.endpoint_name)
        if reason is not None:
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = reason  # type: ignore[assignment]  # moto types it as None
            endpoint.last_modified_time = failed_at
    if state.transition is None and endpoint.endpoint_status in UPDATABLE:
        if control.pop_out_of_service(endpoint.endpoint_name):
            # "OutOfService: Endpoint is not available to take incoming requests." (DescribeEndpoint)
            endpoint.endpoint_status = "OutOfService"
            endpoint.last_modified_time = failed_at
    return endpoint


def _complete(endpoint: FakeEndpoint, state: EndpointState, transition: Transition) -> None:
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = transition.ends_at
    if transition.status != "Updating":
        return
    if transition.capacities is not None:
        _complete_capacities(endpoint, state, transition.capacities)
        return
    if transition.rollback_failure is not None:
        # Both the update and its rollback failed: the endpoint serves on a mix of both configs
        # (DescribeEndpoint API reference, EndpointStatus UpdateRollbackFailed); it shows the old one.
        endpoint.endpoint_status = "UpdateRollbackFailed"
        endpoint.failure_reason = transition.rollback_failure  # type: ignore[assignment]
        return
    if transition.rollback:
        # SageMaker keeps the old fleet and config, and says why the update did not happen.
        endpoint.failure_reason = ROLLBACK_FAILURE_REASON  # type: ignore[assignment]
        return
    endpoint.failure_reason = None
    endpoint.endpoint_config_name = transition.config_name
    endpoint.production_variants = endpoint._process_production_variants(transition.variants)
    state.instances = instances_of(transition.variants)
    state.variant_types = variant_types_of(transition.variants)


def _complete_capacities(
    endpoint: FakeEndpoint, state: EndpointState, capacities: dict[str, tuple[int | None, float | None]]
) -> None:
    """An UpdateEndpointWeightsAndCapacities is done: the current counts and weights are the desired ones."""
    for variant in endpoint.production_variants or []:
        count, weight = capacities.get(str(variant.get("VariantName")), (None, None))
        if count is not None:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = count
        if weight is not None:
            variant["CurrentWeight"] = variant["DesiredWeight"] = weight
    state.instances = _serving_instances(endpoint, state, current=True)


def _serving_instances(endpoint: FakeEndpoint, state: EndpointState, current: bool) -> dict[str, int]:
    """Instance type → count from the endpoint's variants (Current or Desired instance counts)."""
    counts: dict[str, int] = {}
    key = "CurrentInstanceCount" if current else "DesiredInstanceCount"
    for variant in endpoint.production_variants or []:
        instance_type = state.variant_types.get(str(variant.get("VariantName")))
        if instance_type and variant.get(key) is not None:
            counts[instance_type] = counts.get(instance_type, 0) + int(variant[key])
    return counts


def refresh_all(backend: SageMakerModelBackend) -> None:
    ensure_name_dicts(backend)
    for endpoint in list(backend.endpoints.values()):
        refresh(backend, endpoint)


def find_endpoint(backend: SageMakerModelBackend, name: str) -> FakeEndpoint:
    """The endpoint called `name` (any case), refreshed; ValidationException when there is none."""
    ensure_name_dicts(backend)
    endpoint = backend.endpoints.get(name)
    if endpoint is not None:
        endpoint = refresh(backend, endpoint)
    if endpoint is None:
        raise ValidationError(f'Could not find endpoint "{_arn(backend, "endpoint", name)}".')
    return endpoint


def invocable_endpoint(backend: SageMakerModelBackend, name: str) -> FakeEndpoint | None:
    """The endpoint InvokeEndpoint would reach: exact-case name (SageMaker: "the case is preserved
    and must be matched in InvokeEndpoint") and a status that serves traffic. Takes the lock."""
    with lock:
        ensure_name_dicts(backend)
        endpoint = backend.endpoints.get(name)
        if endpoint is None or endpoint.endpoint_name != name:
            return None
        endpoint = refresh(backend, endpoint)
        if endpoint is None or endpoint.endpoint_status not in SERVING:
            return None
        return endpoint


def _pending_summary(transition: Transition) -> dict[str, Any]:
    """DescribeEndpoint's PendingDeploymentSummary while an endpoint is being created or updated."""
    variants = [
        {
            "VariantName": variant.get("VariantName"),
            "DesiredWeight": variant.get("InitialVariantWeight"),
            "DesiredInstanceCount": variant.get("InitialInstanceCount"),
            "InstanceType": variant.get("InstanceType"),
            "VariantStatus": [{"Status": "Creating", "StartTime": transition.started_at}],
        }
        for variant in transition.variants
    ]
    return {
        "EndpointConfigName": transition.config_name,
        "ProductionVariants": [{k: v for k, v in variant.items() if v is not None} for variant in variants],
        "StartTime": transition.started_at,
    }


def _endpoint_response_object(self: FakeEndpoint) -> dict[str, Any]:
    """FakeEndpoint.response_object without the sandbox's bookkeeping, plus the pending deployment."""
    response: dict[str, Any] = original(FakeEndpoint, "response_object").fget(self)
    response.pop(self.camelCase(SIDECAR), None)
    state = self.__dict__.get(SIDECAR)
    transition = state.transition if state is not None else None
    if transition is not None and transition.status in ("Creating", "Updating") and transition.capacities is None:
        response["PendingDeploymentSummary"] = _pending_summary(transition)
    return response


# --------------------------------------------------------------------------------------------
# Quotas: "<instance type> for endpoint usage" (control.quota_instances)


def _usage(backend: SageMakerModelBackend) -> dict[str, int]:
    """Instances in use per type: every endpoint not Failed, both fleets while one is updating."""
    totals: dict[str, int] = {}
    for endpoint in backend.endpoints.values():
        if endpoint.endpoint_status == "Failed":
            continue
        state = _state(endpoint)
        counts = [state.instances]
        if state.transition is not None and state.transition.status == "Updating":
            if state.transition.capacities is not None:  # a scale-out holds its new instances already
                desired = _serving_instances(endpoint, state, current=False)
                counts.append({t: n - state.instances.get(t, 0) for t, n in desired.items()
                               if n > state.instances.get(t, 0)})
            else:
                counts.append(instances_of(state.transition.variants))
        for count in counts:
            for instance_type, n in count.items():
                totals[instance_type] = totals.get(instance_type, 0) + n
    return totals


def _check_quota(backend: SageMakerModelBackend, requested: dict[str, int]) -> None:
    """CreateEndpoint/UpdateEndpoint beyond the account's quota fail at once, as in SageMaker."""
    if not control.quota_instances:
        return
    usage = _usage(backend)
    for instance_type, delta in sorted(requested.items()):
        limit = control.quota_for(instance_type)
        current = usage.get(instance_type, 0)
        if limit is not None and current + delta > limit:
            raise ResourceLimitExceeded(
                f"The account-level service limit '{instance_type} for endpoint usage' is {limit} Instances, "
                f"with current utilization of {current} Instances and a request delta of {delta} Instances. "
                "Please use AWS Service Quotas to request an increase for this quota."
            )


# --------------------------------------------------------------------------------------------
# Marketplace model packages (control.unsubscribed_packages)


def _check_model_package(backend: SageMakerModelBackend, package: Any) -> None:
    """CreateModel with a Marketplace package (another account's model package): refused unless the
    account is subscribed (control.subscribed, control.unsubscribed_packages), and only in its region.

    SageMaker answers ValidationException "Caller is not subscribed to the marketplace offering."
    at CreateModel; DescribeModelPackage answers for any account (see _describe_model_package).
    """
    if not isinstance(package, str) or not package:
        return
    match = MODEL_PACKAGE_ARN.match(package)
    marketplace = match is not None and match["account"] != backend.account_id
    if control.is_unsubscribed(package) or (marketplace and not control.subscribed):
        raise ValidationError(NOT_SUBSCRIBED)
    if match and match["region"] != backend.region_name:
        raise ValidationError(
            f'Could not find model package "{package}" in region {backend.region_name}: '
            "model package ARNs are regional."
        )


@dataclass
class MarketplaceModelPackage:
    """What DescribeModelPackage shows a subscriber of a Marketplace model package (another account's)."""

    arn: str
    name: str
    region: str
    account: str

    def gen_response_object(self) -> dict[str, Any]:
        instance_types = ["ml.g5.xlarge", "ml.g5.2xlarge", "ml.g5.4xlarge", "ml.g5.8xlarge", "ml.g5.12xlarge",
                          "ml.g6.xlarge", "ml.g6.2xlarge", "ml.g6e.xlarge", "ml.p4d.24xlarge", "ml.p5.48xlarge"]
        return {
            "ModelPackageName": self.name,
            "ModelPackageArn": self.arn,
            "ModelPackageDescription": f"{self.name} (AWS Marketplace model package)",
            "CreationTime": datetime(2024, 12, 4, tzinfo=UTC),
            "InferenceSpecification": {
                "Containers": [{
                    "Image": f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{self.name}:1",
                    "ImageDigest": "sha256:" + "0" * 64,
                }],
                "SupportedTransformInstanceTypes": instance_types,
                "SupportedRealtimeInferenceInstanceTypes": instance_types,
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {
                "ValidationStatuses": [{"Name": self.name, "Status": "Completed"}],
                "ImageScanStatuses": [{"Name": self.name, "Status": "Completed"}],
            },
            "CertifyForMarketplace": True,
        }


def _describe_model_package(self: SageMakerModelBackend, model_package_name: str) -> Any:
    """Another account's package ARN (a Marketplace listing) is described to any account, subscribed
    or not: it proves the ARN exists, not a subscription (the SageMaker Python SDK calls it before
    CreateModel, which is where an unsubscribed account is refused). moto only knows the caller's
    own packages."""
    match = MODEL_PACKAGE_ARN.match(model_package_name or "")
    if match is None or match["account"] == self.account_id:
        return original(SageMakerModelBackend, "describe_model_package")(self, model_package_name)
    if match["region"] != self.region_name:
        raise ValidationError(f"Model package {model_package_name} not found in region {self.region_name}.")
    return MarketplaceModelPackage(model_package_name, match["name"], match["region"], match["account"])


# --------------------------------------------------------------------------------------------
# Backend methods


def _backend_init(self: SageMakerModelBackend, region_name: str, account_id: str) -> None:
    original(SageMakerModelBackend, "__init__")(self, region_name, account_id)
    ensure_name_dicts(self)


def _lowercase_arn_formatter(_type: str, _id: str, account_id: str, region_name: str) -> str:
    """moto.sagemaker.models' ARN builder: SageMaker lowercases model/config/endpoint names in ARNs."""
    return sagemaker_arn(_type, _id, account_id, region_name)


@functools.cache
def instance_types() -> tuple[str, ...] | None:
    """The instance types SageMaker endpoints accept: the `ProductionVariantInstanceType` enum of
    botocore's sagemaker service-2.json (it has ml.p6-b200.48xlarge, ml.p6e-gb200.36xlarge ...);
    None when the model cannot be loaded."""
    try:
        import botocore.session

        model = botocore.session.get_session().get_service_model("sagemaker")
        enum = model.shape_for("ProductionVariantInstanceType").enum
    except Exception:  # a botocore without the model or the shape: fall back to the pattern
        return None
    return tuple(enum) if enum else None


def _validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
    """Exactly the instance types SageMaker knows (botocore's enum), not moto's old fixed list;
    SageMaker's own validation message otherwise."""
    known = instance_types()
    valid = (instance_type in known if known is not None
             else isinstance(instance_type, str) and bool(INSTANCE_TYPE.match(instance_type)))
    if not valid:
        choices = ", ".join(known) if known is not None else "ml.<family>.<size>"
        raise ValidationError(
            f"1 validation error detected: Value '{instance_type}' at 'productionVariants.1.member.instanceType' "
            f"failed to satisfy constraint: Member must satisfy enum value set: [{choices}]"
        )


def _create_model(
    self: SageMakerModelBackend,
    model_name: str,
    execution_role_arn: str,
    primary_container: dict[str, Any] | None,
    vpc_config: dict[str, Any] | None,
    containers: list[dict[str, Any]] | None,
    tags: list[dict[str, str]] | None,
    enable_network_isolation: bool = False,
) -> Model:
    """Refuses an existing name (any case) and unsubscribed packages; keeps EnableNetworkIsolation."""
    with lock:
        ensure_name_dicts(self)
        if model_name in self._models:
            raise ValidationError(f'Cannot create already existing model "{_arn(self, "model", model_name)}".')
        # A role IAM has not propagated yet, or one that does not exist (_consistency.py).
        if not role_assumable(execution_role_arn):
            raise ValidationError(sagemaker_cannot_assume(execution_role_arn))
        for container in [primary_container or {}, *(containers or [])]:
            _check_model_package(self, container.get("ModelPackageName"))
        model: Model = original(SageMakerModelBackend, "create_model")(
            self,
            model_name=model_name,
            execution_role_arn=execution_role_arn,
            primary_container=primary_container,
            vpc_config=vpc_config,
            containers=containers,
            tags=tags,
        )
        model.enable_network_isolation = bool(enable_network_isolation)
        return model


def _delete_model(self: SageMakerModelBackend, model_name: str) -> None:
    with lock:
        ensure_name_dicts(self)
        if model_name not in self._models:
            raise ValidationError(f'Could not find model "{_arn(self, "model", model_name)}".')
        del self._models[model_name]


def _create_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str, *args: Any, **kwargs: Any) -> Any:
    """Refuses an existing name (any case), like SageMaker."""
    with lock:
        ensure_name_dicts(self)
        if endpoint_config_name in self.endpoint_configs:
            arn = _arn(self, "endpoint-config", endpoint_config_name)
            raise ValidationError(f'Cannot create already existing endpoint configuration "{arn}".')
        config = original(SageMakerModelBackend, "create_endpoint_config")(self, endpoint_config_name, *args, **kwargs)
        config.arn = config.endpoint_config_arn  # moto stores a 1-tuple, which breaks the tagging API
        _config_times(self)[endpoint_config_name.lower()] = time.monotonic()
        return config


def _config_times(backend: SageMakerModelBackend) -> dict[str, float]:
    """Lowercase endpoint config name → time.monotonic() of its CreateEndpointConfig (kept on the
    backend: a config's own attributes all show up in DescribeEndpointConfig)."""
    times: dict[str, float] | None = backend.__dict__.get(CONFIG_CREATED)
    if times is None:
        times = {}
        setattr(backend, CONFIG_CREATED, times)
    return times


def _get_config(backend: SageMakerModelBackend, name: str) -> FakeEndpointConfig:
    """The endpoint config CreateEndpoint/UpdateEndpoint name; "Could not find" also for one created
    less than control.config_lookup_seconds ago: "When you call CreateEndpoint, a load call is made
    to DynamoDB to verify that your endpoint configuration exists ... Eventually Consistent Reads"
    (SageMaker API reference, CreateEndpoint)."""
    config = backend.endpoint_configs.get(name)
    created = _config_times(backend).get(name.lower())
    young = created is not None and time.monotonic() - created < control.config_lookup_seconds
    if config is None or young:
        raise ValidationError(f'Could not find endpoint configuration "{_arn(backend, "endpoint-config", name)}".')
    return config


def _describe_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str) -> dict[str, Any]:
    """DescribeEndpointConfig reads the same eventually consistent store CreateEndpoint does, so a
    config created less than control.config_lookup_seconds ago is "not found" here too; once it is
    found, CreateEndpoint finds it (AWS: "We also recommend that customers call DescribeEndpointConfig
    before calling CreateEndpoint", SageMaker API reference, CreateEndpoint)."""
    with lock:
        ensure_name_dicts(self)
        return _get_config(self, endpoint_config_name).response_object  # type: ignore[no-any-return]


def _create_endpoint(
    self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]] | None
) -> FakeEndpoint:
    """Refuses an existing name (any case) and quota overruns; the endpoint starts `Creating`."""
    with lock:
        refresh_all(self)  # a finished deletion frees the name
        if endpoint_name in self.endpoints:
            raise ValidationError(f'Cannot create already existing endpoint "{_arn(self, "endpoint", endpoint_name)}".')
        config = _get_config(self, endpoint_config_name)
        instances = instances_of(config.production_variants)
        _check_quota(self, instances)
        endpoint: FakeEndpoint = original(SageMakerModelBackend, "create_endpoint")(
            self, endpoint_name=endpoint_name, endpoint_config_name=endpoint_config_name, tags=tags
        )
        transition = _start("Creating", control.creating_seconds, config)
        endpoint.endpoint_status = "Creating"
        endpoint.creation_time = endpoint.last_modified_time = transition.started_at
        setattr(endpoint, SIDECAR, EndpointState(transition=transition, instances=instances,
                                                 variant_types=variant_types_of(config.production_variants)))
        return endpoint


def _describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
    with lock:
        return find_endpoint(self, endpoint_name).response_object


def _update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    retain_all_variant_properties: bool = False,
    exclude_retained_variant_properties: list[dict[str, str]] | None = None,
) -> str:
    """UpdateEndpoint (moto has none): `Updating` for control.updating_seconds, then `InService` on
    the new config, or back on the old one if control.rollback_next_update was called, or
    `UpdateRollbackFailed` if control.fail_update_rollback was. Allowed from `InService` and
    `UpdateRollbackFailed`; refused for `Failed` and `OutOfService` endpoints and while in progress,
    and when it would change the instance type of (or remove) a variant registered with Application
    Auto Scaling (_autoscaling.py).

    RetainAllVariantProperties: "To retain the variant properties of an endpoint when updating it, set
    RetainAllVariantProperties to true", "such as the instance count or the variant weight";
    ExcludeRetainedVariantProperties lists the ones "to override with the values provided by
    EndpointConfig" (UpdateEndpoint API reference). A variant named like a current one keeps its
    current DesiredInstanceCount and DesiredWeight (SageMaker Developer Guide, "Update endpoints that
    use auto scaling", step 6); DataCaptureConfig is not modelled."""
    from ._autoscaling import check_update_endpoint

    with lock:
        endpoint = find_endpoint(self, endpoint_name)
        if endpoint.endpoint_status == "Failed":
            raise ValidationError(
                f'Cannot update failed endpoint "{endpoint.arn}". '
                "DeleteEndpoint is the only operation that can be performed on a failed endpoint."
            )
        if endpoint.endpoint_status == "OutOfService":
            # The sandbox's wording (AWS's is not documented); match on the code.
            raise ValidationError(
                f'Cannot update endpoint "{endpoint.arn}" because it is OutOfService. Delete it and create it again.'
            )
        if endpoint.endpoint_status not in UPDATABLE:
            raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
        config = _get_config(self, endpoint_config_name)
        check_update_endpoint(self, endpoint, _state(endpoint), config.production_variants)
        variants = [dict(v) for v in config.production_variants]
        if retain_all_variant_properties:
            excluded = {str(p.get("VariantPropertyType")) for p in exclude_retained_variant_properties or []}
            _retain_variant_properties(endpoint, variants, excluded)
        _check_quota(self, instances_of(variants))
        transition = _start(
            "Updating", control.updating_seconds, config, rollback=control.pop_rollback(endpoint.endpoint_name)
        )
        transition.variants = variants
        transition.rollback_failure = control.pop_update_rollback_failure(endpoint.endpoint_name)
        _state(endpoint).transition = transition
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = transition.started_at
        return endpoint.arn


def _retain_variant_properties(endpoint: FakeEndpoint, variants: list[dict[str, Any]], excluded: set[str]) -> None:
    """RetainAllVariantProperties: same-named variants keep the endpoint's current desired count/weight."""
    current = {str(v.get("VariantName")): v for v in endpoint.production_variants or []}
    for variant in variants:
        now = current.get(str(variant.get("VariantName")))
        if now is None:
            continue
        if "DesiredInstanceCount" not in excluded and now.get("DesiredInstanceCount") is not None:
            variant["InitialInstanceCount"] = now["DesiredInstanceCount"]
        if "DesiredWeight" not in excluded and now.get("DesiredWeight") is not None:
            variant["InitialVariantWeight"] = now["DesiredWeight"]


def update_capacities(
    backend: SageMakerModelBackend, endpoint_name: str, desired: list[dict[str, Any]]
) -> FakeEndpoint:
    """UpdateEndpointWeightsAndCapacities (what Application Auto Scaling calls to scale a variant):
    the endpoint goes `Updating` for control.updating_seconds with the new DesiredInstanceCount /
    DesiredWeight shown at once, then `InService` with the Current* values equal to them — "When it
    receives the request, SageMaker sets the endpoint status to Updating. After updating the endpoint,
    it sets the status to InService" (UpdateEndpointWeightsAndCapacities API reference). moto's leaves
    the endpoint `Updating` for ever. The checks and their wording are moto's; a bigger fleet than
    the account's quota is ResourceLimitExceeded, the call's modelled error. Call under `lock`."""
    endpoint = find_endpoint(backend, endpoint_name)
    if endpoint.endpoint_status not in UPDATABLE:
        raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
    state = _state(endpoint)
    names = {str(v.get("VariantName")) for v in endpoint.production_variants or []}
    capacities: dict[str, tuple[int | None, float | None]] = {}
    for item in desired or []:
        name = str(item.get("VariantName"))
        if name in capacities:
            raise ValidationError(f'The variant name "{name}" was non-unique within the request.')
        if name not in names:
            raise ValidationError(f'The variant name(s) "{name}" is/are not present within endpoint configuration '
                                  f'"{endpoint.endpoint_config_name}".')
        count, weight = item.get("DesiredInstanceCount"), item.get("DesiredWeight")
        capacities[name] = (int(count) if count is not None else None, float(weight) if weight is not None else None)
    extra: dict[str, int] = {}
    for variant in endpoint.production_variants or []:
        count = capacities.get(str(variant.get("VariantName")), (None, None))[0]
        instance_type = state.variant_types.get(str(variant.get("VariantName")))
        if count is not None and instance_type:
            extra[instance_type] = extra.get(instance_type, 0) + count - int(variant.get("CurrentInstanceCount") or 0)
    _check_quota(backend, {t: n for t, n in extra.items() if n > 0})
    for variant in endpoint.production_variants or []:
        count, weight = capacities.get(str(variant.get("VariantName")), (None, None))
        if count is not None:
            variant["DesiredInstanceCount"] = count
        if weight is not None:
            variant["DesiredWeight"] = weight
    transition = _start("Updating", control.updating_seconds)
    transition.capacities = capacities
    state.transition = transition
    endpoint.endpoint_status = "Updating"
    endpoint.last_modified_time = transition.started_at
    return endpoint


def _update_endpoint_weights_and_capacities(
    self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
) -> str:
    with lock:
        return str(update_capacities(self, endpoint_name, desired_weights_and_capacities).arn)


def _delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
    """Gone at once, or `Deleting` for control.deleting_seconds; refused while creating/updating.
    Application Auto Scaling deregisters the endpoint's scalable targets (_autoscaling.py)."""
    from ._autoscaling import deregister_endpoint_targets

    with lock:
        endpoint = find_endpoint(self, endpoint_name)
        if endpoint.endpoint_status == "Deleting":
            return
        if endpoint.endpoint_status in IN_PROGRESS:
            raise ValidationError(f'Cannot delete in-progress endpoint "{endpoint.arn}".')
        if control.deleting_seconds > 0:
            transition = _start("Deleting", control.deleting_seconds)
            _state(endpoint).transition = transition
            endpoint.endpoint_status = "Deleting"
            endpoint.last_modified_time = transition.started_at
        else:
            del self.endpoints[endpoint.endpoint_name]
        deregister_endpoint_targets(self.account_id, self.region_name, endpoint.endpoint_name)


# --------------------------------------------------------------------------------------------
# List* : filters, newest first, 10 a page, NextToken


def _naive_utc(value: Any) -> datetime | None:
    """A request timestamp as moto stores times (naive UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return _naive_utc(float(value))
        except ValueError:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    raise ValidationError(f"Invalid timestamp {value!r}.")


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def _in_window(value: datetime, before: Any, after: Any) -> bool:
    """CreationTimeBefore is exclusive, CreationTimeAfter inclusive (SageMaker's docs)."""
    before_dt, after_dt = _naive_utc(before), _naive_utc(after)
    naive = _naive_utc(value)
    assert naive is not None
    return (before_dt is None or naive < before_dt) and (after_dt is None or naive >= after_dt)


def _page_size(max_results: Any) -> int:
    if max_results is None:
        return DEFAULT_PAGE_SIZE
    size = int(max_results)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value {'less' if size > 1 else 'greater'} than or equal to "
            f"{MAX_PAGE_SIZE if size > 1 else 1}"
        )
    return size


def _encode_token(sort_by: str, key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sort": sort_by, "after": list(key)}).encode()).decode()


def _decode_token(token: str, sort_by: str) -> tuple[Any, ...]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["sort"] != sort_by:
            raise ValueError("sorted differently")
        return tuple(data["after"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValidationError(f"Invalid pagination token: {token}") from None


def paginate_sorted(
    items: list[T],
    key: Callable[[T], tuple[Any, ...]],
    sort_by: str,
    sort_order: str | None,
    max_results: Any,
    next_token: str | None,
) -> tuple[list[T], str | None]:
    """One page of `items` in SageMaker's order (default Descending) and the token for the next.

    The token records the sort key of the last item returned, so pages stay consistent when
    resources come and go between calls (no duplicates, nothing skipped that still exists).
    """
    size = _page_size(max_results)
    descending = (sort_order or "Descending") == "Descending"
    ordered = sorted(items, key=key, reverse=descending)
    if next_token:
        after = _decode_token(next_token, sort_by)
        ordered = [item for item in ordered if (key(item) < after if descending else key(item) > after)]
    page = ordered[:size]
    token = _encode_token(sort_by, key(page[-1])) if len(ordered) > size else None
    return page, token


def _name_matches(name: str, contains: str | None) -> bool:
    return not contains or contains.lower() in name.lower()


def _list_page(
    items: Iterable[T],
    name: Callable[[T], str],
    arn: Callable[[T], str],
    created: Callable[[T], Any],
    *,
    name_contains: str | None,
    created_before: Any,
    created_after: Any,
    sort_by: str | None,
    sort_order: str | None,
    max_results: Any,
    next_token: str | None,
    keep: Callable[[T], bool] = lambda _: True,
    more_keys: dict[str, Callable[[T], tuple[Any, ...]]] | None = None,
) -> tuple[list[T], str | None]:
    """What SageMaker's List* calls share: NameContains (any case), a creation-time window,
    Name/CreationTime sorting (newest first by default), and stable pages."""
    chosen = [i for i in items if _name_matches(name(i), name_contains)
              and _in_window(created(i), created_before, created_after) and keep(i)]
    sort_by = sort_by or "CreationTime"
    keys: dict[str, Callable[[T], tuple[Any, ...]]] = {
        "Name": lambda i: (name(i), arn(i)),
        "CreationTime": lambda i: (_epoch(created(i)), arn(i)),
        **(more_keys or {}),
    }
    return paginate_sorted(chosen, keys[sort_by], sort_by, sort_order, max_results, next_token)


def _list_endpoints(
    self: SageMakerModelBackend,
    sort_by: str | None = None,
    sort_order: str | None = None,
    next_token: str | None = None,
    max_results: Any = None,
    name_contains: str | None = None,
    creation_time_before: Any = None,
    creation_time_after: Any = None,
    last_modified_time_before: Any = None,
    last_modified_time_after: Any = None,
    status_equals: str | None = None,
) -> tuple[list[FakeEndpoint], str | None]:
    """ListEndpoints on the current (time-driven) statuses, with SageMaker's defaults."""
    with lock:
        refresh_all(self)
        return _list_page(
            self.endpoints.values(), lambda e: e.endpoint_name, lambda e: e.arn, lambda e: e.creation_time,
            name_contains=name_contains, created_before=creation_time_before, created_after=creation_time_after,
            sort_by=sort_by, sort_order=sort_order, max_results=max_results, next_token=next_token,
            keep=lambda e: (not status_equals or e.endpoint_status == status_equals)
            and _in_window(e.last_modified_time, last_modified_time_before, last_modified_time_after),
            more_keys={"Status": lambda e: (e.endpoint_status, e.arn)},
        )


def _list_endpoint_configs(
    self: SageMakerModelBackend,
    sort_by: str | None = None,
    sort_order: str | None = None,
    next_token: str | None = None,
    max_results: Any = None,
    name_contains: str | None = None,
    creation_time_before: Any = None,
    creation_time_after: Any = None,
) -> tuple[list[FakeEndpointConfig], str | None]:
    with lock:
        ensure_name_dicts(self)
        return _list_page(
            self.endpoint_configs.values(), lambda c: c.endpoint_config_name, lambda c: c.endpoint_config_arn,
            lambda c: c.creation_time, name_contains=name_contains, created_before=creation_time_before,
            created_after=creation_time_after, sort_by=sort_by, sort_order=sort_order, max_results=max_results,
            next_token=next_token,
        )


def list_models(
    backend: SageMakerModelBackend,
    sort_by: str | None = None,
    sort_order: str | None = None,
    next_token: str | None = None,
    max_results: Any = None,
    name_contains: str | None = None,
    creation_time_before: Any = None,
    creation_time_after: Any = None,
) -> tuple[list[Model], str | None]:
    with lock:
        ensure_name_dicts(backend)
        return _list_page(
            backend._models.values(), lambda m: m.model_name, lambda m: m.arn, lambda m: m.creation_time,
            name_contains=name_contains, created_before=creation_time_before, created_after=creation_time_after,
            sort_by=sort_by, sort_order=sort_order, max_results=max_results, next_token=next_token,
        )


# --------------------------------------------------------------------------------------------
# Tags


def _get_resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
    """Tag APIs find resources by their (lowercase) ARN; an unknown ARN is a ValidationException
    (moto crashes with AttributeError, HTTP 500)."""
    with lock:
        refresh_all(self)
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        if len(parts) != 6 or parts[3] != self.region_name or parts[4] != self.account_id:
            resource = None
        else:
            try:
                resource = original(SageMakerModelBackend, "_get_resource_from_arn")(self, arn)
            except (ValueError, AttributeError, ValidationError):
                resource = None
        if resource is None:
            raise ValidationError(f'Could not find resource "{arn}".')
        return resource


def _add_tags(self: SageMakerModelBackend, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
    """AddTags with an existing key overwrites its value (moto appends a duplicate)."""
    with lock:
        resource = self._get_resource_from_arn(arn)
        merged = [dict(tag) for tag in (resource.tags or [])]
        for tag in tags or []:
            for existing in merged:
                if existing["Key"] == tag["Key"]:
                    existing["Value"] = tag.get("Value", "")
                    break
            else:
                merged.append({"Key": tag["Key"], "Value": tag.get("Value", "")})
        resource.tags = merged
        return merged


# --------------------------------------------------------------------------------------------
# Response (request parsing) additions


def _response_create_model(self: SageMakerResponse) -> ActionResult:
    """CreateModel, passing EnableNetworkIsolation on (moto drops it)."""
    backend: Any = self.sagemaker_backend  # the patched backend takes enable_network_isolation
    model = backend.create_model(
        model_name=self._get_param("ModelName"),
        execution_role_arn=self._get_param("ExecutionRoleArn"),
        primary_container=self._get_param("PrimaryContainer"),
        vpc_config=self._get_param("VpcConfig"),
        containers=self._get_param("Containers"),
        tags=self._get_param("Tags"),
        enable_network_isolation=bool(self._get_param("EnableNetworkIsolation", False)),
    )
    return ActionResult(model.response_create)


def _response_list_models(self: SageMakerResponse) -> ActionResult:
    """ListModels honouring NameContains, SortBy/SortOrder, MaxResults and NextToken."""
    models, next_token = list_models(
        self.sagemaker_backend,
        sort_by=self._get_param("SortBy"),
        sort_order=self._get_param("SortOrder"),
        next_token=self._get_param("NextToken"),
        max_results=self._get_param("MaxResults"),
        name_contains=self._get_param("NameContains"),
        creation_time_before=self._get_param("CreationTimeBefore"),
        creation_time_after=self._get_param("CreationTimeAfter"),
    )
    summaries = [{"ModelName": m.model_name, "ModelArn": m.arn, "CreationTime": m.creation_time} for m in models]
    return ActionResult({"Models": summaries, "NextToken": next_token})


def _response_update_endpoint(self: SageMakerResponse) -> ActionResult:
    """UpdateEndpoint (in-process moto raises NotImplementedError; the server answers HTTP 500).

    RetainAllVariantProperties and ExcludeRetainedVariantProperties are honoured for instance counts
    and weights; DeploymentConfig and RetainDeploymentConfig are accepted and ignored.
    """
    backend: Any = self.sagemaker_backend  # update_endpoint is added by install()
    arn = backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        retain_all_variant_properties=bool(self._get_param("RetainAllVariantProperties", False)),
        exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
    )
    return ActionResult({"EndpointArn": arn})


def install() -> None:
    # ARNs: lowercase resource names for models, endpoint configs and endpoints.
    replace(sm_models, "arn_formatter", _lowercase_arn_formatter)
    # Case-insensitive name dicts on every backend (and on backends re-created by a reset).
    replace(SageMakerModelBackend, "__init__", _backend_init)
    # Instance types: botocore's ProductionVariantInstanceType enum.
    replace(FakeEndpointConfig, "validate_instance_type", _validate_instance_type)
    # Duplicates refused; EnableNetworkIsolation kept; Marketplace subscription checked.
    replace(SageMakerModelBackend, "create_model", _create_model)
    replace(SageMakerModelBackend, "delete_model", _delete_model)
    replace(SageMakerModelBackend, "create_endpoint_config", _create_endpoint_config)
    # Endpoint lifecycle, UpdateEndpoint, quotas.
    replace(SageMakerModelBackend, "create_endpoint", _create_endpoint)
    replace(SageMakerModelBackend, "describe_endpoint", _describe_endpoint)
    replace(SageMakerModelBackend, "update_endpoint", _update_endpoint)
    replace(SageMakerModelBackend, "describe_endpoint_config", _describe_endpoint_config)
    replace(SageMakerModelBackend, "delete_endpoint", _delete_endpoint)
    replace(SageMakerModelBackend, "update_endpoint_weights_and_capacities", _update_endpoint_weights_and_capacities)
    replace(FakeEndpoint, "response_object", property(_endpoint_response_object))
    # List*: filters, order, page size and tokens as in SageMaker.
    replace(SageMakerModelBackend, "list_endpoints", _list_endpoints)
    replace(SageMakerModelBackend, "list_endpoint_configs", _list_endpoint_configs)
    # Tags: lookups by lowercase ARN, unknown ARN → ValidationException, AddTags upserts.
    replace(SageMakerModelBackend, "_get_resource_from_arn", _get_resource_from_arn)
    replace(SageMakerModelBackend, "add_tags", _add_tags)
    # Marketplace packages of other accounts.
    replace(SageMakerModelBackend, "describe_model_package", _describe_model_package)
    # Request handlers.
    replace(SageMakerResponse, "create_model", _response_create_model)
    replace(SageMakerResponse, "list_models", _response_list_models)
    replace(SageMakerResponse, "update_endpoint", _response_update_endpoint)
