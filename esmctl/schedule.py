"""Stop timers that work with the laptop closed: EventBridge Scheduler one-time schedules whose
universal target calls SageMaker DeleteEndpoint, with a role that may do only that, on only that
endpoint. Created by `deploy --ttl` and `stop --at`; replaced by `start` or a new timer; removed by
`destroy`. When one has fired, refresh recognises the vanished endpoint as stopped by its schedule.

Names: a schedule's name is 1-64 of [0-9a-zA-Z-_.] (EventBridge Scheduler API reference,
CreateSchedule "Name"), an IAM role's 1-64 of letters, digits and +=,.@_- (IAM API reference,
CreateRole "RoleName"). A name that fits is used as is; a longer one keeps a readable prefix and ends with a
hash of what it names, so two deployments never share a timer or its role.

A new timer for a deployment that has one replaces only the schedule: the role is kept (its
policy put again). A role created moments ago cannot be assumed by EventBridge Scheduler for
several seconds (IAM is eventually consistent), so deleting and re-creating it on every
`stop --at` would make each new timer race that delay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING

from esmctl import naming
from esmctl.state import DeploymentState, ScheduleRecord, Store, iso

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config

POLICY_NAME = "esmctl-delete-endpoint"
SCHEDULE_NAME_MAX = 64
HASH_CHARS = 10  # hex digits (40 bits) of the hash that ends a shortened name


def _fit(name: str, limit: int, *identity: str) -> str:
    """`name` if it fits in `limit` characters; else its first characters, "-" and a hash of
    `identity` (the parts the name is made of, so distinct parts give distinct names even where the
    joined name is ambiguous). A shortened name ends in HASH_CHARS hex digits after a "-", which no
    name that fits ends in ("-stop", or an 8-digit suffix), so the two kinds never collide."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:HASH_CHARS]
    return f"{name[:limit - HASH_CHARS - 1]}-{digest}"


def schedule_name(environment: str, deployment: str) -> str:
    return _fit(f"esmctl-{environment}-{deployment}-stop", SCHEDULE_NAME_MAX, environment, deployment)


def role_name(prefix: str, environment: str, suffix: str) -> str:
    return _fit(f"{prefix}-stop-{environment}-{suffix}", naming.IAM_ROLE_MAX, prefix, environment, suffix)


def delete_policy(region: str, account: str, endpoint: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DeleteThisEndpointOnly", "Effect": "Allow", "Action": "sagemaker:DeleteEndpoint",
        "Resource": naming.sagemaker_arn(region, account, "endpoint", endpoint)}]})


def create_stop(aws: Aws, store: Store, config: Config, deployment: str, at: dt.datetime) -> ScheduleRecord:
    """Replace any timer of this deployment with one that deletes its endpoint at `at`.

    An existing timer's role is kept (no DeleteRole/CreateRole, nothing tagged again); only the
    schedule is replaced. A timer recorded under other names (made by an older esmctl) is removed
    first, so the state never loses track of it.
    """
    dep = store.state.deployments[deployment]
    assert dep.endpoint is not None
    name = schedule_name(config.environment, deployment)
    role = role_name(config.settings.iam_role_name_prefix, config.environment, dep.suffix)
    old = dep.stop_schedule
    if old is not None and old.name != name:
        aws.scheduler.delete(old.name)
    if old is not None and old.role_name != role:
        aws.iam.delete_role_policy(old.role_name, POLICY_NAME)
        aws.iam.delete_role(old.role_name)
    kept_arn = old.role_arn if old is not None and old.role_name == role else ""
    rec = ScheduleRecord(name=name, at=iso(at) or "", role_name=role, role_arn=kept_arn)
    with store.change():
        dep.stop_schedule = rec  # recorded before anything is created
    found = aws.iam.get_role(rec.role_name)
    if found is None:
        tags = naming.tags(dict(config.settings.tags), config.environment, deployment)
        found = aws.iam.create_role(
            rec.role_name, tags=tags, service="scheduler.amazonaws.com",
            description=f"esmctl stop timer: may only delete SageMaker endpoint {dep.endpoint.name}")
    aws.iam.put_role_policy(rec.role_name, POLICY_NAME,
                            delete_policy(config.region, aws.account_id(), dep.endpoint.name))
    # the previous timer of this name, or a leftover of a run that died before recording it
    aws.scheduler.delete(rec.name)
    aws.scheduler.create_stop(rec.name, at=at.strftime("%Y-%m-%dT%H:%M:%S"), endpoint=dep.endpoint.name,
                              role_arn=found["Arn"])
    with store.change():
        rec.role_arn, rec.created = found["Arn"], True
    return rec


def delete_stop(aws: Aws, store: Store, deployment: str) -> None:
    """Remove the deployment's timer, its role and the role's policy (idempotent)."""
    dep = store.state.deployments.get(deployment)
    rec = dep.stop_schedule if dep else None
    if dep is None or rec is None:
        return
    aws.scheduler.delete(rec.name)
    aws.iam.delete_role_policy(rec.role_name, POLICY_NAME)
    aws.iam.delete_role(rec.role_name)
    with store.change():
        dep.stop_schedule = None


def fired(dep: DeploymentState, now: dt.datetime) -> bool:
    """Whether the deployment's timer is due (so a vanished endpoint was stopped by it)."""
    from esmctl.state import parse_iso

    rec = dep.stop_schedule
    at = parse_iso(rec.at) if rec and rec.created else None
    return at is not None and at <= now
