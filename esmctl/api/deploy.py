"""Use cases that change the environment: plan, deploy, stop/start, stop timers, destroy, refresh.
Each reads the state under the lock, refreshes it from AWS, plans, confirms through the reporter
and hands the plan to the executor (the only mutator)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from esmctl import naming, prices
from esmctl import state as state_mod
from esmctl.api.workspace import Base
from esmctl.errors import DeployFailed, EsmctlError
from esmctl.observe import from_state
from esmctl.plan import Plan, plan_only
from esmctl.plan import plan as make_plan
from esmctl.resources import Planning, shared_user, stop_timer
from esmctl.resources.endpoint import off_on_purpose
from esmctl.state import State, Store

if TYPE_CHECKING:
    from esmctl.execute import Executor, Outcome
    from esmctl.observe import Observed




@dataclass
class PlanResult:
    plan: Plan
    drift: list[str] = field(default_factory=list)
    refreshed: bool = True


@dataclass
class DeployResult:
    plan: Plan
    outcome: Outcome | None
    drift: list[str] = field(default_factory=list)


class Deploying(Base):
    def plan(self, *, refresh: bool = True, targets: Iterable[str] = (), destroy: bool = False,
             suffix_placeholder: bool = True, ttl: float | None = None, rotate_key: bool = False) -> PlanResult:
        """What deploy (or destroy) would do: with `ttl`, `deploy --ttl` (stop timers too); with
        `rotate_key`, what `creds rotate` does. Changes nothing, takes no lock."""
        cfg = self.config
        self._check_targets(targets)
        state = self.read_state()
        drift: list[str] = []
        if refresh and state is not None:
            state = copy.deepcopy(state)
            observed, drift = self._refresh(state)
        elif refresh:
            observed = self._observe(None)
        else:
            observed = from_state(state, cfg.region)
        suffix = (lambda: naming.PLACEHOLDER_SUFFIX) if suffix_placeholder else naming.new_suffix
        if rotate_key:
            return PlanResult(self._rotation_plan(state, observed), drift, refresh)
        return PlanResult(make_plan(cfg, state, observed, new_suffix=suffix, targets=targets, destroy=destroy,
                                    ttl=ttl, now=state_mod.utcnow()), drift, refresh)

    def _rotation_plan(self, state: State | None, observed: Observed) -> Plan:
        return plan_only(self._planning(state, observed), shared_user.plan_rotation)

    def _planning(self, state: State | None, observed: Observed, targets: Iterable[str] = ()) -> Planning:
        """The planner's context for a plan of special steps alone (a rotation, stop timers)."""
        return Planning.start(self.config, state, observed, new_suffix=naming.new_suffix, targets=targets,
                              destroy=False)

    def deploy(self, *, yes: bool = False, wait: bool = True, targets: Iterable[str] = (),
               parallelism: int | None = None, timeout: float | None = None, destroy: bool = False,
               show_plan: Any = None, set_desired: str | None = None, question: str | None = None,
               ttl: float | None = None, stopped_by: str = "user", over_budget: bool = False) -> DeployResult:
        """Plan, confirm, apply, wait. `show_plan(plan, drift)` renders the plan before asking.

        `set_desired` ("running"/"stopped") first marks the target deployments so (stop/start); `ttl`
        adds a stop timer to each deployment in scope (steps of the same plan). A plan that raises the
        month's projection to above `budget.monthly_usd` is refused (nothing changed) unless `over_budget`.
        """
        cfg = self.config
        self._check_targets(targets)
        with self._locked():
            state = self.read_state()
            if state is None:
                if destroy:
                    return DeployResult(make_plan(cfg, None, self._observe(None), destroy=True), None)
                state = self._fresh_state()
            before = state.model_dump()
            observed, drift = self._refresh(state)
            if set_desired is not None:
                self._set_desired(state, list(targets), set_desired, stopped_by)
            the_plan = make_plan(cfg, state, observed, targets=targets, destroy=destroy, ttl=ttl,
                                 now=state_mod.utcnow(), started=targets if set_desired == "running" else ())
            if show_plan:
                show_plan(the_plan, drift)
            if the_plan.over_budget and not over_budget and not destroy:
                assert the_plan.projection is not None
                raise EsmctlError(
                    f"Over budget: {the_plan.projection.describe()} Nothing was changed.",
                    hint="Lower the plan (fewer or smaller instances, office hours, autoscaling), raise "
                    "budget.monthly_usd, or run `esmctl deploy --over-budget`.")
            store = Store(self.backend, state)
            outcome: Outcome | None = None
            if not the_plan.actions and not the_plan.wait_for:
                if state.model_dump() != before and (state.deployments or state.role):
                    store.save()  # keep what the refresh learned
            else:
                if not the_plan.empty:
                    verb = "destroy these resources" if destroy else "apply this plan"
                    self.ui.confirm(question or f"Do you want to {verb}?", yes=yes)

                def executor() -> Executor:
                    return self._executor(store, parallelism=parallelism, wait=wait, timeout=timeout)

                store.save()
                outcome = executor().run(the_plan)
                if the_plan.wait_for and wait and not outcome.failures and not destroy:
                    outcome = self._follow_up(store, outcome, targets, yes=yes, show_plan=show_plan,
                                              make_executor=executor)
            return DeployResult(the_plan, outcome, drift)

    def _follow_up(self, store: Store, outcome: Outcome, targets: Iterable[str], *, yes: bool, show_plan: Any,
                   make_executor: Callable[[], Executor]) -> Outcome:
        """After waiting for endpoints that were already busy (an update started by a run that was
        killed, or someone else's), finish what the configuration asks of them in the same run: move
        them to the wanted config, delete what they no longer use."""
        from esmctl import execute

        observed, drift = self._refresh(store.state)
        more = make_plan(self.config, store.state, observed, targets=targets, now=state_mod.utcnow())
        if more.empty:
            return outcome
        self.ui.info("The endpoints deploy waited for have settled; what is left to do:")
        if show_plan:
            show_plan(more, drift)
        self.ui.confirm("Do you want to apply this plan?", yes=yes)
        again = make_executor().run(more)
        return execute.Outcome(outcome.done + again.done, outcome.failures + again.failures, again.still_busy)

    def _set_desired(self, state: State, names: list[str], desired: str, by: str = "user") -> None:
        now = state_mod.iso(state_mod.utcnow())
        for name in names:
            dep = state.deployments.get(name)
            if dep is None:
                raise EsmctlError(f"{name} has never been deployed, so it cannot be {desired}.",
                                  hint="Run `esmctl deploy` first.")
            if desired == "running" and dep.stop_schedule is not None:
                dep.stop_schedule.cancel = True  # `start` replaces a pending or fired timer
            if dep.desired == desired:
                continue
            dep.desired = "stopped" if desired == "stopped" else "running"
            if desired == "stopped":
                dep.stopped_at, dep.stopped_by = now, by
            else:
                dep.stopped_at = dep.stopped_by = None

    def stop_at(self, names: Iterable[str] = (), *, all: bool = False, at: dt.datetime) -> list[str]:
        """Set a stop timer (EventBridge Scheduler) for running deployments; nothing is deleted now."""
        targets, _ = self._stop_start_targets(names, all)
        with self._locked():
            state = self.read_state()
            assert state is not None
            observed, _ = self._refresh(state)
            timers = plan_only(self._planning(state, observed, targets), lambda c: stop_timer.plan_at(c, at))
            store = Store(self.backend, state)
            store.save()
            outcome = self._executor(store).run(timers)
            if outcome.failures:
                raise DeployFailed(f"{len(outcome.failures)} stop timer(s) could not be set; see above.")
        return targets

    def stop(self, names: Iterable[str] = (), *, all: bool = False, yes: bool = False, wait: bool = True,
             show_plan: Any = None, by: str = "user") -> DeployResult:
        """Delete the endpoints only (billing stops); model and config stay; stopped is sticky."""
        targets, state = self._stop_start_targets(names, all)
        running = [n for n in targets if state.deployments[n].desired != "stopped"]
        if not running:
            self.ui.info(f"Already stopped: {', '.join(targets)}.")
        saving = sum(self._hourly(state.deployments[n]) for n in running)
        q = f"Stop {', '.join(running)} (saves about {prices.money(saving)}, estimated)?"
        return self.deploy(yes=yes, wait=wait, targets=targets, set_desired="stopped", question=q,
                           show_plan=show_plan, stopped_by=by)

    def start(self, names: Iterable[str] = (), *, all: bool = False, wait: bool = True,
              show_plan: Any = None) -> DeployResult:
        """Recreate stopped endpoints under the same name from the kept config, and wait."""
        targets, state = self._stop_start_targets(names, all)
        now = state_mod.utcnow()
        for n in targets:
            dep = state.deployments[n]
            if dep.desired == "running" and not off_on_purpose(dep, now):
                self.ui.info(f"{n} is already running (desired state); nothing to start for it.")
        # an explicit start is never refused for the budget (the plan shows the month's projection)
        return self.deploy(yes=True, wait=wait, targets=targets, set_desired="running", show_plan=show_plan,
                           over_budget=True)

    def _hourly(self, dep: state_mod.DeploymentState) -> float:
        """Estimated $/h of a deployment's endpoint as recorded (0 when it has none)."""
        c = dep.endpoint_config
        if not (dep.endpoint and dep.endpoint.created and c):
            return 0.0
        return prices.cost(c.instance_type, c.instance_count, self.config.region, self.config.settings.prices) or 0.0

    def _stop_start_targets(self, names: Iterable[str], all: bool) -> tuple[list[str], State]:
        """The deployments `stop`/`start` act on (all recorded ones with --all), and the state."""
        names = list(names)
        state = self.read_state() or self._fresh_state()
        recorded = sorted(state.deployments)
        if all == bool(names):
            raise EsmctlError("Name the deployments, or use --all (not both).",
                              hint=f"Deployments: {', '.join(recorded) or '(none deployed)'}.")
        targets = recorded if all else names
        self._check_targets(targets, recorded)
        missing = [n for n in targets if n not in recorded]
        if missing:
            raise EsmctlError(f"Not deployed yet: {', '.join(missing)}.", hint="Run `esmctl deploy` first.")
        return targets, state

    def destroy(self, *, yes: bool = False, targets: Iterable[str] = (), show_plan: Any = None) -> DeployResult:
        return self.deploy(yes=yes, targets=targets, destroy=True, show_plan=show_plan)

    def refresh(self) -> list[str]:
        """Reconcile the state with AWS under the lock and report drift."""
        with self._locked():
            state = self.read_state()
            if state is None:
                return []
            _, drift = self._refresh(state)
            drift += self._check_tags(state)
            self.backend.write(state)
            return drift

    def _check_tags(self, state: State) -> list[str]:
        """A ListTags per resource (so only in `refresh`): record resources missing esmctl's tags."""
        cfg = self.config
        drift = []
        for name, dep in state.deployments.items():
            want = naming.tags(dict(cfg.settings.tags), cfg.environment, name)
            dep.untagged = []
            for what, rec in (("model", dep.model), ("endpoint config", dep.endpoint_config),
                              ("endpoint", dep.endpoint)):
                if rec is None or not rec.created or not rec.arn:
                    continue
                have = self.aws.sagemaker.list_tags(rec.arn)
                if any(have.get(k) != v for k, v in want.items()):
                    dep.untagged.append(rec.arn)
                    drift.append(f"{name}: {what} {rec.name} lost some of its tags")
        return drift

    def rotate_key(self, *, yes: bool = False, show_plan: Any = None) -> dict[str, Any]:
        """A new access key, stored and verified, then the old one deleted: a plan like any other."""
        with self._locked():
            state = self.read_state()
            shared = state.shared_account if state else None
            if state is None or shared is None or not shared.user_created:
                raise EsmctlError("There is no shared service account to rotate.",
                                  hint="Enable it in esmctl.yaml and run `esmctl deploy`.")
            observed, drift = self._refresh(state)
            the_plan = self._rotation_plan(state, observed)
            if show_plan:
                show_plan(the_plan, drift)
            self.ui.confirm(f"Replace the access key of {shared.user_name}? Clients using the old key "
                            "stop working once it is deleted.", yes=yes)
            store = Store(self.backend, state)
            store.save()
            old = next(a.name for a in the_plan.actions if a.verb == "delete" and a.spec == shared_user.AccessKey(
                a.name, shared.user_name, rotation=True))
            outcome = self._executor(store).run(the_plan)  # its steps are shared ones: a failure raises
            assert not outcome.failures
            return {"user_name": shared.user_name, "old_access_key_id": old,
                    "aws_access_key_id": shared.access_key_id, "created": shared.access_key_created}

    def permissions(self, *, scope: str = "all") -> dict[str, Any]:
        """The least-privilege IAM policy document for running esmctl on this configuration (offline;
        the account is the state's when there is one). See esmctl/permissions.py."""
        from esmctl import permissions

        if scope not in permissions.SCOPES:
            raise EsmctlError(f"--scope {scope}: not a scope; nothing was printed.",
                              hint=f"Use one of {', '.join(permissions.SCOPES)}.")
        return permissions.policy(self.config, self.read_state(), scope)
