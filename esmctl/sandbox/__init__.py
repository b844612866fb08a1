"""The sandbox: moto patched to behave like AWS; used by `esmctl demo`, `esmctl sandbox` and the tests.

Never imported by offline commands. Importing this package is free: it defines things and imports
neither moto nor boto3. `apply_patches()` (idempotent) sets MOTO_IAM_LOAD_MANAGED_POLICIES=true,
imports moto and patches its classes, for `moto.mock_aws` and for a ThreadedMotoServer in the same
process alike. `control` steers the sandbox: endpoint timings and outcomes, Marketplace
subscriptions, instance quotas, AWS's eventual-consistency delays, limits and rate limits (each a
knob with an environment variable, listed on `SandboxControl`). `start_server()` /
`serve_forever()` run it as a local server. docs/aws-behaviour.md says where each behaviour comes
from.

What the patches reproduce (moto 5.2.5 differs from AWS there; see the modules for details):
- CreateEndpointConfig accepts exactly botocore's ProductionVariantInstanceType enum;
- endpoints are `Creating` for a while, then `InService` or `Failed` (FailureReason); deletions
  can show `Deleting`; endpoints can be put `OutOfService`; DescribeEndpoint and ListEndpoints agree;
- UpdateEndpoint exists: `Updating`, then `InService` on the new config, or rolled back, or
  `UpdateRollbackFailed`;
- duplicate model/endpoint-config/endpoint names (any case) are refused; names are looked up
  case-insensitively, ARNs carry the lowercased name, tags work with those ARNs, AddTags upserts;
- CreateModel keeps EnableNetworkIsolation and refuses Marketplace packages the account is not
  subscribed to; DescribeModelPackage describes another account's (Marketplace) package to anyone;
- eventual consistency (by default): a new role cannot be assumed (CreateModel, CreateSchedule),
  a new access key is refused, a new endpoint config is not found by CreateEndpoint, a
  force-deleted secret keeps its name for a few seconds;
- limits: IAM policy sizes, CloudWatch's period rules; control-plane rate limits (server);
- ListEndpoints/ListEndpointConfigs/ListModels: newest first, 10 a page, NextToken, filters;
- IAM refuses DeleteUser/DeletePolicy with DeleteConflict while things are attached;
- InvokeEndpoint answers only live endpoints, with a Forge-shaped JSON body;
- with IAM enforcement on, SageMaker requests are checked against the endpoint's lowercase ARN;
- optional per-instance-type quotas raise ResourceLimitExceeded, and Service Quotas reports them
  (service code `sagemaker`: "<type> for endpoint usage", applied and default values);
- IAM SimulatePrincipalPolicy evaluates the principal's identity-based policies;
- Application Auto Scaling of endpoint variants: targets must exist, not-found is
  ObjectNotFoundException, deregistering removes policies, UpdateEndpoint refuses a new instance type
  for a registered variant, DeleteEndpoint deregisters (`control.scale_variant` scales one);
- EventBridge Scheduler checks cron/rate/at expressions and time zones; `control.fire_due_schedules`
  and `fire_schedule` run schedules' universal targets (sagemaker deleteEndpoint, createEndpoint).
"""

from .control import DEFAULT_FAILURE_REASON, UPDATE_ROLLBACK_FAILED_REASON, SandboxControl, control
from .patching import apply_patches
from .server import SandboxServer, serve_forever, start_server

__all__ = [
    "DEFAULT_FAILURE_REASON",
    "SandboxControl",
    "SandboxServer",
    "UPDATE_ROLLBACK_FAILED_REASON",
    "apply_patches",
    "control",
    "serve_forever",
    "start_server",
]
