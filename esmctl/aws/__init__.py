"""The only package that imports boto3/botocore: one session, typed calls per service.

Every call goes through `_Service.call`, which translates botocore's exceptions into
`EsmctlError`s (see errors.py); nobody else catches ClientError. Deletes are idempotent: "not
found" means done. Retries of throttling, 5xx (also an HTML answer from a proxy: botocore reads the
status code) and connection errors are botocore's "adaptive" mode: the "standard" retries
(exponential backoff with full jitter, capped at 20 s a wait; with TOTAL_MAX_ATTEMPTS = 8 a call
gives up after about a minute of trying) plus a client-side token bucket that slows all calls of a
client down as soon as AWS throttles one, so many deployments created in parallel are paced to the
account's API rate limits instead of failing on them. AWS's eventual consistency (a refusal right
after a change) is retried in `_Service.call` by the rules of consistency.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from esmctl import __version__, naming
from esmctl.aws import consistency
from esmctl.aws.errors import is_not_found, translate
from esmctl.errors import AwsError, CallFailed, Interrupted, NotFound
from esmctl.naming import partition

TOTAL_MAX_ATTEMPTS = 8  # first try + 7 retries; about 60 s of backoff at most
PAGE = 100  # List* page size: the largest SageMaker allows


_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def max_attempts() -> int:
    """Attempts per call: AWS_MAX_ATTEMPTS (the AWS SDKs' variable) when set to a whole number ≥ 1."""
    raw = os.environ.get("AWS_MAX_ATTEMPTS", "")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else TOTAL_MAX_ATTEMPTS


def _botocore_session() -> Any:
    """A new botocore session that shares one data loader with the others of this process.

    Parsing botocore's service models (SageMaker's is several MB of JSON) is most of what creating a
    client costs; sessions made later in the same process (a notebook, the tests) reuse the parse.
    Credentials and configuration are still resolved per session.
    """
    import botocore.session

    global _LOADER
    bs = botocore.session.get_session()
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = bs.get_component("data_loader")
        else:
            bs.register_component("data_loader", _LOADER)
    return bs


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class Aws:
    """A boto3 session for one region (and optionally one endpoint URL), with typed adapters."""

    def __init__(self, *, region: str, profile: str | None = None, endpoint_url: str | None = None,
                 session: Any = None, fresh_key: bool = False, sleep: Callable[[float], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, rnd: Callable[[], float] = random.random) -> None:
        if endpoint_url is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", endpoint_url):
            raise AwsError(f"--endpoint-url {endpoint_url!r} is not a URL.",
                           hint="Use e.g. --endpoint-url http://127.0.0.1:5005 (or unset AWS_ENDPOINT_URL).")
        try:
            self.session = session or boto3.Session(botocore_session=_botocore_session(), profile_name=profile,
                                                    region_name=region)
        except BotoCoreError as e:
            raise translate(e, "session") from None
        self.region = region
        self.partition = partition(region)
        self.endpoint_url = endpoint_url
        # Waiting out AWS's eventual consistency (consistency.py): injected so tests never sleep.
        self.fresh_key = fresh_key  # signing with a just-created access key: InvalidClientTokenId is retried
        self.cancel = threading.Event()  # set on Ctrl-C: a retry's wait ends at once
        self.sleep: Callable[[float], Any] = sleep or self.cancel.wait
        self.clock, self.rnd = clock, rnd
        self.notify: Callable[[str], None] = lambda _message: None  # progress while waiting (the UI's info)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        self._hooks: list[Callable[..., Any]] = []
        self._apis: dict[str, _Service] = {}
        self.sagemaker = SageMaker(self, "sagemaker")
        self.iam = Iam(self, "iam")
        self.sts = Sts(self, "sts")
        self.secrets = SecretsManager(self, "secretsmanager")
        self.cloudwatch = CloudWatch(self, "cloudwatch")
        self.pricing = Pricing(self, "pricing")
        self.scheduler = Scheduler(self, "scheduler")
        self.quotas = ServiceQuotas(self, "service-quotas")
        self.runtime = Runtime(self, "sagemaker-runtime")
        self.s3 = S3(self, "s3")

    def client(self, service: str, region: str | None = None) -> Any:
        key = service if region is None else f"{service}@{region}"
        with self._lock:  # Session.client() is not thread-safe; the clients themselves are
            c = self._clients.get(key)
            if c is None:
                cfg = BotoConfig(retries={"mode": "adaptive", "total_max_attempts": max_attempts()},
                                 connect_timeout=10, read_timeout=60, max_pool_connections=64,
                                 user_agent_extra=f"esmctl/{__version__}")
                try:
                    c = self.session.client(service, region_name=region or self.region,
                                            endpoint_url=self.endpoint_url, config=cfg)
                except BotoCoreError as e:  # e.g. a --profile that is not configured
                    raise translate(e, f"{service} client") from None
                for hook in self._hooks:
                    c.meta.events.register("before-send", hook)
                self._clients[key] = c
            return c

    def api(self, service: str) -> _Service:
        """Calls to any other AWS service (`api("application-autoscaling").call("RegisterScalableTarget",
        name, **params)`), with the same retries, eventual-consistency waits and error translation as
        the typed adapters above: a new resource kind needs no new adapter here."""
        with self._lock:
            svc = self._apis.get(service)
            if svc is None:
                svc = self._apis[service] = _Service(self, service)
            return svc

    def on_request(self, hook: Callable[..., Any]) -> None:
        """Register a botocore before-send hook on every client (for counting calls)."""
        with self._lock:
            self._hooks.append(hook)
            for c in self._clients.values():
                c.meta.events.register("before-send", hook)

    def with_credentials(self, access_key_id: str, secret_access_key: str, *, fresh: bool = False) -> Aws:
        """Another Aws for the same region and endpoint, signing with these keys (no profile).

        `fresh`: the key was just created, so IAM may refuse it for a few seconds (retried)."""
        session = boto3.Session(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
                                region_name=self.region, botocore_session=_botocore_session())
        other = Aws(region=self.region, endpoint_url=self.endpoint_url, session=session, fresh_key=fresh,
                    sleep=self.sleep, clock=self.clock, rnd=self.rnd)
        other.notify, other.cancel = self.notify, self.cancel
        return other

    def account_id(self) -> str:
        if self._account is None:
            self._account = self.sts.caller_identity()["Account"]
        return self._account

    def credential_expiry(self) -> tuple[str, dt.datetime | None]:
        """How boto3 found the credentials (its method name: env, sso, assume-role ...) and when
        they expire; None for keys that do not expire. Makes no AWS call."""
        try:
            creds = self.session.get_credentials()
        except BotoCoreError as e:
            raise translate(e, "boto3's credential chain") from None
        if creds is None:
            raise translate(NoCredentialsError(), "boto3's credential chain")
        # RefreshableCredentials (SSO, assumed roles, AWS_CREDENTIAL_EXPIRATION) keep the expiry
        # only in this attribute; plain keys have none.
        expiry = getattr(creds, "_expiry_time", None)
        return str(getattr(creds, "method", "") or ""), expiry if isinstance(expiry, dt.datetime) else None


class _Service:
    def __init__(self, aws: Aws, service: str) -> None:
        self.aws = aws
        self.service = service

    def call(self, operation: str, resource: str = "", **params: Any) -> dict[str, Any]:
        """One API call. A refusal that is only AWS catching up with an earlier change (see
        consistency.py) is retried with the same request, with backoff, for up to MAX_WAIT seconds."""
        name = f"{self.service}:{operation}"
        started, attempt = self.aws.clock(), 0
        while True:
            try:
                return self._call_once(operation, resource, **params)
            except AwsError as e:
                rule = consistency.find(name, e.code, e.details or e.message, fresh_key=self.aws.fresh_key)
                if rule is None:
                    raise
                self._pause(attempt, started, rule.waiting_for, f"{name} {resource}", f"refused ({e.code})",
                            _refused_too_long(f"{name}{' ' + resource if resource else ''}", rule, e))
                attempt += 1

    def _pause(self, attempt: int, started: float, waiting_for: str, subject: str, why: str,
               give_up: Callable[[float], AwsError]) -> None:
        """Wait before retry `attempt` of `subject`, which AWS has not caught up with yet: say so, sleep
        (jittered backoff), or raise `give_up(seconds waited)` once MAX_WAIT would pass; Ctrl-C ends it."""
        aws = self.aws
        pause = consistency.delay(attempt, aws.rnd)
        waited = aws.clock() - started
        if waited + pause > consistency.MAX_WAIT:
            raise give_up(waited)
        short = waiting_for.split(" (")[0]
        aws.notify(f"Waiting for {waiting_for}: {subject} {why}; retrying." if attempt == 0 else
                   f"  still waiting for {short.split(' to ', 1)[0]}: {subject}, retry {attempt + 1} in "
                   f"{pause:.1f} s ({waited:.0f} s so far)")
        aws.sleep(pause)
        if aws.cancel.is_set():
            raise Interrupted(f"Interrupted while waiting for {short}.", hint="Run the command again: it resumes.")

    def _call_once(self, operation: str, resource: str = "", **params: Any) -> dict[str, Any]:
        client = self.aws.client(self.service)
        method = getattr(client, _snake(operation))
        try:
            return method(**params)  # type: ignore[no-any-return]
        except (ClientError, BotoCoreError) as e:
            raise translate(e, f"{self.service}:{operation}", resource) from None
        except RuntimeError as e:  # botocore: "refreshed credentials are still expired" (no BotoCoreError)
            if "credentials" not in str(e).lower():
                raise
            raise translate(e, f"{self.service}:{operation}", resource) from None

    def call_or_none(self, operation: str, resource: str = "", **params: Any) -> dict[str, Any] | None:
        """`call`, answering None when the resource does not exist."""
        try:
            return self.call(operation, resource, **params)
        except NotFound:
            return None

    def _delete(self, operation: str, resource: str, **params: Any) -> bool:
        """An idempotent delete: False when it was already gone ("not found" means done)."""
        return self.call_or_none(operation, resource, **params) is not None

    def until_found(self, operation: str, resource: str, waiting_for: str, **params: Any) -> dict[str, Any]:
        """`operation` (a Describe) of something this run has just created, retried while AWS does not
        show it yet (eventually consistent reads; consistency.py's backoff and MAX_WAIT)."""
        name = f"{self.service}:{operation}"
        started, attempt = self.aws.clock(), 0
        while True:
            found = self.call_or_none(operation, resource, **params)
            if found is not None:
                return found
            self._pause(attempt, started, waiting_for, f"{name} {resource}", "not found yet",
                        lambda waited: AwsError(f"{name} {resource}: still not found after {waited:.0f} s, although "
                                                "this run created it", hint="Run the command again: it resumes.",
                                                code="NotFound"))
            attempt += 1

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            resp = self.call(operation, **params, **({"NextToken": token} if token else {}))
            yield from resp.get(key, [])
            token = resp.get("NextToken")
            if not token:
                return


def _refused_too_long(what: str, rule: consistency.Eventual, e: AwsError) -> Callable[[float], AwsError]:
    """The error for an eventual-consistency refusal that outlasted MAX_WAIT (given the seconds waited)."""
    def give_up(waited: float) -> AwsError:
        return AwsError(f"{what}: still refused after waiting {waited:.0f} s for {rule.waiting_for.split(' (')[0]}: "
                        f"{e.message}",
                        hint=rule.hint or "AWS usually catches up within seconds; if this persists, check the cause "
                        "named above (docs/aws-behaviour.md), then run the command again: it resumes.",
                        code=e.code, details=e.details)
    return give_up


def _snake(op: str) -> str:
    return xform_name(op)  # botocore's own: ListAWSDefaultServiceQuotas → list_aws_default_service_quotas


class SageMaker(_Service):
    def list_endpoints(self) -> Iterator[dict[str, Any]]:
        return self.pages("ListEndpoints", "Endpoints", MaxResults=PAGE)

    def list_endpoint_configs(self) -> Iterator[dict[str, Any]]:
        return self.pages("ListEndpointConfigs", "EndpointConfigs", MaxResults=PAGE)

    def list_models(self) -> Iterator[dict[str, Any]]:
        return self.pages("ListModels", "Models", MaxResults=PAGE)

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        return self.call_or_none("DescribeEndpoint", name, EndpointName=name)

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        return self.call_or_none("DescribeEndpointConfig", name, EndpointConfigName=name)

    def describe_model(self, name: str) -> dict[str, Any] | None:
        return self.call_or_none("DescribeModel", name, ModelName=name)

    def create_model(self, name: str, *, role_arn: str, model_package: str, tags: dict[str, str]) -> str:
        resp = self.call("CreateModel", name, ModelName=name, ExecutionRoleArn=role_arn,
                         PrimaryContainer={"ModelPackageName": model_package},
                         EnableNetworkIsolation=True, Tags=_tags(tags))
        return str(resp["ModelArn"])

    def create_endpoint_config(self, name: str, *, model_name: str, instance_type: str, instance_count: int,
                               tags: dict[str, str]) -> str:
        resp = self.call("CreateEndpointConfig", name, EndpointConfigName=name, Tags=_tags(tags),
                         ProductionVariants=[{
                             "VariantName": naming.VARIANT, "ModelName": model_name,
                             "InitialInstanceCount": instance_count, "InstanceType": instance_type,
                             "InitialVariantWeight": 1.0, "ModelDataDownloadTimeoutInSeconds": 3600,
                         }])
        return str(resp["EndpointConfigArn"])

    def confirm_endpoint_config(self, name: str) -> None:
        """DescribeEndpointConfig until SageMaker shows a config this run just created, as the
        CreateEndpoint reference recommends before CreateEndpoint: the wait is spent on a cheap read,
        not on CreateEndpoint calls refused against the account's CreateEndpoint rate."""
        self.until_found("DescribeEndpointConfig", name, "SageMaker to find the endpoint config it just created",
                         EndpointConfigName=name)

    def create_endpoint(self, name: str, *, config_name: str, tags: dict[str, str]) -> str:
        resp = self.call("CreateEndpoint", name, EndpointName=name, EndpointConfigName=config_name,
                         Tags=_tags(tags))
        return str(resp["EndpointArn"])

    def update_endpoint(self, name: str, *, config_name: str, retain_counts: bool = False) -> str:
        """`retain_counts`: keep the variant's instance count and weight as they are (RetainAllVariantProperties,
        UpdateEndpoint API reference), not the new config's: what autoscaling set survives the update."""
        extra = {"RetainAllVariantProperties": True} if retain_counts else {}
        resp = self.call("UpdateEndpoint", name, EndpointName=name, EndpointConfigName=config_name, **extra)
        return str(resp["EndpointArn"])

    def delete_endpoint(self, name: str) -> bool:
        """Delete; False when it was already gone."""
        return self._delete("DeleteEndpoint", name, EndpointName=name)

    def delete_endpoint_config(self, name: str) -> bool:
        return self._delete("DeleteEndpointConfig", name, EndpointConfigName=name)

    def delete_model(self, name: str) -> bool:
        return self._delete("DeleteModel", name, ModelName=name)

    def list_tags(self, arn: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.pages("ListTags", "Tags", ResourceArn=arn)}

    def add_tags(self, arn: str, tags: dict[str, str]) -> None:
        self.call("AddTags", arn, ResourceArn=arn, Tags=_tags(tags))

    def describe_model_package(self, arn: str) -> dict[str, Any]:
        """A (Marketplace) model package as this account sees it; raises when it may not use it."""
        return self.call("DescribeModelPackage", arn, ModelPackageName=arn)


class Iam(_Service):
    def get_role(self, name: str) -> dict[str, Any] | None:
        resp = self.call_or_none("GetRole", name, RoleName=name)
        return resp["Role"] if resp else None

    def create_role(self, name: str, *, tags: dict[str, str], service: str = "sagemaker.amazonaws.com",
                    description: str = "SageMaker execution role for ESM endpoints (managed by esmctl)",
                    ) -> dict[str, Any]:
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
        return self.call("CreateRole", name, RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                         Description=description, Tags=_tags(tags))["Role"]  # type: ignore[no-any-return]

    def tag_role(self, name: str, tags: dict[str, str]) -> None:
        self.call("TagRole", name, RoleName=name, Tags=_tags(tags))

    def tag_user(self, name: str, tags: dict[str, str]) -> None:
        self.call("TagUser", name, UserName=name, Tags=_tags(tags))

    def put_role_policy(self, role: str, name: str, document: str) -> None:
        self.call("PutRolePolicy", role, RoleName=role, PolicyName=name, PolicyDocument=document)

    def delete_role_policy(self, role: str, name: str) -> None:
        self.call_or_none("DeleteRolePolicy", role, RoleName=role, PolicyName=name)

    def list_attached_role_policies(self, name: str) -> list[dict[str, Any]]:
        # a role has a handful of policies: one page of up to 1000 is all of them
        resp = self.call_or_none("ListAttachedRolePolicies", name, RoleName=name, MaxItems=1000)
        return list(resp.get("AttachedPolicies", [])) if resp else []

    def attach_role_policy(self, name: str, policy_arn: str) -> None:
        self.call("AttachRolePolicy", name, RoleName=name, PolicyArn=policy_arn)

    def detach_role_policy(self, name: str, policy_arn: str) -> bool:
        return self._delete("DetachRolePolicy", name, RoleName=name, PolicyArn=policy_arn)

    def delete_role(self, name: str) -> bool:
        return self._delete("DeleteRole", name, RoleName=name)

    # --- the shared service user ---------------------------------------------------------------
    def get_user(self, name: str) -> dict[str, Any] | None:
        resp = self.call_or_none("GetUser", name, UserName=name)
        return resp["User"] if resp else None

    def create_user(self, name: str, *, tags: dict[str, str]) -> dict[str, Any]:
        return self.call("CreateUser", name, UserName=name, Tags=_tags(tags))["User"]  # type: ignore[no-any-return]

    def delete_user(self, name: str) -> bool:
        return self._delete("DeleteUser", name, UserName=name)

    def list_access_keys(self, user: str) -> list[dict[str, Any]]:
        resp = self.call_or_none("ListAccessKeys", user, UserName=user)
        return list(resp.get("AccessKeyMetadata", [])) if resp else []

    def create_access_key(self, user: str) -> dict[str, Any]:
        return self.call("CreateAccessKey", user, UserName=user)["AccessKey"]  # type: ignore[no-any-return]

    def delete_access_key(self, user: str, key_id: str) -> bool:
        return self._delete("DeleteAccessKey", f"{user}/{key_id}", UserName=user, AccessKeyId=key_id)

    def list_attached_user_policies(self, user: str) -> list[dict[str, Any]]:
        resp = self.call_or_none("ListAttachedUserPolicies", user, UserName=user, MaxItems=1000)
        return list(resp.get("AttachedPolicies", [])) if resp else []

    def attach_user_policy(self, user: str, policy_arn: str) -> None:
        self.call("AttachUserPolicy", user, UserName=user, PolicyArn=policy_arn)

    def detach_user_policy(self, user: str, policy_arn: str) -> bool:
        return self._delete("DetachUserPolicy", user, UserName=user, PolicyArn=policy_arn)

    def get_policy(self, arn: str) -> dict[str, Any] | None:
        resp = self.call_or_none("GetPolicy", arn, PolicyArn=arn)
        return resp["Policy"] if resp else None

    def create_policy(self, name: str, *, document: str, description: str, tags: dict[str, str]) -> str:
        resp = self.call("CreatePolicy", name, PolicyName=name, PolicyDocument=document,
                         Description=description, Tags=_tags(tags))
        return str(resp["Policy"]["Arn"])

    def list_policy_versions(self, arn: str) -> list[dict[str, Any]]:
        return list(self.call("ListPolicyVersions", arn, PolicyArn=arn, MaxItems=1000).get("Versions", []))

    def create_policy_version(self, arn: str, *, document: str) -> None:
        self.call("CreatePolicyVersion", arn, PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)

    def delete_policy_version(self, arn: str, version_id: str) -> None:
        self.call_or_none("DeletePolicyVersion", arn, PolicyArn=arn, VersionId=version_id)

    def delete_policy(self, arn: str) -> bool:
        return self._delete("DeletePolicy", arn, PolicyArn=arn)

    def simulate_principal_policy(self, principal_arn: str, actions: list[str],
                                  resources: list[str] | None = None) -> list[dict[str, Any]]:
        """IAM's evaluation of `actions` for a user or role (EvalActionName, EvalDecision, ...)."""
        results: list[dict[str, Any]] = []
        marker = None
        while True:
            resp = self.call("SimulatePrincipalPolicy", principal_arn, PolicySourceArn=principal_arn,
                             ActionNames=actions, **({"ResourceArns": resources} if resources else {}),
                             **({"Marker": marker} if marker else {}))
            results += resp.get("EvaluationResults", [])
            marker = resp.get("Marker")
            if not resp.get("IsTruncated") or not marker:
                return results


class CloudWatch(_Service):
    def invocation_sums(self, endpoints: list[str], *, start: Any, end: Any, period: int) -> dict[str, float]:
        """Sum of AWS/SageMaker Invocations per endpoint (variant-1) over [start, end); 500 a call."""
        out: dict[str, float] = {}
        for i in range(0, len(endpoints), 500):
            chunk = endpoints[i:i + 500]
            queries = [{"Id": f"m{j}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                           "Dimensions": [{"Name": "EndpointName", "Value": name},
                                          {"Name": "VariantName", "Value": naming.VARIANT}]},
                "Period": period, "Stat": "Sum"}} for j, name in enumerate(chunk)]
            token = None
            while True:
                resp = self.call("GetMetricData", MetricDataQueries=queries, StartTime=start, EndTime=end,
                                 **({"NextToken": token} if token else {}))
                for r in resp.get("MetricDataResults", []):
                    name = chunk[int(r["Id"][1:])]
                    out[name] = out.get(name, 0.0) + float(sum(r.get("Values", [])))
                token = resp.get("NextToken")
                if not token:
                    break
        return out


class Pricing(_Service):
    """The AWS Price List API; it answers only in a few regions, us-east-1 among them."""

    def sagemaker_hosting_products(self, region: str) -> Iterator[str]:
        client = self.aws.client("pricing", region="us-east-1")
        filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
                   {"Type": "TERM_MATCH", "Field": "component", "Value": "Hosting"}]
        token = None
        while True:
            try:
                resp = client.get_products(ServiceCode="AmazonSageMaker", Filters=filters, MaxResults=100,
                                           **({"NextToken": token} if token else {}))
            except (ClientError, BotoCoreError) as e:
                raise translate(e, "pricing:GetProducts") from None
            yield from resp.get("PriceList", [])
            token = resp.get("NextToken")
            if not token:
                return


class Scheduler(_Service):
    def create_stop(self, name: str, *, at: str, endpoint: str, role_arn: str) -> str:
        """A one-time schedule whose universal target calls sagemaker:DeleteEndpoint."""
        resp = self.call(
            "CreateSchedule", name, Name=name, ScheduleExpression=f"at({at})", ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="NONE",
            Description=f"esmctl: stop (delete) SageMaker endpoint {endpoint}",
            Target={"Arn": f"arn:{self.aws.partition}:scheduler:::aws-sdk:sagemaker:deleteEndpoint",
                    "RoleArn": role_arn,
                    "Input": json.dumps({"EndpointName": endpoint})})
        return str(resp["ScheduleArn"])

    def delete(self, name: str) -> bool:
        return self._delete("DeleteSchedule", name, Name=name)


class Sts(_Service):
    _identity: dict[str, Any] | None = None

    def caller_identity(self) -> dict[str, Any]:
        """Who these credentials are; asked once per Aws object (it cannot change within a run)."""
        if self._identity is None:
            self._identity = self.call("GetCallerIdentity")
        return self._identity


class SecretsManager(_Service):
    def get(self, name: str) -> dict[str, Any] | None:
        """The secret's JSON value, or None when there is no such secret. A secret still being deleted
        is waited for (consistency.py): never taken for "no secret" while it may come back."""
        resp = self.call_or_none("GetSecretValue", name, SecretId=name)
        if resp is None:
            return None
        return json.loads(resp.get("SecretString") or "{}")  # type: ignore[no-any-return]

    def put(self, name: str, value: dict[str, Any], *, tags: dict[str, str], description: str) -> str:
        """Create the secret, or store a new value in it; returns its ARN."""
        text = json.dumps(value)
        try:
            resp = self.call("PutSecretValue", name, SecretId=name, SecretString=text)
        except NotFound:
            resp = self.call("CreateSecret", name, Name=name, SecretString=text, Tags=_tags(tags),
                             Description=description)
        return str(resp["ARN"])

    def delete(self, name: str) -> bool:
        # The key it held is deleted too, so there is nothing to recover.
        return self._delete("DeleteSecret", name, SecretId=name, ForceDeleteWithoutRecovery=True)


class ServiceQuotas(_Service):
    NO_SUCH_RESOURCE = "NoSuchResourceException"  # the service code is unknown in this region

    def find(self, service_code: str, names: list[str]) -> dict[str, dict[str, Any]]:
        """The quotas with these names: the applied value (ListServiceQuotas), else the AWS default
        (ListAWSDefaultServiceQuotas, for quotas never changed in this account). A name in neither
        listing is left out. Quota codes are opaque, so quotas are found by name; listing stops
        once every name is found."""
        found: dict[str, dict[str, Any]] = {}
        for operation in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
            try:
                for quota in self.pages(operation, "Quotas", ServiceCode=service_code, MaxResults=PAGE):
                    name = quota.get("QuotaName", "")
                    if name in names and name not in found:
                        found[name] = quota
                        if len(found) == len(set(names)):
                            return found
            except AwsError as e:
                if e.code != self.NO_SUCH_RESOURCE:
                    raise
        return found


class S3(_Service):
    """Objects of a remote state: read with their ETag, written conditionally, encrypted at rest."""

    SSE = "AES256"  # SSE-S3, requested on every put without a KMS key, whatever the bucket's default is
    SSE_KMS = "aws:kms"  # with a KMS key (`state_kms_key`)

    def get(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when there is no such key."""
        try:
            resp = self.call_or_none("GetObject", f"s3://{bucket}/{key}", Bucket=bucket, Key=key)
        except AwsError as e:
            if e.code not in ("AccessDenied", "403"):
                raise
            folder = key.rpartition("/")[0]
            s3 = f"arn:{self.aws.partition}:s3:::"
            objects = f"{s3}{bucket}/{folder + '/' if folder else ''}*"
            raise AwsError(
                f"s3:GetObject s3://{bucket}/{key}: access denied ({e.code}). S3 also answers so for an object "
                "that does not exist when the caller may not list the bucket.",
                hint=f"Allow s3:GetObject, s3:PutObject and s3:DeleteObject on {objects} and s3:ListBucket on "
                f"{s3}{bucket} (docs/team.md#permissions).",
                code=e.code, details=e.details) from None
        if resp is None:
            return None
        try:
            data = resp["Body"].read()
        except BotoCoreError as e:
            raise translate(e, "s3:GetObject", f"s3://{bucket}/{key}") from None
        return bytes(data), str(resp["ETag"])

    def put(self, bucket: str, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: bool = False, kms_key: str = "") -> str:
        """Write the object; with `if_match` only over that ETag, with `if_none_match` only when the
        key does not exist (else `PreconditionFailed`). Returns the new ETag.

        Encrypted with SSE-S3, or with `kms_key` SSE-KMS under that key. PutObject's SSEKMSKeyId
        takes a key ID, key ARN or alias; a key of another account needs its full ARN (S3 API
        reference, PutObject). The caller then needs kms:GenerateDataKey on the key to write and
        kms:Decrypt to read (S3 User Guide, "Using server-side encryption with AWS KMS keys")."""
        cond: dict[str, str] = {}
        if if_match is not None:
            cond["IfMatch"] = if_match
        if if_none_match:
            cond["IfNoneMatch"] = "*"
        sse = {"ServerSideEncryption": self.SSE_KMS, "SSEKMSKeyId": kms_key} if kms_key else \
            {"ServerSideEncryption": self.SSE}
        resp = self.call("PutObject", f"s3://{bucket}/{key}", Bucket=bucket, Key=key, Body=data,
                         ContentType="application/json", **sse, **cond)
        return str(resp["ETag"])

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object (with `if_match`, only that version of it, else `PreconditionFailed`)."""
        cond = {"IfMatch": if_match} if if_match is not None else {}
        return self._delete("DeleteObject", f"s3://{bucket}/{key}", Bucket=bucket, Key=key, **cond)

    def versioning_enabled(self, bucket: str) -> bool:
        """Whether the bucket keeps every version of an object (then no `.backup` object is needed)."""
        try:
            resp = self.call("GetBucketVersioning", f"s3://{bucket}", Bucket=bucket)
        except AwsError as e:
            if e.code in ("AccessDenied", "403"):
                return False  # not allowed to ask: keep a .backup object to be safe
            raise
        return resp.get("Status") == "Enabled"


class Runtime(_Service):
    def invoke(self, endpoint: str, body: bytes, *, content_type: str = "application/json",
               accept: str | None = "application/json", custom_attributes: str | None = None) -> tuple[bytes, str]:
        """InvokeEndpoint: the answer's bytes and content type. `accept` None sends no Accept header;
        `custom_attributes` goes to the container as X-Amzn-SageMaker-Custom-Attributes."""
        params: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": content_type}
        if accept is not None:
            params["Accept"] = accept
        if custom_attributes is not None:
            params["CustomAttributes"] = custom_attributes
        resp = self.call("InvokeEndpoint", endpoint, **params)
        try:
            data = resp["Body"].read()
        except BotoCoreError as e:
            raise translate(e, "sagemaker-runtime:InvokeEndpoint", endpoint) from None
        return bytes(data), str(resp.get("ContentType", ""))

    def invoker(self, endpoint: str, *, pool: int = 64, fresh_key: bool = False) -> Callable[[bytes, str], bytes]:
        """InvokeEndpoint for many calls (esmctl.client): `invoke(body, custom_attributes) -> answer`.
        Its own client, without botocore's retries (the caller retries, and must see throttling to
        adapt its concurrency), timeouts above the 60 s limit, `pool` connections. Every failure is a
        CallFailed carrying AWS's code and whether a later try may pass. `fresh_key`: the key was
        made minutes ago, so IAM may still refuse it for a few seconds (consistency.py): retried."""
        cfg = BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10,
                         read_timeout=70, max_pool_connections=pool, user_agent_extra=f"esmctl/{__version__}")
        try:
            client = self.aws.session.client("sagemaker-runtime", region_name=self.aws.region,
                                             endpoint_url=self.aws.endpoint_url, config=cfg)
        except BotoCoreError as e:
            raise translate(e, "sagemaker-runtime client") from None

        def invoke(body: bytes, custom_attributes: str) -> bytes:
            try:
                resp = client.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="application/json",
                                              Accept="application/json", CustomAttributes=custom_attributes)
                return bytes(resp["Body"].read())
            except ClientError as e:
                err = e.response.get("Error", {})
                code = str(err.get("Code", "") or "Unknown")
                status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                original = int(e.response.get("OriginalStatusCode", 0) or 0)
                retryable = (code in CallFailed.RETRYABLE or status >= 500 or (code == "ModelError" and original >= 500)
                             or (fresh_key and code in CallFailed.FRESH_KEY))
                hint = ("The caller may not invoke this endpoint: check the credentials (--profile, --as-shared-user) "
                        "and their policy (`esmctl permissions --scope invoke`)."
                        if code in CallFailed.STOPS_ALL or status == 403 else "")
                raise CallFailed(f"InvokeEndpoint {endpoint}: {code}: {err.get('Message') or e}", code=code,
                                 hint=hint, details=f"HTTP {status}", retryable=retryable) from None
            except (BotoConnectionError, HTTPClientError, ResponseStreamingError, IncompleteReadError) as e:
                # lost, refused, timed-out or cut-short connections (EndpointConnectionError, ConnectTimeoutError,
                # ReadTimeoutError, ConnectionClosedError, SSLError …): a later try may pass
                raise CallFailed(f"InvokeEndpoint {endpoint}: {e}", code="ConnectionError", retryable=True) from None
            except (BotoCoreError, RuntimeError) as e:  # credentials (missing, expired SSO), a broken setup
                problem = translate(e, "sagemaker-runtime:InvokeEndpoint", endpoint)
                raise CallFailed(problem.message, code="BotoCoreError", hint=problem.hint,
                                 details=problem.details) from None

        return invoke


__all__ = ["Aws", "is_not_found"]
