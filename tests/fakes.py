"""In-memory fakes of esmctl's AWS adapters and of time, for fast tests of the middle layer
(executor, handlers, observe, reconcile, wait): no boto3 session, no network, no moto, no sleeping.

`FakeAws` has the typed adapter methods those layers call (`aws.sagemaker.*`, `aws.iam.*`,
`aws.scheduler.*`, `aws.secrets.*`, `aws.sts.*`, `with_credentials`, `account_id`, `region`,
`cancel`, `notify`). It answers as the real adapters do: describes answer None and deletes False
for what is not there, and refusals are the `EsmctlError`s that `esmctl.aws.errors.translate`
makes of AWS's error codes (so "not found", "already exists" and SageMaker's "in-progress" read
as in production). IAM refuses deletes with DeleteConflict while things are attached, and a user
has at most two access keys, as in AWS.

Time is a `FakeClock`: endpoints go Creating → InService, Updating → InService and Deleting →
gone once the clock has passed their duration (`FakeSageMaker.seconds`), and stop timers
(EventBridge Scheduler) fire once its wall clock passes their time, deleting their endpoint if
the timer's role allows it. Give the `Waiter` `clock=clock.now, sleep=clock.sleep` and waiting
costs no real time.

Every call is recorded (`fake.calls`, `fake.count(op)`), under AWS's operation name
("CreateEndpoint", "ListModels" …) and the resource it is about. `fake.fail(op, name, error)`
makes a call fail (before it takes effect, or `after=True`: it takes effect and the answer is
lost); `fake.on(op, fn)` runs `fn(name)` inside the call, before it takes effect (to look at the
state file at that instant, or to raise KeyboardInterrupt as Ctrl-C would).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from esmctl.aws.errors import translate
from esmctl.errors import EsmctlError, NotFound
from esmctl.events import Plain

REGION = "us-east-2"
ACCOUNT = "123456789012"
PAGE = 100  # List* page size, as esmctl asks for
EPOCH = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)  # the fake wall clock's start
MAX_KEYS = 2  # IAM: access keys per user
MAX_VERSIONS = 5  # IAM: versions of a managed policy


# --- time ---------------------------------------------------------------------------------------
class FakeClock:
    """Monotonic seconds (`now`) and a wall clock (`utcnow`) that move only when someone sleeps or
    the test advances them. Thread-safe: the executor's workers share it."""

    def __init__(self, start: dt.datetime = EPOCH) -> None:
        self.start = start
        self._t = 0.0
        self.slept = 0.0  # total seconds slept through `sleep`
        self.sleeps = 0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    __call__ = now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._t += max(0.0, float(seconds))
            self.slept += max(0.0, float(seconds))
            self.sleeps += 1

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def utcnow(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.now())

    def mono(self, at: dt.datetime) -> float:
        """The `now()` reading at wall-clock time `at`."""
        return (at - self.start).total_seconds()


# --- calls, faults, hooks -------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    op: str  # AWS's operation name: CreateEndpoint
    name: str  # the resource it is about ("" for listings)


Match = str | Callable[[str], bool] | None


@dataclass
class _Fault:
    op: str
    name: Match
    error: BaseException | None
    times: int | None  # None: every matching call
    after: bool

    def matches(self, op: str, name: str) -> bool:
        if op != self.op or self.times == 0:
            return False
        if self.name is None:
            return True
        if callable(self.name):
            return bool(self.name(name))
        return self.name.lower() == name.lower()


def aws_error(operation: str, resource: str, code: str, message: str) -> Exception:
    """The error the real adapter raises for AWS's answer `code: message` (esmctl.aws.errors.translate)."""
    op = operation.partition(":")[2] or operation
    return translate(ClientError({"Error": {"Code": code, "Message": message}}, op), operation, resource)


class Log:
    """What every fake service of one FakeAws shares: the lock, the record of calls, faults and hooks."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.faults: list[_Fault] = []
        self.hooks: list[tuple[str, Callable[[str], None]]] = []
        self.ticks: list[Callable[[], None]] = []  # what moves when time passes (endpoints, schedules)

    def tick(self) -> None:
        with self.lock:
            for t in self.ticks:
                t()

    def _take(self, op: str, name: str, after: bool) -> _Fault | None:
        with self.lock:
            for f in self.faults:
                if f.after == after and f.matches(op, name):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    @contextlib.contextmanager
    def call(self, service: str, op: str, name: str = "") -> Iterator[None]:
        """One API call: recorded; hooks run; a fault raised before (or after) it takes effect."""
        with self.lock:
            self.calls.append(Call(op, name))
            hooks = [fn for o, fn in self.hooks if o == op]
        for fn in hooks:
            fn(name)
        fault = self._take(op, name, after=False)
        if fault is not None:
            raise fault.error or aws_error(f"{service}:{op}", name, "InternalFailure", "injected failure")
        with self.lock:
            self.tick()
            yield
        fault = self._take(op, name, after=True)
        if fault is not None:
            raise fault.error or aws_error(f"{service}:{op}", name, "InternalFailure", "injected failure")


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class _Service:
    SERVICE = ""

    def __init__(self, log: Log, region: str, account: str) -> None:
        self.log = log
        self.region = region
        self.account = account

    @property
    def clock(self) -> FakeClock:
        return self.log.clock

    def _call(self, op: str, name: str = "") -> contextlib.AbstractContextManager[None]:
        return self.log.call(self.SERVICE, op, name)

    def _error(self, op: str, name: str, code: str, message: str) -> Exception:
        return aws_error(f"{self.SERVICE}:{op}", name, code, message)

    def call_or_none(self, op: str, resource: str = "", **p: Any) -> dict[str, Any] | None:
        """`Aws.api(...).call_or_none`: None when the resource does not exist (for fakes with a `call`)."""
        try:
            return self.call(op, resource, **p)  # type: ignore[attr-defined,no-any-return]
        except NotFound:
            return None

    def _pages(self, op: str, items: Callable[[], list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        """A paginated listing: one recorded call per page of PAGE, as the real adapter makes them."""
        with self._call(op):
            snapshot = items()
        for start in range(0, max(len(snapshot), 1), PAGE):
            if start:
                with self._call(op):
                    pass
            yield from snapshot[start:start + PAGE]


# --- SageMaker ----------------------------------------------------------------------------------
@dataclass
class FakeEndpoint:
    name: str
    arn: str
    config_name: str
    status: str
    created: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)
    failure_reason: str = ""
    until: float | None = None  # clock.now() when the current operation completes
    pending_config: str = ""  # Updating: the config being deployed
    fail_reason: str | None = None  # Creating: ends Failed with this reason
    rollback: bool = False  # Updating: SageMaker rolls back to the old config


IN_PROGRESS = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}
UPDATABLE = {"InService", "UpdateRollbackFailed"}


class FakeSageMaker(_Service):
    SERVICE = "sagemaker"

    def __init__(self, log: Log, region: str, account: str) -> None:
        super().__init__(log, region, account)
        self.models: dict[str, dict[str, Any]] = {}  # lower name → record
        self.configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, FakeEndpoint] = {}
        self.tags: dict[str, dict[str, str]] = {}  # ARN → tags
        self.seconds = {"Creating": 600.0, "Updating": 300.0, "Deleting": 60.0}
        self._fail_next: dict[str, str] = {}
        self._rollback_next: set[str] = set()
        log.ticks.append(self.advance)

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    # --- test controls (not AWS calls; not recorded) ----------------------------------------------
    def fail_next_create(self, endpoint: str, reason: str) -> None:
        """The endpoint's next creation ends `Failed` with this FailureReason."""
        self._fail_next[endpoint.lower()] = reason

    def roll_back_next_update(self, endpoint: str) -> None:
        """The endpoint's next update ends InService on its old config (SageMaker rolled it back)."""
        self._rollback_next.add(endpoint.lower())

    def vanish(self, endpoint: str) -> None:
        """Someone deleted the endpoint outside esmctl (gone at once)."""
        with self.log.lock:
            self.endpoints.pop(endpoint.lower(), None)

    def set_status(self, endpoint: str, status: str, reason: str = "") -> None:
        """The endpoint is `status` now (and stays so), e.g. Failed or OutOfService with a FailureReason."""
        with self.log.lock:
            e = self.endpoints[endpoint.lower()]
            e.status, e.failure_reason, e.until = status, reason, None

    def status(self, endpoint: str) -> str | None:
        with self.log.lock:
            self.log.tick()
            e = self.endpoints.get(endpoint.lower())
            return e.status if e else None

    def endpoint(self, name: str) -> FakeEndpoint | None:
        with self.log.lock:
            self.log.tick()
            return self.endpoints.get(name.lower())

    # --- time passes --------------------------------------------------------------------------------
    def advance(self) -> None:
        now = self.clock.now()
        for key, e in list(self.endpoints.items()):
            if e.until is None or now < e.until:
                continue
            e.until = None
            if e.status == "Deleting":
                del self.endpoints[key]
            elif e.status == "Creating":
                e.status = "Failed" if e.fail_reason is not None else "InService"
                e.failure_reason, e.fail_reason = e.fail_reason or "", None
            elif e.status == "Updating":
                if not e.rollback:
                    e.config_name = e.pending_config
                e.status, e.pending_config, e.rollback = "InService", "", False

    def start_deleting(self, e: FakeEndpoint, at: float | None = None) -> None:
        e.status = "Deleting"
        e.until = (self.clock.now() if at is None else at) + self.seconds["Deleting"]

    # --- reads --------------------------------------------------------------------------------------
    def list_models(self) -> Iterator[dict[str, Any]]:
        return self._pages("ListModels", lambda: [{"ModelName": m["ModelName"], "ModelArn": m["ModelArn"],
                                                    "CreationTime": m["CreationTime"]} for m in self.models.values()])

    def list_endpoint_configs(self) -> Iterator[dict[str, Any]]:
        return self._pages("ListEndpointConfigs", lambda: [
            {"EndpointConfigName": c["EndpointConfigName"], "EndpointConfigArn": c["EndpointConfigArn"],
             "CreationTime": c["CreationTime"]} for c in self.configs.values()])

    def list_endpoints(self) -> Iterator[dict[str, Any]]:
        return self._pages("ListEndpoints", lambda: [
            {"EndpointName": e.name, "EndpointArn": e.arn, "EndpointStatus": e.status, "CreationTime": e.created}
            for e in self.endpoints.values()])

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        try:
            with self._call("DescribeEndpoint", name):
                e = self._find_endpoint("DescribeEndpoint", name)
                d = {"EndpointName": e.name, "EndpointArn": e.arn, "EndpointConfigName": e.config_name,
                     "EndpointStatus": e.status, "CreationTime": e.created}
                if e.failure_reason:
                    d["FailureReason"] = e.failure_reason
                return d
        except NotFound:
            return None

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        try:
            with self._call("DescribeEndpointConfig", name):
                return dict(self._find_config("DescribeEndpointConfig", name))
        except NotFound:
            return None

    def describe_model(self, name: str) -> dict[str, Any] | None:
        try:
            with self._call("DescribeModel", name):
                m = self.models.get(name.lower())
                if m is None:
                    raise self._error("DescribeModel", name, "ValidationException",
                                      f'Could not find model "{self.arn("model", name)}".')
                return dict(m)
        except NotFound:
            return None

    def confirm_endpoint_config(self, name: str) -> None:
        """The real adapter retries DescribeEndpointConfig until the config shows (consistency.py);
        here it shows at once, or the call fails as the adapter does when it never shows."""
        if self.describe_endpoint_config(name) is None:
            raise aws_error("sagemaker:DescribeEndpointConfig", name, "NotFound", "still not found")

    def list_tags(self, arn: str) -> dict[str, str]:
        with self._call("ListTags", arn):
            return dict(self.tags.get(arn, {}))

    def _find_endpoint(self, op: str, name: str) -> FakeEndpoint:
        e = self.endpoints.get(name.lower())
        if e is None:
            raise self._error(op, name, "ValidationException",
                              f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return e

    def _find_config(self, op: str, name: str) -> dict[str, Any]:
        c = self.configs.get(name.lower())
        if c is None:
            raise self._error(op, name, "ValidationException",
                              f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".')
        return c

    # --- changes ------------------------------------------------------------------------------------
    def create_model(self, name: str, *, role_arn: str, model_package: str, tags: dict[str, str]) -> str:
        with self._call("CreateModel", name):
            if name.lower() in self.models:
                raise self._error("CreateModel", name, "ValidationException",
                                  f'Cannot create already existing model "{self.arn("model", name)}".')
            arn = self.arn("model", name)
            self.models[name.lower()] = {"ModelName": name, "ModelArn": arn, "ExecutionRoleArn": role_arn,
                                         "PrimaryContainer": {"ModelPackageName": model_package},
                                         "CreationTime": self.clock.utcnow()}
            self.tags[arn] = dict(tags)
            return arn

    def create_endpoint_config(self, name: str, *, model_name: str, instance_type: str, instance_count: int,
                               tags: dict[str, str]) -> str:
        with self._call("CreateEndpointConfig", name):
            if name.lower() in self.configs:
                raise self._error("CreateEndpointConfig", name, "ValidationException",
                                  f'Cannot create already existing endpoint configuration '
                                  f'"{self.arn("endpoint-config", name)}".')
            if model_name.lower() not in self.models:
                raise self._error("CreateEndpointConfig", name, "ValidationException",
                                  f'Could not find model "{self.arn("model", model_name)}".')
            arn = self.arn("endpoint-config", name)
            self.configs[name.lower()] = {
                "EndpointConfigName": name, "EndpointConfigArn": arn, "CreationTime": self.clock.utcnow(),
                "ProductionVariants": [{"VariantName": "variant-1", "ModelName": model_name,
                                        "InstanceType": instance_type, "InitialInstanceCount": instance_count}]}
            self.tags[arn] = dict(tags)
            return arn

    def create_endpoint(self, name: str, *, config_name: str, tags: dict[str, str]) -> str:
        with self._call("CreateEndpoint", name):
            return self.start_creating(name, config_name, tags)

    def start_creating(self, name: str, config_name: str, tags: dict[str, str], at: float | None = None) -> str:
        """CreateEndpoint's effect (not recorded as a call: also what a schedule's target does), begun
        at clock reading `at` (default now)."""
        if name.lower() in self.endpoints:
            raise self._error("CreateEndpoint", name, "ValidationException",
                              f'Cannot create already existing endpoint "{self.arn("endpoint", name)}".')
        self._find_config("CreateEndpoint", config_name)
        at = self.clock.now() if at is None else at
        e = FakeEndpoint(name, self.arn("endpoint", name), config_name, "Creating",
                         self.clock.start + dt.timedelta(seconds=at), dict(tags), until=at + self.seconds["Creating"],
                         fail_reason=self._fail_next.pop(name.lower(), None))
        self.endpoints[name.lower()] = e
        self.tags[e.arn] = dict(tags)
        return e.arn

    def update_endpoint(self, name: str, *, config_name: str, retain_counts: bool = False) -> str:
        self.retained = [*getattr(self, "retained", []), name] if retain_counts else getattr(self, "retained", [])
        with self._call("UpdateEndpoint", name):
            e = self._find_endpoint("UpdateEndpoint", name)
            if e.status not in UPDATABLE:
                raise self._error("UpdateEndpoint", name, "ValidationException",
                                  f'Cannot update in-progress endpoint "{e.arn}".')
            self._find_config("UpdateEndpoint", config_name)
            e.status, e.pending_config = "Updating", config_name
            e.until = self.clock.now() + self.seconds["Updating"]
            e.rollback = name.lower() in self._rollback_next
            self._rollback_next.discard(name.lower())
            return e.arn

    def delete_endpoint(self, name: str) -> bool:
        try:
            with self._call("DeleteEndpoint", name):
                e = self._find_endpoint("DeleteEndpoint", name)
                if e.status == "Deleting":
                    return True
                if e.status in IN_PROGRESS:
                    raise self._error("DeleteEndpoint", name, "ValidationException",
                                      f'Cannot delete in-progress endpoint "{e.arn}".')
                self.start_deleting(e)
                return True
        except NotFound:
            return False

    def delete_endpoint_config(self, name: str) -> bool:
        try:
            with self._call("DeleteEndpointConfig", name):
                self._find_config("DeleteEndpointConfig", name)
                del self.configs[name.lower()]
                return True
        except NotFound:
            return False

    def delete_model(self, name: str) -> bool:
        try:
            with self._call("DeleteModel", name):
                if self.models.pop(name.lower(), None) is None:
                    raise self._error("DeleteModel", name, "ValidationException",
                                      f'Could not find model "{self.arn("model", name)}".')
                return True
        except NotFound:
            return False

    def add_tags(self, arn: str, tags: dict[str, str]) -> None:
        with self._call("AddTags", arn):
            self.tags.setdefault(arn, {}).update(tags)


# --- IAM --------------------------------------------------------------------------------------------
def _allows(document: str, action: str, resource: str) -> bool:
    """Whether an IAM policy document allows `action` on `resource` (exact ARNs or "*", no wildcards else)."""
    statements = json.loads(document).get("Statement", [])
    for s in statements if isinstance(statements, list) else [statements]:
        actions = s.get("Action", [])
        resources = s.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if s.get("Effect") == "Allow" and action in actions and (resource in resources or "*" in resources):
            return True
    return False


class FakeIam(_Service):
    SERVICE = "iam"

    def __init__(self, log: Log, region: str, account: str) -> None:
        super().__init__(log, region, account)
        self.roles: dict[str, dict[str, Any]] = {}  # lower name → Role (+ "inline", "attached")
        self.users: dict[str, dict[str, Any]] = {}  # lower name → User (+ "attached")
        self.policies: dict[str, dict[str, Any]] = {}  # ARN → Policy (+ "versions")
        self.keys: dict[str, dict[str, Any]] = {}  # key id → AccessKey
        self._ids = itertools.count(1)

    def _no_entity(self, op: str, what: str, name: str) -> Exception:
        return self._error(op, name, "NoSuchEntity", f"The {what} with name {name} cannot be found.")

    def _role(self, op: str, name: str) -> dict[str, Any]:
        r = self.roles.get(name.lower())
        if r is None:
            raise self._no_entity(op, "role", name)
        return r

    def _user(self, op: str, name: str) -> dict[str, Any]:
        u = self.users.get(name.lower())
        if u is None:
            raise self._no_entity(op, "user", name)
        return u

    def _policy(self, op: str, arn: str) -> dict[str, Any]:
        p = self.policies.get(arn)
        if p is None:
            raise self._error(op, arn, "NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
        return p

    def _exists(self, arn: str) -> bool:
        return arn.startswith("arn:aws:iam::aws:policy/") or arn in self.policies

    def _public(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k not in ("inline", "attached", "versions")}

    # --- roles ----------------------------------------------------------------------------------------
    def get_role(self, name: str) -> dict[str, Any] | None:
        try:
            with self._call("GetRole", name):
                return self._public(self._role("GetRole", name))
        except NotFound:
            return None

    def create_role(self, name: str, *, tags: dict[str, str], service: str = "sagemaker.amazonaws.com",
                    description: str = "") -> dict[str, Any]:
        with self._call("CreateRole", name):
            if name.lower() in self.roles:
                raise self._error("CreateRole", name, "EntityAlreadyExists", f"Role with name {name} already exists.")
            trust = {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
            self.roles[name.lower()] = {
                "RoleName": name, "Arn": f"arn:aws:iam::{self.account}:role/{name}", "Description": description,
                "AssumeRolePolicyDocument": trust, "Tags": _tags(tags), "inline": {}, "attached": set()}
            return self._public(self.roles[name.lower()])

    def tag_role(self, name: str, tags: dict[str, str]) -> None:
        with self._call("TagRole", name):
            r = self._role("TagRole", name)
            r["Tags"] = _tags({**{t["Key"]: t["Value"] for t in r["Tags"]}, **tags})

    def put_role_policy(self, role: str, name: str, document: str) -> None:
        with self._call("PutRolePolicy", role):
            self._role("PutRolePolicy", role)["inline"][name] = document

    def delete_role_policy(self, role: str, name: str) -> None:
        try:
            with self._call("DeleteRolePolicy", role):
                inline = self._role("DeleteRolePolicy", role)["inline"]
                if inline.pop(name, None) is None:
                    raise self._no_entity("DeleteRolePolicy", "role policy", name)
        except NotFound:
            return

    def list_attached_role_policies(self, name: str) -> list[dict[str, Any]]:
        try:
            with self._call("ListAttachedRolePolicies", name):
                return [{"PolicyArn": a, "PolicyName": a.rsplit("/", 1)[-1]}
                        for a in sorted(self._role("ListAttachedRolePolicies", name)["attached"])]
        except NotFound:
            return []

    def attach_role_policy(self, name: str, policy_arn: str) -> None:
        with self._call("AttachRolePolicy", name):
            r = self._role("AttachRolePolicy", name)
            if not self._exists(policy_arn):
                self._policy("AttachRolePolicy", policy_arn)
            r["attached"].add(policy_arn)

    def detach_role_policy(self, name: str, policy_arn: str) -> bool:
        try:
            with self._call("DetachRolePolicy", name):
                r = self._role("DetachRolePolicy", name)
                if policy_arn not in r["attached"]:
                    raise self._error("DetachRolePolicy", name, "NoSuchEntity", f"Policy {policy_arn} was not found.")
                r["attached"].discard(policy_arn)
                return True
        except NotFound:
            return False

    def delete_role(self, name: str) -> bool:
        try:
            with self._call("DeleteRole", name):
                r = self._role("DeleteRole", name)
                if r["inline"] or r["attached"]:
                    raise self._error("DeleteRole", name, "DeleteConflict",
                                      "Cannot delete entity, must delete policies first.")
                del self.roles[name.lower()]
                return True
        except NotFound:
            return False

    def role_policy(self, role: str, name: str) -> str | None:
        """An inline policy's document (a test's look; not an AWS call)."""
        r = self.roles.get(role.lower())
        return r["inline"].get(name) if r else None

    # --- users and keys -------------------------------------------------------------------------------
    def get_user(self, name: str) -> dict[str, Any] | None:
        try:
            with self._call("GetUser", name):
                return self._public(self._user("GetUser", name))
        except NotFound:
            return None

    def create_user(self, name: str, *, tags: dict[str, str]) -> dict[str, Any]:
        with self._call("CreateUser", name):
            if name.lower() in self.users:
                raise self._error("CreateUser", name, "EntityAlreadyExists", f"User with name {name} already exists.")
            self.users[name.lower()] = {"UserName": name, "Arn": f"arn:aws:iam::{self.account}:user/{name}",
                                        "Tags": _tags(tags), "attached": set()}
            return self._public(self.users[name.lower()])

    def tag_user(self, name: str, tags: dict[str, str]) -> None:
        with self._call("TagUser", name):
            u = self._user("TagUser", name)
            u["Tags"] = _tags({**{t["Key"]: t["Value"] for t in u["Tags"]}, **tags})

    def delete_user(self, name: str) -> bool:
        try:
            with self._call("DeleteUser", name):
                u = self._user("DeleteUser", name)
                if u["attached"] or self.user_keys(name):
                    raise self._error("DeleteUser", name, "DeleteConflict",
                                      "Cannot delete entity, must delete access keys and policies first.")
                del self.users[name.lower()]
                return True
        except NotFound:
            return False

    def user_keys(self, user: str) -> list[str]:
        """The user's access key ids, oldest first (a test's look; not an AWS call)."""
        return [k for k, v in self.keys.items() if v["UserName"].lower() == user.lower()]

    def list_access_keys(self, user: str) -> list[dict[str, Any]]:
        try:
            with self._call("ListAccessKeys", user):
                self._user("ListAccessKeys", user)
                return [{k: v for k, v in self.keys[i].items() if k != "SecretAccessKey"} for i in self.user_keys(user)]
        except NotFound:
            return []

    def create_access_key(self, user: str) -> dict[str, Any]:
        with self._call("CreateAccessKey", user):
            u = self._user("CreateAccessKey", user)
            if len(self.user_keys(user)) >= MAX_KEYS:
                raise self._error("CreateAccessKey", user, "LimitExceeded",
                                  f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
            n = next(self._ids)
            key = {"UserName": u["UserName"], "AccessKeyId": f"AKIAFAKE{n:012d}", "Status": "Active",
                   "SecretAccessKey": f"secret-{n}", "CreateDate": self.clock.utcnow()}
            self.keys[key["AccessKeyId"]] = key
            return dict(key)

    def delete_access_key(self, user: str, key_id: str) -> bool:
        try:
            with self._call("DeleteAccessKey", f"{user}/{key_id}"):
                key = self.keys.get(key_id)
                if key is None or key["UserName"].lower() != user.lower():
                    raise self._no_entity("DeleteAccessKey", "access key", key_id)
                del self.keys[key_id]
                return True
        except NotFound:
            return False

    def list_attached_user_policies(self, user: str) -> list[dict[str, Any]]:
        try:
            with self._call("ListAttachedUserPolicies", user):
                return [{"PolicyArn": a, "PolicyName": a.rsplit("/", 1)[-1]}
                        for a in sorted(self._user("ListAttachedUserPolicies", user)["attached"])]
        except NotFound:
            return []

    def attach_user_policy(self, user: str, policy_arn: str) -> None:
        with self._call("AttachUserPolicy", user):
            u = self._user("AttachUserPolicy", user)
            if not self._exists(policy_arn):
                self._policy("AttachUserPolicy", policy_arn)
            u["attached"].add(policy_arn)

    def detach_user_policy(self, user: str, policy_arn: str) -> bool:
        try:
            with self._call("DetachUserPolicy", user):
                u = self._user("DetachUserPolicy", user)
                if policy_arn not in u["attached"]:
                    raise self._error("DetachUserPolicy", user, "NoSuchEntity", f"Policy {policy_arn} was not found.")
                u["attached"].discard(policy_arn)
                return True
        except NotFound:
            return False

    # --- managed policies -----------------------------------------------------------------------------
    def get_policy(self, arn: str) -> dict[str, Any] | None:
        try:
            with self._call("GetPolicy", arn):
                return self._public(self._policy("GetPolicy", arn))
        except NotFound:
            return None

    def create_policy(self, name: str, *, document: str, description: str, tags: dict[str, str]) -> str:
        with self._call("CreatePolicy", name):
            arn = f"arn:aws:iam::{self.account}:policy/{name}"
            if arn in self.policies:
                raise self._error("CreatePolicy", name, "EntityAlreadyExists",
                                  f"A policy called {name} already exists. Duplicate names are not allowed.")
            self.policies[arn] = {"PolicyName": name, "Arn": arn, "Description": description, "Tags": _tags(tags),
                                  "DefaultVersionId": "v1", "versions": [self._version(1, document, True)]}
            return arn

    def _version(self, n: int, document: str, default: bool) -> dict[str, Any]:
        return {"VersionId": f"v{n}", "Document": document, "IsDefaultVersion": default,
                "CreateDate": self.clock.utcnow() + dt.timedelta(microseconds=n)}

    def document(self, arn: str) -> str | None:
        """A managed policy's default version (a test's look; not an AWS call)."""
        p = self.policies.get(arn)
        return next(v["Document"] for v in p["versions"] if v["IsDefaultVersion"]) if p else None

    def list_policy_versions(self, arn: str) -> list[dict[str, Any]]:
        with self._call("ListPolicyVersions", arn):
            return [{k: v for k, v in ver.items() if k != "Document"}
                    for ver in self._policy("ListPolicyVersions", arn)["versions"]]

    def create_policy_version(self, arn: str, *, document: str) -> None:
        with self._call("CreatePolicyVersion", arn):
            p = self._policy("CreatePolicyVersion", arn)
            if len(p["versions"]) >= MAX_VERSIONS:
                raise self._error("CreatePolicyVersion", arn, "LimitExceeded",
                                  f"A managed policy can have up to {MAX_VERSIONS} versions.")
            n = max(int(v["VersionId"][1:]) for v in p["versions"]) + 1
            for v in p["versions"]:
                v["IsDefaultVersion"] = False
            p["versions"].append(self._version(n, document, True))
            p["DefaultVersionId"] = f"v{n}"

    def delete_policy_version(self, arn: str, version_id: str) -> None:
        try:
            with self._call("DeletePolicyVersion", arn):
                p = self._policy("DeletePolicyVersion", arn)
                v = next((v for v in p["versions"] if v["VersionId"] == version_id), None)
                if v is None:
                    raise self._error("DeletePolicyVersion", arn, "NoSuchEntity", f"{version_id} not found.")
                if v["IsDefaultVersion"]:
                    raise self._error("DeletePolicyVersion", arn, "DeleteConflict",
                                      "Cannot delete the default version of a policy.")
                p["versions"].remove(v)
        except NotFound:
            return

    def delete_policy(self, arn: str) -> bool:
        try:
            with self._call("DeletePolicy", arn):
                p = self._policy("DeletePolicy", arn)
                attached = any(arn in x["attached"] for x in [*self.users.values(), *self.roles.values()])
                if attached or len(p["versions"]) > 1:
                    raise self._error("DeletePolicy", arn, "DeleteConflict",
                                      "Cannot delete a policy attached to entities or with versions other "
                                      "than the default.")
                del self.policies[arn]
                return True
        except NotFound:
            return False


# --- EventBridge Scheduler --------------------------------------------------------------------------
_AWS_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron day-of-week 1-7 (EventBridge Scheduler)
_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \? \* (\S+) \*\)$")
_TARGETS = {"createEndpoint": "sagemaker:CreateEndpoint", "deleteEndpoint": "sagemaker:DeleteEndpoint"}


def cron_days(field: str) -> set[int] | None:
    """The weekdays (datetime.weekday(), 0 = Monday) of a cron day-of-week field: `*`, names, and
    ranges in AWS's SUN … SAT order; None when it is not one the fake understands. A range that wraps
    past SAT (SAT-SUN, MON-SUN) is refused: whether EventBridge Scheduler accepts one is not documented."""
    if field == "*":
        return set(range(7))
    out: set[int] = set()
    for item in field.split(","):
        a, _, b = item.partition("-")
        if a not in _AWS_DAYS or (b and b not in _AWS_DAYS):
            return None
        i, j = _AWS_DAYS.index(a), _AWS_DAYS.index(b or a)
        if j < i:
            return None
        out |= {(k - 1) % 7 for k in range(i, j + 1)}  # SUN (0 in _AWS_DAYS) is weekday 6
    return out


class FakeScheduler(_Service):
    """EventBridge Scheduler, in the default group. One-time schedules whose target deletes an endpoint
    (the typed `create_stop`/`delete` of stop timers): they fire once the wall clock passes `at`, with
    the permissions of their role (its inline policies), and stay (ActionAfterCompletion NONE).

    Recurring schedules through the generic interface (`aws.api("scheduler")`: `call`, `call_or_none`,
    `pages`), as office hours make them: `cron(M H ? * DAYS *)` in ScheduleExpressionTimezone, whose
    universal target (`arn:aws:scheduler:::aws-sdk:sagemaker:createEndpoint|deleteEndpoint`) is run
    with its Input at every time the cron names once the wall clock passes it, as its role allows (the
    inline policies: CreateEndpoint on the endpoint and its config, AddTags on the endpoint when the
    Input has Tags; DeleteEndpoint on the endpoint). Each run is kept in the schedule's "runs" as
    (UTC time, "ok" | the error). CreateSchedule of an existing name is a ConflictException, a missing
    one for Update/Get/Delete a ResourceNotFoundException, as in AWS."""

    SERVICE = "scheduler"

    def __init__(self, log: Log, region: str, account: str, sagemaker: FakeSageMaker, iam: FakeIam) -> None:
        super().__init__(log, region, account)
        self.schedules: dict[str, dict[str, Any]] = {}
        self.sagemaker, self.iam = sagemaker, iam
        log.ticks.append(self._fire)

    def _arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule/default/{name}"

    def create_stop(self, name: str, *, at: str, endpoint: str, role_arn: str) -> str:
        with self._call("CreateSchedule", name):
            if name in self.schedules:
                raise self._error("CreateSchedule", name, "ConflictException", f"Schedule {name} already exists.")
            arn = self._arn(name)
            self.schedules[name] = {"Name": name, "Arn": arn, "At": at, "Endpoint": endpoint, "RoleArn": role_arn,
                                    "fired": None}
            return arn

    def delete(self, name: str) -> bool:
        try:
            with self._call("DeleteSchedule", name):
                if self.schedules.pop(name, None) is None:
                    raise self._error("DeleteSchedule", name, "ResourceNotFoundException",
                                      f"Schedule {name} does not exist.")
                return True
        except NotFound:
            return False

    # --- the generic interface: recurring schedules ---------------------------------------------------
    def call(self, op: str, resource: str = "", **p: Any) -> dict[str, Any]:
        name = p.get("Name", resource)
        with self._call(op, resource or name):
            if op in ("CreateSchedule", "UpdateSchedule"):
                if op == "CreateSchedule" and name in self.schedules:
                    raise self._error(op, name, "ConflictException", f"Schedule {name} already exists.")
                if op == "UpdateSchedule" and name not in self.schedules:
                    raise self._error(op, name, "ResourceNotFoundException", f"Schedule {name} does not exist.")
                runs = self.schedules[name].get("runs", []) if op == "UpdateSchedule" else []
                self.schedules[name] = self._recurring(op, name, p) | {"runs": runs}  # the history stays
                return {"ScheduleArn": self._arn(name)}
            if op in ("GetSchedule", "DeleteSchedule"):
                s = self.schedules.get(name)
                if s is None:
                    raise self._error(op, name, "ResourceNotFoundException", f"Schedule {name} does not exist.")
                if op == "DeleteSchedule":
                    del self.schedules[name]
                    return {}
                return {k: v for k, v in s.items() if k not in ("runs", "since")}
            raise NotImplementedError(op)

    def pages(self, op: str, key: str, **p: Any) -> Iterator[dict[str, Any]]:
        assert (op, key) == ("ListSchedules", "Schedules"), (op, key)
        prefix = p.get("NamePrefix", "")
        return self._pages(op, lambda: [{"Name": s["Name"], "Arn": s["Arn"], "GroupName": "default",
                                         "State": s.get("State", "ENABLED")}
                                        for n, s in sorted(self.schedules.items()) if n.startswith(prefix)])

    def _recurring(self, op: str, name: str, p: dict[str, Any]) -> dict[str, Any]:
        """A Create/UpdateSchedule request checked as AWS checks it (the parts office hours use)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        missing = [k for k in ("ScheduleExpression", "FlexibleTimeWindow", "Target") if k not in p]
        if missing or not {"Arn", "RoleArn"} <= set(p["Target"]):
            raise self._error(op, name, "ValidationException", f"Missing required parameters: {missing or 'Target'}")
        m = _CRON.match(p["ScheduleExpression"])
        if m is None or cron_days(m[3]) is None or not (int(m[1]) < 60 and int(m[2]) < 24):
            raise self._error(op, name, "ValidationException",
                              f"Invalid Schedule Expression {p['ScheduleExpression']}.")
        try:
            ZoneInfo(p.get("ScheduleExpressionTimezone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise self._error(op, name, "ValidationException", "Invalid ScheduleExpressionTimezone.") from None
        return {**p, "Name": name, "Arn": self._arn(name), "since": self.clock.utcnow(), "runs": []}

    # --- time passes ----------------------------------------------------------------------------------
    def due(self, s: dict[str, Any], after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """The times (UTC) in (after, until] a recurring schedule's cron names, in its time zone."""
        from zoneinfo import ZoneInfo

        m = _CRON.match(s["ScheduleExpression"])
        assert m is not None
        tz, days = ZoneInfo(s.get("ScheduleExpressionTimezone", "UTC")), cron_days(m[3]) or set()
        out, day = [], after.astimezone(tz).date()
        while day <= until.astimezone(tz).date():
            t = dt.datetime.combine(day, dt.time(int(m[2]), int(m[1])), tz).astimezone(dt.UTC)
            if day.weekday() in days and after < t <= until:
                out.append(t)
            day += dt.timedelta(days=1)
        return out

    def _fire(self) -> None:
        now = self.clock.utcnow()
        recurring = [s for s in self.schedules.values() if "At" not in s]
        due = sorted((t, s["Name"]) for s in recurring if s.get("State", "ENABLED") == "ENABLED"
                     for t in self.due(s, s["since"], now))
        for s in recurring:
            s["since"] = now
        for t, name in due:  # in time order across schedules (a start before the end that follows it)
            self.schedules[name]["runs"].append((t, self._run(self.schedules[name], t)))
        for s in self.schedules.values():
            if "At" not in s:
                continue
            at = dt.datetime.fromisoformat(s["At"]).replace(tzinfo=dt.UTC)
            if s["fired"] is not None or now < at:
                continue
            role = next((r for r in self.iam.roles.values() if r["Arn"] == s["RoleArn"]), None)
            e = self.sagemaker.endpoints.get(s["Endpoint"].lower())
            arn = self.sagemaker.arn("endpoint", s["Endpoint"])
            if role is None or not any(_allows(d, "sagemaker:DeleteEndpoint", arn) for d in role["inline"].values()):
                s["fired"] = "AccessDenied"
            elif e is None:
                s["fired"] = "ValidationException: Could not find endpoint"
            else:
                self.sagemaker.start_deleting(e, at=self.clock.mono(at))
                s["fired"] = "ok"
        self.sagemaker.advance()

    def _run(self, s: dict[str, Any], t: dt.datetime) -> str:
        """A recurring schedule's target at `t`, with its role's permissions."""
        target = s["Target"]
        api = target["Arn"].rsplit(":", 1)[-1]
        if not target["Arn"].startswith("arn:aws:scheduler:::aws-sdk:sagemaker:") or api not in _TARGETS:
            return f"unsupported target {target['Arn']}"
        params = json.loads(target.get("Input", "{}"))
        role = next((r for r in self.iam.roles.values() if r["Arn"] == target["RoleArn"]), None)
        docs = list(role["inline"].values()) if role else []
        endpoint = params.get("EndpointName", "")
        arn = self.sagemaker.arn("endpoint", endpoint)
        needs = [(_TARGETS[api], arn)]
        if api == "createEndpoint":
            needs.append(("sagemaker:CreateEndpoint",
                          self.sagemaker.arn("endpoint-config", params.get("EndpointConfigName", ""))))
            if params.get("Tags"):
                needs.append(("sagemaker:AddTags", arn))
        denied = [f"{a} on {r}" for a, r in needs if not any(_allows(d, a, r) for d in docs)]
        if denied:
            return "AccessDenied: " + ", ".join(denied)
        self.sagemaker.advance()
        try:
            if api == "createEndpoint":
                tags = {x["Key"]: x["Value"] for x in params.get("Tags", [])}
                self.sagemaker.start_creating(endpoint, params["EndpointConfigName"], tags, at=self.clock.mono(t))
            else:
                e = self.sagemaker.endpoints.get(endpoint.lower())
                if e is None:
                    return f'ValidationException: Could not find endpoint "{arn}".'
                if e.status in IN_PROGRESS - {"Deleting"}:
                    return f'ValidationException: Cannot delete in-progress endpoint "{arn}".'
                if e.status != "Deleting":
                    self.sagemaker.start_deleting(e, at=self.clock.mono(t))
        except EsmctlError as err:
            return err.details or str(err)
        return "ok"


# --- Secrets Manager, STS -------------------------------------------------------------------------
class FakeSecrets(_Service):
    SERVICE = "secretsmanager"

    def __init__(self, log: Log, region: str, account: str) -> None:
        super().__init__(log, region, account)
        self.secrets: dict[str, dict[str, Any]] = {}
        self.history: list[tuple[str, dict[str, Any] | None]] = []  # (name, value written; None: deleted)

    def value(self, name: str) -> dict[str, Any] | None:
        """The stored value (a test's look; not an AWS call)."""
        s = self.secrets.get(name)
        return dict(s["value"]) if s else None

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            with self._call("GetSecretValue", name):
                s = self.secrets.get(name)
                if s is None:
                    raise self._error("GetSecretValue", name, "ResourceNotFoundException",
                                      "Secrets Manager can't find the specified secret.")
                return dict(s["value"])
        except NotFound:
            return None

    def put(self, name: str, value: dict[str, Any], *, tags: dict[str, str], description: str) -> str:
        with self._call("PutSecretValue", name):
            s = self.secrets.get(name)
            if s is not None:
                s["value"] = dict(value)
                self.history.append((name, dict(value)))
                return str(s["ARN"])
        with self._call("CreateSecret", name):
            arn = f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{name}-AbCdEf"
            self.secrets[name] = {"ARN": arn, "value": dict(value), "Tags": _tags(tags), "Description": description}
            self.history.append((name, dict(value)))
            return arn

    def delete(self, name: str) -> bool:
        try:
            with self._call("DeleteSecret", name):
                if self.secrets.pop(name, None) is None:
                    raise self._error("DeleteSecret", name, "ResourceNotFoundException",
                                      "Secrets Manager can't find the specified secret.")
                self.history.append((name, None))
                return True
        except NotFound:
            return False


class FakeSts(_Service):
    """GetCallerIdentity: the caller's own identity, or, signing with an access key, that key's
    user's, provided the key exists in the fake IAM and its secret matches (else InvalidClientTokenId)."""

    SERVICE = "sts"

    def __init__(self, log: Log, region: str, account: str, iam: FakeIam,
                 credentials: tuple[str, str] | None = None) -> None:
        super().__init__(log, region, account)
        self.iam, self.credentials = iam, credentials
        self._identity: dict[str, Any] | None = None

    def caller_identity(self) -> dict[str, Any]:
        if self._identity is not None:
            return self._identity
        key_id = self.credentials[0] if self.credentials else ""
        with self._call("GetCallerIdentity", key_id):
            if self.credentials is None:
                arn = f"arn:aws:iam::{self.account}:user/operator"
            else:
                key = self.iam.keys.get(key_id)
                if key is None or key["SecretAccessKey"] != self.credentials[1] or key["Status"] != "Active":
                    raise self._error("GetCallerIdentity", "", "InvalidClientTokenId",
                                      "The security token included in the request is invalid.")
                arn = f"arn:aws:iam::{self.account}:user/{key['UserName']}"
            self._identity = {"Account": self.account, "Arn": arn, "UserId": "AIDAFAKE"}
            return self._identity


# --- the whole account ------------------------------------------------------------------------------
class FakeAws:
    """Stands in for esmctl.aws.Aws: one account and region, held in memory."""

    def __init__(self, *, clock: FakeClock | None = None, region: str = REGION, account: str = ACCOUNT,
                 _parent: FakeAws | None = None, _credentials: tuple[str, str] | None = None,
                 fresh_key: bool = False) -> None:
        self.region = region
        self.partition = "aws"
        self.endpoint_url: str | None = None
        self.fresh_key = fresh_key
        if _parent is None:
            self.log = Log(clock or FakeClock())
            self.cancel = threading.Event()
            self.sagemaker = FakeSageMaker(self.log, region, account)
            self.iam = FakeIam(self.log, region, account)
            self.scheduler = FakeScheduler(self.log, region, account, self.sagemaker, self.iam)
            self.secrets = FakeSecrets(self.log, region, account)
            # Services without a typed adapter (`Aws.api(name)`): a kind's test puts its own fake here
            # (an object with `call(operation, resource="", **params)` and `call_or_none(...)`).
            # EventBridge Scheduler's recurring schedules (office hours) are the typed fake's own.
            self.apis: dict[str, Any] = {"scheduler": self.scheduler}
        else:  # another signer on the same account (with_credentials)
            self.log, self.cancel = _parent.log, _parent.cancel
            self.sagemaker, self.iam = _parent.sagemaker, _parent.iam
            self.scheduler, self.secrets = _parent.scheduler, _parent.secrets
            self.apis = _parent.apis
        self.sts = FakeSts(self.log, region, account, self.iam, _credentials)
        self.clock = self.log.clock.now
        self.sleep = self.log.clock.sleep
        self.notices: list[str] = []
        self.notify: Callable[[str], None] = self.notices.append
        self._account: str | None = None

    # --- the adapter's own methods --------------------------------------------------------------------
    def api(self, service: str) -> Any:
        """What `Aws.api(service)` gives: the fake a test registered in `apis`."""
        if service not in self.apis:
            raise AssertionError(f"no fake for {service}: put one in FakeAws.apis[{service!r}]")
        return self.apis[service]

    def account_id(self) -> str:
        if self._account is None:
            self._account = str(self.sts.caller_identity()["Account"])
        return self._account

    def with_credentials(self, access_key_id: str, secret_access_key: str, *, fresh: bool = False) -> FakeAws:
        other = FakeAws(region=self.region, account=self.iam.account, _parent=self,
                        _credentials=(access_key_id, secret_access_key), fresh_key=fresh)
        other.notify = self.notify
        return other

    # --- for tests ----------------------------------------------------------------------------------
    @property
    def fake_clock(self) -> FakeClock:
        return self.log.clock

    @property
    def calls(self) -> list[Call]:
        with self.log.lock:
            return list(self.log.calls)

    def ops(self, *ops: str) -> list[Call]:
        """The calls of these operations (all calls without arguments), in order."""
        return [c for c in self.calls if not ops or c.op in ops]

    def count(self, op: str, name: str | None = None) -> int:
        return sum(1 for c in self.calls if c.op == op and (name is None or c.name.lower() == name.lower()))

    def reset_calls(self) -> None:
        with self.log.lock:
            self.log.calls.clear()

    def fail(self, op: str, name: Match = None, error: BaseException | None = None, *, times: int | None = 1,
             after: bool = False) -> None:
        """Make calls of `op` (about `name`: a name, case-insensitive, a predicate, or None for any)
        fail with `error` (default: an InternalFailure as the adapter reports it), `times` times (None:
        always). `after`: the call takes effect first and only its answer is lost."""
        with self.log.lock:
            self.log.faults.append(_Fault(op, name, error, times, after))

    def on(self, op: str, fn: Callable[[str], None]) -> None:
        """Run `fn(name)` inside every call of `op`, before it takes effect."""
        with self.log.lock:
            self.log.hooks.append((op, fn))


# --- a whole environment, run as `esmctl deploy` runs it ---------------------------------------------
def no_fsync(monkeypatch: Any) -> None:
    """Skip fsync in the state's atomic writes (durability is not what these tests are about, and
    each fsync costs milliseconds); the temp file, rename, mode and backup stay as they are."""
    import os

    monkeypatch.setattr(os, "fsync", lambda _fd: None)


class Recording(Plain):
    """A Reporter (esmctl/events.py) that keeps every line Plain would print (the wait's board as a
    line per status change), and answers every question yes."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            self.lines.append(text)

    def confirm(self, question: str, *, yes: bool) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.lines)


class Env:
    """One environment in a test: an example esmctl.yaml in `folder`, a FakeAws on a FakeClock, the
    state on disk (a Store over a LocalBackend), and esmctl's own pipeline as `deploy` runs it:
    observe → check_identity → reconcile → plan → executor (with a Waiter on the fake clock)."""

    def __init__(self, folder: Any, example: str = "multi_model", *, interval: float = 30.0,
                 timeout: float = 3600.0, start: dt.datetime = EPOCH, clock_plans: bool = False) -> None:
        """`start`: the fake wall clock's first reading. `clock_plans`: every plan gets `now=` the fake
        wall clock, as `esmctl deploy` passes its own (office hours, the month's projection); off, plans
        have no `now` unless a test passes one (the behaviour before office hours)."""
        from tests.conftest import write_example

        self.path = write_example(folder, example)
        self.clock = FakeClock(start)
        self.clock_plans = clock_plans
        self.aws = FakeAws(clock=self.clock)
        self.ui = Recording()
        self.interval, self.timeout = interval, timeout
        self._suffix = itertools.count(1)
        self._config: Any = None
        from esmctl.state import LocalBackend, State, Store

        cfg = self.config
        self.state = State(region=cfg.region, environment=cfg.environment)
        self.store = Store(LocalBackend(cfg.state_path), self.state)
        self.observed: Any = None

    @property
    def config(self) -> Any:
        from esmctl import config

        if self._config is None:
            self._config = config.load(self.path)
        return self._config

    def edit(self, old: str, new: str) -> None:
        """Change esmctl.yaml (the text `old`, which must be there, becomes `new`)."""
        text = self.path.read_text()
        assert old in text, old
        self.path.write_text(text.replace(old, new))
        self._config = None

    def new_suffix(self) -> str:
        return f"{next(self._suffix):08x}"

    def saved(self) -> dict[str, Any]:
        """The state file as it is on disk now."""
        return dict(json.loads(self.config.state_path.read_text()))

    def refresh(self) -> list[str]:
        from esmctl.observe import observe
        from esmctl.reconcile import check_identity, reconcile

        self.observed = observe(self.aws, self.config, self.state)  # type: ignore[arg-type]
        check_identity(self.state, self.observed, self.config.environment)
        return reconcile(self.state, self.observed, self.config.environment, now=self.clock.utcnow())

    def plan(self, *, refresh: bool = True, **kw: Any) -> Any:
        from esmctl.plan import plan

        if refresh or self.observed is None:
            self.refresh()
        if self.clock_plans:
            kw.setdefault("now", self.clock.utcnow())
        return plan(self.config, self.state, self.observed, new_suffix=self.new_suffix, **kw)

    def planning(self, **kw: Any) -> Any:
        """resources.Planning.start on what the last refresh saw (for plan_only)."""
        from esmctl.resources import Planning

        kw.setdefault("targets", ())
        kw.setdefault("destroy", False)
        return Planning.start(self.config, self.state, self.observed, new_suffix=self.new_suffix, **kw)

    def waiter(self) -> Any:
        from esmctl.wait import Waiter

        return Waiter(self.aws.sagemaker, interval=self.interval, timeout=self.timeout,  # type: ignore[arg-type]
                      clock=self.clock.now, sleep=self.clock.sleep)

    def executor(self, **kw: Any) -> Any:
        from esmctl.execute import Executor

        return Executor(aws=self.aws, store=self.store, config=self.config, ui=self.ui,  # type: ignore[arg-type]
                        waiter=self.waiter(), clock=self.clock.now, utcnow=self.clock.utcnow, **kw)

    def apply(self, the_plan: Any, **kw: Any) -> Any:
        self.store.save()
        return self.executor(**kw).run(the_plan)

    def deploy(self, *, parallelism: int = 16, wait: bool = True, **kw: Any) -> Any:
        return self.apply(self.plan(**kw), parallelism=parallelism, wait=wait)
