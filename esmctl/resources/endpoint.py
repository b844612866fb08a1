"""The endpoint of a deployment: the billed part. Its name never changes once chosen.

Created from the deployment's config; moved to a new config with UpdateEndpoint (verified after
the wait: an update can roll back); `Failed`/`OutOfService` replaced, `UpdateRollbackFailed`
updated again (AWS's way out of it); deleted to stop (the model and config stay). The executor
waits for the endpoints these steps start (`waits`) with one listing per poll; the settle step
here records what the wait saw.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from esmctl.durations import fmt_duration
from esmctl.errors import AlreadyExists, AwsError
from esmctl.observe import BUSY, FAILED, ObservedEndpoint
from esmctl.resources import endpoint_config
from esmctl.resources._base import Action, Planned, Planning, Run, Spec, handler, reads
from esmctl.resources.stop_timer import fired
from esmctl.state import HISTORY_KEEP, EndpointRecord, iso, utcnow
from esmctl.wait import Waiting, WaitTimeout

PLAN_ORDER = 40  # when it plans (after the config it runs on)
SECTION = 50  # where its shared steps run and show (teardown: reverse)

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.observe import Observed
    from esmctl.state import DeploymentState, State

reads(__name__, {"sagemaker:ListEndpoints": "any", "sagemaker:DescribeEndpoint": "endpoint"})
DEFAULT_ETA = 12 * 60.0  # a typical ESM endpoint takes 10-15 minutes before we have our own history
STARTED = "endpoint.started"  # memo: endpoint (lower) -> clock() of its create/update call


@dataclass(frozen=True)
class Endpoint(Spec):
    config_name: str = ""
    old_config_name: str = ""


def read(aws: Aws, state: State | None) -> dict[str, ObservedEndpoint]:
    """Every endpoint of the account (one paginated ListEndpoints), and DescribeEndpoint only for those
    whose config or failure reason the listing cannot tell and the planner needs."""
    endpoints: dict[str, ObservedEndpoint] = {}
    for e in aws.sagemaker.list_endpoints():
        endpoints[e["EndpointName"].lower()] = ObservedEndpoint(
            name=e["EndpointName"], arn=e["EndpointArn"], status=e["EndpointStatus"], created=e.get("CreationTime"))
    for name in _to_describe(endpoints, state):
        d = aws.sagemaker.describe_endpoint(name)
        if d is not None:
            endpoints[name.lower()] = ObservedEndpoint(
                name=d["EndpointName"], arn=d["EndpointArn"], status=d["EndpointStatus"],
                config_name=d.get("EndpointConfigName"), failure_reason=d.get("FailureReason", ""),
                created=d.get("CreationTime"))
    return endpoints


def _to_describe(endpoints: dict[str, ObservedEndpoint], state: State | None) -> list[str]:
    """Endpoints whose config or failure reason List cannot tell and the planner needs."""
    if state is None:
        return []
    out = []
    for dep in state.deployments.values():
        ep = dep.endpoint
        if ep is None or ep.name.lower() not in endpoints:
            continue
        seen = endpoints[ep.name.lower()]
        current = dep.endpoint_config.name if dep.endpoint_config else ""
        # A Creating endpoint runs the config it was created with (recorded): nothing to learn.
        if seen.status in FAILED or (seen.status in BUSY and seen.status != "Creating") \
                or ep.config_name.lower() != current.lower():
            out.append(ep.name)
    return out


def reconcile(name: str, dep: DeploymentState, observed: Observed, now: dt.datetime) -> list[str]:
    """Refresh one deployment's endpoint record: gone (stopped by its timer, or drift), its status,
    the config it runs on, a failure; drift when a stopped deployment's endpoint exists (billed)."""
    drift: list[str] = []
    ep = dep.endpoint
    if ep is None:
        return drift
    seen = observed.endpoint(ep.name)
    if seen is None:
        if ep.created and dep.desired == "running" and fired(dep, now):
            assert dep.stop_schedule is not None
            dep.desired, dep.stopped_by, dep.stopped_at = "stopped", "schedule", dep.stop_schedule.at
            dep.stop_schedule.fired = True  # stopped by its timer, as asked: not drift
        elif ep.created and dep.desired == "running" and not off_on_purpose(dep, now):
            drift.append(f"{name}: endpoint {ep.name} deleted outside esmctl")
            ep.vanished = True
        ep.created, ep.status = False, ""
        return drift
    if not ep.created and dep.desired == "running" and seen.created is not None:
        dep.started_at = iso(seen.created)  # (re)created outside this run: by an office-hours schedule, or a run killed
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


def off_on_purpose(dep: DeploymentState, now: dt.datetime) -> str:
    """Why the deployment's endpoint is off on purpose at `now` ("" when it should run): asked of every
    kind with an `off(dep, now)` hook (office hours)."""
    from esmctl import resources
    return next((why for off in resources.hooks("off") for why in [off(dep, now)] if why), "")


def rights_to_delete(want: Any) -> list[dict[str, Any]]:
    """IAM statements a role that deletes this deployment's endpoint for esmctl (a stop timer, the end of
    its office hours) needs besides sagemaker:DeleteEndpoint: asked of every kind with a
    `delete_rights(want)` hook (autoscaling: DeleteEndpoint deregisters the variant's target as the caller)."""
    from esmctl import resources
    return [st for rights in resources.hooks("delete_rights") for st in rights(want)]


def endpoint_name_of(p: Planned) -> str:
    """The deployment's endpoint name: as recorded, else made from the catalog's and its suffix."""
    from esmctl import naming
    return p.have.endpoint.name if p.have and p.have.endpoint else naming.endpoint_name(p.want.endpoint_name, p.suffix)


def plan(ctx: Planning) -> None:
    for p in ctx.deployments.values():
        have = p.have
        p.endpoint_name = ep = endpoint_name_of(p)
        seen = ctx.observed.endpoint(ep)
        on = (seen.config_name if seen else "") or (have.endpoint.config_name if have and have.endpoint else "")
        to = Endpoint(ep, p.config_name)
        if not p.running:
            if seen is not None and seen.status != "Deleting":
                ctx.add("delete", Endpoint(ep), p.name, reason="stop: billing ends; model and config kept")
        elif seen is None and p.off:
            ctx.notes.append(f"{p.name}: endpoint {ep} is {p.off}; not started")
        elif p.stop_now and seen is not None:
            if seen.status != "Deleting":
                ctx.add("delete", Endpoint(ep), p.name, reason=p.stop_now)
        elif seen is None:
            gone = have is not None and have.endpoint is not None and (have.endpoint.created or have.endpoint.vanished)
            why = "vanished from AWS: recreate" if gone else ""
            ctx.add("create", to, p.name, reason=why)
            p.moved = True
        elif seen.status in ("Failed", "OutOfService"):
            ctx.add("replace", to, p.name, reason=f"{seen.status}: {seen.failure_reason or 'no reason given'}")
            p.moved = True
        elif seen.status == "UpdateRollbackFailed":  # AWS: update it again to bring it back InService
            ctx.add("update", Endpoint(ep, p.config_name, on), p.name,
                    reason=f"UpdateRollbackFailed: update again to {p.config_name}")
            ctx.add("verify", to, p.name, "after_wait")
            p.moved = True
        elif seen.status in BUSY:
            ctx.wait_for.append((p.name, ep))
            ctx.notes.append(f"{p.name}: endpoint {ep} is {seen.status}; deploy waits for it")
            if on.lower() != p.config_name.lower():
                ctx.notes.append(f"{p.name}: once it settles, deploy moves it to {p.config_name} "
                                 "(a follow-up plan, shown then)")
        elif on.lower() != p.config_name.lower():
            ctx.add("update", Endpoint(ep, p.config_name, on), p.name, reason=f"{on or '?'} → {p.config_name}")
            ctx.add("verify", to, p.name, "after_wait")
            p.moved = True
        else:
            p.moved = True  # already there
    for name, (have, why) in ctx.removed.items():
        if have.endpoint and ctx.observed.endpoint(have.endpoint.name):
            ctx.add("delete", Endpoint(have.endpoint.name), name, reason=why)


# --- what bills ----------------------------------------------------------------------------------
def billed_now(state: State | None, observed: Observed) -> dict[str, tuple[str, int]]:
    """Deployments whose endpoint exists (and bills) now, with the hardware it runs on."""
    out = {}
    for name, dep in (state.deployments if state else {}).items():
        if dep.endpoint and dep.endpoint_config and observed.endpoint(dep.endpoint.name):
            cfg = dep.endpoint_config
            out[name] = (cfg.instance_type, cfg.instance_count)
    return out


def billed_after(ctx: Planning) -> dict[str, tuple[str, int]]:
    """What bills once the plan is done: wanted running deployments in scope, the others as now."""
    now = billed_now(ctx.state, ctx.observed)
    if ctx.destroy:
        return {n: v for n, v in now.items() if ctx.targets and n not in ctx.targets}
    after = {n: (p.want.instance_type, p.want.instance_count) for n, p in ctx.deployments.items()
             if p.running and not (p.off and ctx.observed.endpoint(p.endpoint_name) is None)}
    if ctx.targets:
        after |= {n: v for n, v in now.items() if n not in ctx.targets}
    return after



# --- handlers ------------------------------------------------------------------------------------
def _started(run: Run, name: str) -> None:
    with run.lock:
        run.memo.setdefault(STARTED, {})[name.lower()] = run.clock()


@handler("create", Endpoint, action="create_endpoint", symbol="+", resource="endpoint", order=40,
         waits="InService", iam={"sagemaker:CreateEndpoint": "endpoint", "sagemaker:AddTags": "endpoint",
                                 "sagemaker:DescribeEndpointConfig": "endpoint-config",
                                 "sagemaker:DescribeEndpoint": "endpoint"})
def create(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, Endpoint)
    now = iso(utcnow())
    with run.store.change():
        dep = run.deployment(a)
        dep.endpoint = EndpointRecord(name=a.name, config_name=s.config_name, status="Creating", creating_since=now)
        dep.desired = "running"
        dep.started_at = now
        dep.stopped_at = None
    endpoint_config.confirm(run, s.config_name)
    try:
        arn = run.aws.sagemaker.create_endpoint(a.name, config_name=s.config_name, tags=run.tags(a.deployment))
    except AlreadyExists:
        arn = (run.aws.sagemaker.describe_endpoint(a.name) or {}).get("EndpointArn", "")
    run.record_created(a, "endpoint", arn)
    _started(run, a.name)


@handler("replace", Endpoint, action="replace_endpoint", symbol="-/+", resource="endpoint", order=41,
         waits="InService", iam={"sagemaker:DeleteEndpoint": "endpoint", "sagemaker:CreateEndpoint": "endpoint",
                                 "sagemaker:AddTags": "endpoint", "sagemaker:DescribeEndpoint": "endpoint"})
def replace(run: Run, a: Action) -> None:
    run.aws.sagemaker.delete_endpoint(a.name)
    run.waiter.wait([Waiting(a.deployment, a.name, target="gone")])
    create(run, a)


@handler("update", Endpoint, action="update_endpoint", symbol="~", resource="endpoint", order=42,
         waits="InService", iam={"sagemaker:UpdateEndpoint": "endpoint",
                                 "sagemaker:DescribeEndpointConfig": "endpoint-config"})
def update(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, Endpoint)
    endpoint_config.confirm(run, s.config_name)
    from esmctl import resources
    dep = run.store.state.deployments.get(a.deployment)
    retain = dep is not None and any(keeps(dep) for keeps in resources.hooks("keeps_counts"))
    run.aws.sagemaker.update_endpoint(a.name, config_name=s.config_name, retain_counts=retain)
    with run.store.change():
        rec = run.deployment(a).endpoint
        assert rec is not None
        rec.status, rec.creating_since = "Updating", iso(utcnow())
    _started(run, a.name)


@handler("verify", Endpoint, action="verify_endpoint", symbol="", resource="endpoint", order=43, quiet=True,
         iam={"sagemaker:DescribeEndpoint": "endpoint"})
def verify(run: Run, a: Action) -> None:
    """After the wait: the endpoint must run on the config asked for (an update can roll back)."""
    s = a.spec
    assert isinstance(s, Endpoint)
    d = run.aws.sagemaker.describe_endpoint(a.name) or {}
    on = d.get("EndpointConfigName", "")
    if on.lower() != s.config_name.lower():
        raise AwsError(
            f"SageMaker rolled the update of endpoint {a.name} back: it is InService on "
            f"{on or '?'}, not on {s.config_name}. The old endpoint config and model were kept (the endpoint "
            "runs on them).",
            hint=f"Check the CloudWatch log group /aws/sagemaker/Endpoints/{a.name} for "
            "why the new variant failed, then `esmctl deploy` tries again.")
    with run.store.change():
        rec = run.deployment(a).endpoint
        assert rec is not None
        rec.config_name = on
    run.ui.ok(f"{a.deployment}: {a.name} InService on {on}")


@handler("delete", Endpoint, action="delete_endpoint", symbol="-", resource="endpoint", order=70, waits="gone",
         iam={"sagemaker:DeleteEndpoint": "endpoint", "sagemaker:DescribeEndpoint": "endpoint"})
def delete(run: Run, a: Action) -> None:
    try:
        run.aws.sagemaker.delete_endpoint(a.name)
    except AwsError as e:
        if "in-progress" not in e.message and "in progress" not in e.message:
            raise
        # SageMaker refuses to delete an endpoint while it is Creating/Updating: let it settle first.
        run.ui.info(f"{a.name} is still being created or updated; waiting for it to settle before deleting.")
        run.waiter.wait([Waiting(a.deployment, a.name)])
        run.aws.sagemaker.delete_endpoint(a.name)
    with run.store.change() as st:
        dep = st.deployments.get(a.deployment)
        if dep and dep.endpoint:
            dep.endpoint.status = "Deleting"


# --- waiting -------------------------------------------------------------------------------------
def busy(state: State) -> list[str]:
    """Endpoints still being created or updated in AWS (said when a run is interrupted)."""
    return [d.endpoint.name for d in state.deployments.values()
            if d.endpoint and d.endpoint.status in ("Creating", "Updating")]


def settle(run: Run, items: list[tuple[str, str, str]],
           report: Callable[[str], None]) -> tuple[set[str], list[str]]:
    """Wait for endpoints ((deployment, endpoint, "InService"|"gone")) with a live board; record what
    was seen; return the deployments whose endpoint reached its target, and the endpoints still busy
    when the wait ran out. `report(message)` reports a failure."""
    hist = run.store.state.creation_seconds
    eta = statistics.median(hist) if hist else DEFAULT_ETA
    started = run.recall(STARTED, {})
    waiting = [Waiting(d, n, started=started.get(n.lower(), run.clock()), eta=eta) for d, n, t in items
               if t == "InService"] + [Waiting(d, n, target="gone", started=run.clock(), eta=None)
                                       for d, n, t in items if t == "gone"]
    up = sum(1 for w in waiting if w.target == "InService")
    down = len(waiting) - up
    if up:
        run.ui.info(f"Waiting for {up} endpoint{'s' if up != 1 else ''} to be InService "
                    f"(typically 10-15 minutes; Ctrl-C stops watching, not the creation).")
    if down:
        run.ui.info(f"Waiting for {down} endpoint{'s' if down != 1 else ''} to be deleted (billing stops then).")

    def rows() -> list[list[str]]:
        now = run.clock()
        out = []
        for w in waiting:
            status = w.seen.status if w.seen else ("deleted" if w.target == "gone" and w.done else "?")
            elapsed = now - w.started
            left = None if w.eta is None or w.done else max(0.0, w.eta - elapsed)
            eta_text = "" if w.done else (f"~{fmt_duration(left)} left" if left else "any moment")
            out.append([w.deployment, w.endpoint, status, fmt_duration(elapsed), eta_text])
        return out

    still: list[str] = []
    with run.ui.board(rows, ["deployment", "endpoint", "status", "elapsed", "eta"]) as refresh:
        try:
            run.waiter.wait(waiting, on_poll=lambda _: refresh())
        except WaitTimeout as t:
            for w in t.pending:
                report(f"{w.deployment}: endpoint {w.endpoint} still "
                       f"{w.seen.status if w.seen else 'missing'} after {fmt_duration(run.waiter.timeout)}"
                       " — it keeps going in AWS; run `esmctl deploy` again to keep waiting (or raise --timeout)")
                still.append(w.endpoint)
    settled = set()
    with run.store.change() as st:
        for w in waiting:
            dep = st.deployments.get(w.deployment)
            if w.target == "gone" and w.done and dep is not None and dep.endpoint is not None:
                dep.endpoint.created, dep.endpoint.status = False, ""
                settled.add(w.deployment)
                continue
            if dep is None or dep.endpoint is None or w.seen is None or not w.done:
                continue
            dep.endpoint.status = w.seen.status
            if w.seen.status == "InService":
                settled.add(w.deployment)
                if dep.endpoint.creating_since and w.endpoint.lower() in started:
                    st.creation_seconds = (st.creation_seconds + [run.clock() - w.started])[-HISTORY_KEEP:]
            elif w.seen.status in FAILED:
                dep.endpoint.failure_reason = w.seen.failure_reason
                repair = ("updates it again (AWS's way out of UpdateRollbackFailed; it serves on a mix of the "
                          "old and new configs until then)" if w.seen.status == "UpdateRollbackFailed"
                          else "recreates it")
                report(f"{w.deployment}: endpoint {w.endpoint} {w.seen.status}: "
                       f"{w.seen.failure_reason or 'no reason given'} — container logs: CloudWatch "
                       f"log group /aws/sagemaker/Endpoints/{w.endpoint}. Fix the cause, then "
                       f"`esmctl deploy` {repair}.")
            else:
                report(f"{w.deployment}: endpoint {w.endpoint} is {w.seen.status}")
            dep.endpoint.creating_since = None
    return settled, still
