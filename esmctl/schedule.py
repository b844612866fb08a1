"""Stop timers that work with the laptop closed: EventBridge Scheduler one-time schedules whose
universal target calls SageMaker DeleteEndpoint, with a role that may do only that, on only that
endpoint. Created by `deploy --ttl` and `stop --at`; replaced by `start` or a new timer; removed by
`destroy`. When one has fired, refresh recognises the vanished endpoint as stopped by its schedule.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from esmctl import naming
from esmctl.state import DeploymentState, ScheduleRecord, Store, iso

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config

POLICY_NAME = "esmctl-delete-endpoint"


def schedule_name(environment: str, deployment: str) -> str:
    return f"esmctl-{environment}-{deployment}-stop"[:64]


def role_name(prefix: str, environment: str, suffix: str) -> str:
    return f"{prefix}-stop-{environment}-{suffix}"[:64]


def delete_policy(region: str, account: str, endpoint: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DeleteThisEndpointOnly", "Effect": "Allow", "Action": "sagemaker:DeleteEndpoint",
        "Resource": naming.sagemaker_arn(region, account, "endpoint", endpoint)}]})


def create_stop(aws: Aws, store: Store, config: Config, deployment: str, at: dt.datetime) -> ScheduleRecord:
    """Replace any timer of this deployment with one that deletes its endpoint at `at`."""
    dep = store.state.deployments[deployment]
    assert dep.endpoint is not None
    if dep.stop_schedule is not None:
        delete_stop(aws, store, deployment)
    rec = ScheduleRecord(name=schedule_name(config.environment, deployment), at=iso(at) or "",
                         role_name=role_name(config.settings.iam_role_name_prefix, config.environment, dep.suffix))
    with store.change():
        dep.stop_schedule = rec  # recorded before anything is created
    tags = naming.tags(dict(config.settings.tags), config.environment, deployment)
    role = aws.iam.get_role(rec.role_name) or aws.iam.create_role(
        rec.role_name, tags=tags, service="scheduler.amazonaws.com",
        description=f"esmctl stop timer: may only delete SageMaker endpoint {dep.endpoint.name}")
    aws.iam.put_role_policy(rec.role_name, POLICY_NAME,
                            delete_policy(config.region, aws.account_id(), dep.endpoint.name))
    aws.scheduler.delete(rec.name)  # a leftover of a run that died before recording it
    aws.scheduler.create_stop(rec.name, at=at.strftime("%Y-%m-%dT%H:%M:%S"), endpoint=dep.endpoint.name,
                              role_arn=role["Arn"])
    with store.change():
        rec.role_arn, rec.created = role["Arn"], True
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
