"""Refresh stage: bring the state's records in line with what AWS reports, and say what drifted.

Pure: mutates the State object it is given, no I/O. A record whose create call was never confirmed
(the run died) is marked created when AWS has it; a resource that vanished, failed or changed is
reported as drift for `refresh`, `plan` and `deploy` to show and repair.
"""

from __future__ import annotations

import datetime as dt

from esmctl import naming
from esmctl.errors import AwsError, StateError
from esmctl.observe import FAILED, Observed
from esmctl.resources.stop_timer import fired
from esmctl.state import RoleRecord, State, utcnow


def check_identity(state: State, observed: Observed, environment: str | None = None) -> None:
    """Refuse to act on another account, region or environment than the state was made for."""
    if environment is not None and state.environment != environment:
        raise StateError(
            f"The state file is for environment {state.environment!r}, but esmctl.yaml says "
            f"{environment!r}; nothing was changed.",
            hint="Point `state:` at this environment's state (or leave it empty for "
            f"state/{environment}.json), or set `environment: {state.environment}`.")
    if state.account_id and observed.account_id and state.account_id != observed.account_id:
        raise StateError(
            f"The state was made in AWS account {state.account_id}, but the credentials are for "
            f"account {observed.account_id}; nothing was changed.",
            hint="Use the profile of the state's account (--profile), or another environment/state file.")
    if state.region != observed.region:
        raise StateError(
            f"The state was made in region {state.region}, but this run targets {observed.region}; "
            "nothing was changed.",
            hint=f"Set `region: {state.region}` back, or use another `environment:` for {observed.region}.")


def reconcile(state: State, observed: Observed, environment: str, now: dt.datetime | None = None) -> list[str]:
    """Update `state` from `observed`; return one line per drift found."""
    now = now or utcnow()
    drift: list[str] = []
    if observed.account_id and not state.account_id:
        state.account_id = observed.account_id
    role = observed.role
    if role is not None:
        ours = role.tags.get(naming.TAG_ENVIRONMENT) == environment
        if state.role is None and not ours:
            raise AwsError(
                f"The IAM role {role.name} already exists and was not made by esmctl for environment "
                f"{environment!r}.",
                hint="Set `execution_role_arn:` in esmctl.yaml to use it, or change `iam_role_name_prefix` "
                "or `environment` so esmctl makes its own.")
        if state.role is None:
            state.role = RoleRecord(name=role.name, created_by_esmctl=True)
        state.role.arn, state.role.created, state.role.policy_attached = role.arn, True, role.policy_attached
        if not role.policy_attached:
            drift.append(f"role {role.name}: {naming.MANAGED_POLICY_NAME} is not attached")
    elif state.role is not None and state.role.created and state.role.created_by_esmctl:
        drift.append(f"role {state.role.name}: deleted outside esmctl")
        state.role.created = False
        state.role.policy_attached = False

    drift += _reconcile_shared(state, observed, environment)

    for name, dep in state.deployments.items():
        # A retired model/config already gone from AWS (a run died right after deleting it) is done.
        dep.retired = [r for r in dep.retired
                       if (observed.has_model if r.kind == "model" else observed.has_config)(r.name)]
        for rec, has, what in ((dep.model, observed.has_model, "model"),
                               (dep.endpoint_config, observed.has_config, "endpoint config")):
            if rec is None:
                continue
            if has(rec.name):
                arn = (observed.models if what == "model" else observed.configs)[rec.name.lower()]
                rec.created, rec.arn = True, arn or rec.arn
            elif rec.created:
                drift.append(f"{name}: {what} {rec.name} deleted outside esmctl")
                rec.created = False
        ep = dep.endpoint
        if ep is None:
            continue
        seen = observed.endpoint(ep.name)
        if seen is None:
            if ep.created and dep.desired == "running" and fired(dep, now):
                assert dep.stop_schedule is not None
                dep.desired, dep.stopped_by, dep.stopped_at = "stopped", "schedule", dep.stop_schedule.at
                dep.stop_schedule.fired = True  # stopped by its timer, as asked: not drift
            elif ep.created and dep.desired == "running":
                drift.append(f"{name}: endpoint {ep.name} deleted outside esmctl")
                ep.vanished = True
            ep.created, ep.status = False, ""
            continue
        ep.created, ep.arn, ep.status = True, seen.arn, seen.status
        if seen.config_name:
            if ep.config_name and seen.config_name.lower() != ep.config_name.lower() and seen.status == "InService":
                if dep.endpoint_config and seen.config_name.lower() != dep.endpoint_config.name.lower():
                    drift.append(f"{name}: endpoint {ep.name} runs on {seen.config_name}, "
                                 f"not on {dep.endpoint_config.name}")
            if seen.status == "InService":
                ep.config_name = seen.config_name
        if seen.status in FAILED:
            ep.failure_reason = seen.failure_reason
            drift.append(f"{name}: endpoint {ep.name} {seen.status}: {seen.failure_reason or 'no reason given'}"
                         " (`esmctl deploy` repairs it)")
        if dep.desired == "stopped":
            drift.append(f"{name}: endpoint {ep.name} exists although the deployment is stopped (billed)")
    return drift


def _reconcile_shared(state: State, observed: Observed, environment: str) -> list[str]:
    rec, obs = state.shared_account, observed.shared
    if rec is None or obs is None or obs.user_name != rec.user_name:
        return []
    drift = []
    if obs.user_arn:
        rec.user_created, rec.user_arn = True, obs.user_arn
    elif rec.user_created:
        drift.append(f"shared user {rec.user_name}: deleted outside esmctl")
        rec.user_created = False
    if obs.policy_arn:
        rec.policy_created, rec.policy_arn = True, obs.policy_arn
    elif rec.policy_created:
        drift.append(f"shared invoke policy {rec.policy_name}: deleted outside esmctl")
        rec.policy_created = False
    if rec.policy_attached and not obs.attached and obs.user_arn:
        drift.append(f"shared user {rec.user_name}: the invoke policy was detached")
    rec.policy_attached = obs.attached
    for part in rec.policy_parts:
        if part.name in obs.parts:
            part.created, part.attached = True, obs.parts[part.name]
        elif part.created:
            drift.append(f"shared invoke policy {part.name}: deleted outside esmctl")
            part.created = part.attached = False
    if obs.stored_key_id and obs.stored_key_id in obs.keys:
        rec.access_key_id = obs.stored_key_id  # finishes a create or rotation that died before recording
    elif rec.access_key_id and rec.access_key_id not in obs.keys and obs.user_arn:
        drift.append(f"shared user {rec.user_name}: access key {rec.access_key_id} deleted outside esmctl")
        rec.access_key_id = ""
    extra = [k for k in obs.keys if k != rec.access_key_id]
    if extra:
        drift.append(f"shared user {rec.user_name}: {len(extra)} extra access key(s) ({', '.join(extra)})")
    return drift
