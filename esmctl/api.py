"""The library surface: what the CLI calls and what a notebook can import.

`Workspace` ties one esmctl.yaml to its state and to AWS. Each method maps onto one command and
returns plain data; rendering is the caller's job. Offline methods (validate, outputs, plan without
refresh) never import boto3: the AWS layer is imported on first use.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esmctl import config as config_mod
from esmctl import naming, prices
from esmctl import state as state_mod
from esmctl.errors import EsmctlError, StateError
from esmctl.plan import Plan, observed_from_state
from esmctl.plan import plan as make_plan
from esmctl.reconcile import check_identity, reconcile
from esmctl.state import State, Store
from esmctl.ui import UI

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.execute import Outcome
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


SENSITIVE = "<sensitive>"


def mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) > 8 else "****"


class Workspace:
    """One deployment configuration (esmctl.yaml + models.yaml) with its state and AWS session."""

    def __init__(self, config_path: str | Path | None = None, *, profile: str | None = None,
                 region: str | None = None, endpoint_url: str | None = None, ui: UI | None = None) -> None:
        self.config_path = config_path
        self.profile = profile
        self.region_override = region
        self.endpoint_url = endpoint_url
        self.ui = ui or UI()
        self._config: Config | None = None
        self._aws: Aws | None = None

    # --- inputs -------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path, region=self.region_override)
        return self._config

    @property
    def aws(self) -> Aws:
        if self._aws is None:
            from esmctl.aws import Aws  # imported here so offline commands never load boto3
            self._aws = Aws(region=self.config.region, profile=self.profile, endpoint_url=self.endpoint_url)
        return self._aws

    @property
    def state_path(self) -> Path:
        return self.config.state_path

    def read_state(self) -> State | None:
        return state_mod.read(self.state_path)

    def _observe(self, state: State | None) -> Observed:
        from esmctl.observe import observe
        return observe(self.aws, self.config, state)

    def _fresh_state(self) -> State:
        return State(region=self.config.region, environment=self.config.environment)

    # --- commands -----------------------------------------------------------------------------
    def validate(self) -> Config:
        return self.config

    def plan(self, *, refresh: bool = True, targets: Iterable[str] = (), destroy: bool = False,
             suffix_placeholder: bool = True) -> PlanResult:
        """What deploy (or destroy) would do. Changes nothing, takes no lock."""
        cfg = self.config
        self._check_targets(targets)
        state = self.read_state()
        drift: list[str] = []
        if refresh:
            observed = self._observe(state)
            if state is not None:
                state = copy.deepcopy(state)
                check_identity(state, observed)
                drift = reconcile(state, observed, cfg.environment)
        else:
            observed = observed_from_state(state, cfg.region)
        suffix = (lambda: naming.PLACEHOLDER_SUFFIX) if suffix_placeholder else naming.new_suffix
        return PlanResult(make_plan(cfg, state, observed, new_suffix=suffix, targets=targets, destroy=destroy),
                          drift, refresh)

    def deploy(self, *, yes: bool = False, wait: bool = True, targets: Iterable[str] = (),
               parallelism: int | None = None, timeout: float | None = None, destroy: bool = False,
               show_plan: Any = None) -> DeployResult:
        """Plan, confirm, apply, wait. `show_plan(plan, drift)` renders the plan before asking."""
        from esmctl.execute import DEFAULT_PARALLELISM, Executor
        from esmctl.wait import Waiter

        cfg = self.config
        self._check_targets(targets)
        with self._locked():
            state = self.read_state()
            observed = self._observe(state)
            if state is None:
                if destroy:
                    return DeployResult(make_plan(cfg, None, observed, destroy=True), None)
                state = self._fresh_state()
            check_identity(state, observed)
            before = state.model_dump()
            drift = reconcile(state, observed, cfg.environment)
            the_plan = make_plan(cfg, state, observed, targets=targets, destroy=destroy)
            if show_plan:
                show_plan(the_plan, drift)
            store = Store(self.state_path, state)
            if not the_plan.actions and not the_plan.wait_for:
                if state.model_dump() != before and (state.deployments or state.role):
                    store.save()  # keep what the refresh learned
                return DeployResult(the_plan, None, drift)
            if not the_plan.empty:
                verb = "destroy these resources" if destroy else "apply this plan"
                self.ui.confirm(f"Do you want to {verb}?", yes=yes)
            waiter = Waiter(self.aws.sagemaker, timeout=timeout)
            ex = Executor(aws=self.aws, store=store, config=cfg, ui=self.ui, waiter=waiter,
                          parallelism=parallelism or DEFAULT_PARALLELISM, wait=wait)
            store.save()
            outcome = ex.run(the_plan)
            return DeployResult(the_plan, outcome, drift)

    def destroy(self, *, yes: bool = False, targets: Iterable[str] = (), show_plan: Any = None) -> DeployResult:
        return self.deploy(yes=yes, targets=targets, destroy=True, show_plan=show_plan)

    def refresh(self) -> list[str]:
        """Reconcile the state with AWS under the lock and report drift."""
        cfg = self.config
        with self._locked():
            state = self.read_state()
            if state is None:
                return []
            observed = self._observe(state)
            check_identity(state, observed)
            drift = reconcile(state, observed, cfg.environment)
            state_mod.write(self.state_path, state)
            return drift

    def status(self, name: str | None = None, *, refresh: bool = True,
               now: dt.datetime | None = None) -> dict[str, Any]:
        """Per deployment: live status, hardware, $/h, running since, cost so far; and totals."""
        cfg = self.config
        if name is not None:
            self._check_targets([name])
        state = self.read_state()
        if state is not None and refresh:
            state = copy.deepcopy(state)
            observed = self._observe(state)
            check_identity(state, observed)
            reconcile(state, observed, cfg.environment)
        now = now or state_mod.utcnow()
        rows = []
        total_h = total_so_far = 0.0
        for dname in sorted(set(cfg.deployments) | set(state.deployments if state else {})):
            if name is not None and dname != name:
                continue
            dep = state.deployments.get(dname) if state else None
            want = cfg.deployments.get(dname)
            ep = dep.endpoint if dep else None
            live = (ep.status if ep and ep.created else "") or ("stopped" if dep and dep.desired == "stopped"
                                                                else "not deployed")
            c = dep.endpoint_config if dep else None
            itype = c.instance_type if c else (want.instance_type if want else "?")
            count = c.instance_count if c else (want.instance_count if want else 0)
            billed = bool(ep and ep.created)
            per_h = prices.cost(itype, count, cfg.region, cfg.settings.prices) if billed else 0.0
            since = state_mod.parse_iso(dep.started_at) if dep and billed else None
            so_far = per_h * (now - since).total_seconds() / 3600 if per_h is not None and since else 0.0
            total_h += per_h or 0.0
            total_so_far += so_far or 0.0
            rows.append({
                "name": dname, "selector": (dep.selector if dep else want.selector if want else ""),
                "endpoint_name": ep.name if ep else "", "status": live,
                "instance_type": itype, "instance_count": count,
                "estimated_cost_per_hour": None if per_h is None else round(per_h, 4),
                "running_since": state_mod.iso(since),
                "estimated_cost_so_far": round(so_far, 4) if so_far is not None else None,
                "desired": dep.desired if dep else "running",
                "stopped_at": dep.stopped_at if dep else None,
                "failure_reason": ep.failure_reason if ep and live == "Failed" else "",
                "in_config": want is not None,
            })
        return {"environment": cfg.environment, "region": cfg.region, "deployments": rows,
                "total": {"estimated_cost_per_hour": round(total_h, 4),
                          "estimated_cost_so_far": round(total_so_far, 4)},
                "prices_are_estimates": True, "refreshed": refresh and state is not None}

    def outputs(self, *, reveal: bool = False) -> dict[str, Any]:
        """The module's outputs, from the state (no AWS call unless `reveal` reads the secret)."""
        cfg = self.config
        state = self.read_state()
        endpoints = {}
        for dname, dep in sorted((state.deployments if state else {}).items()):
            if dep.endpoint is None or dep.endpoint_config is None:
                continue
            endpoints[dname] = {
                "endpoint_config_name": dep.endpoint_config.name,
                "endpoint_name": dep.endpoint.name,
                "endpoint_url": naming.endpoint_url(cfg.region, dep.endpoint.name),
                "forge_model_name": dep.forge_model_name,
            }
        role = ""
        if state and state.role:
            role = state.role.name
        elif cfg.settings.execution_role_arn:
            role = cfg.settings.execution_role_arn.rsplit("/", 1)[-1]
        shared = state.shared_account if state else None
        users: dict[str, str] = {}
        keys: dict[str, str] = {}
        secret: dict[str, str] = {}
        if shared is not None and shared.user_created:
            users = {shared.user_name: shared.user_name}
            keys = {shared.user_name: shared.access_key_id}
            if reveal:
                secret = {shared.user_name: self._read_secret(shared)["aws_secret_access_key"]}
            else:
                secret = {shared.user_name: SENSITIVE}
        return {
            "sagemaker_endpoints": endpoints,
            "sagemaker_execution_role": role,
            "shared_service_user_name": users,
            "shared_service_user_access_key_id": keys,
            "shared_service_user_secret_access_key": secret,
        }

    def _read_secret(self, shared: state_mod.SharedAccountRecord) -> dict[str, str]:
        from esmctl import secrets

        aws = self.aws if shared.secret_store == "secretsmanager" else None
        doc = secrets.store_for(self.config, aws, shared.secret_store, shared.user_name).read()
        if not doc or doc.get("aws_access_key_id") != shared.access_key_id:
            raise EsmctlError(
                f"The secret of access key {shared.access_key_id} is not in the secret store "
                f"({shared.secret_store}: {shared.secret_ref or 'missing'}).",
                hint="`esmctl deploy` replaces a key whose secret was lost; `esmctl creds rotate` makes a new one.")
        return doc

    def creds(self, *, reveal: bool = False) -> dict[str, Any]:
        """The shared service account's key; the secret masked unless `reveal`."""
        state = self.read_state()
        shared = state.shared_account if state else None
        if shared is None or not shared.user_created or not shared.access_key_id:
            enabled = self.config.settings.enable_shared_service_account
            raise EsmctlError(
                "There is no shared service account in this environment"
                + (" yet." if enabled else " (enable_shared_service_account is false)."),
                hint="Run `esmctl deploy`." if enabled else
                "Set `enable_shared_service_account: true` in esmctl.yaml and run `esmctl deploy`.")
        doc = self._read_secret(shared)
        secret = doc["aws_secret_access_key"]
        return {"user_name": shared.user_name, "aws_access_key_id": shared.access_key_id,
                "aws_secret_access_key": secret if reveal else mask(secret),
                "created": shared.access_key_created, "region": self.config.region}

    def rotate_key(self, *, yes: bool = False, verify_timeout: float = 60.0) -> dict[str, Any]:
        """A new access key, stored and verified, then the old one deleted."""
        from esmctl.rotate import rotate

        with self._locked():
            state = self.read_state()
            shared = state.shared_account if state else None
            if state is None or shared is None or not shared.user_created:
                raise EsmctlError("There is no shared service account to rotate.",
                                  hint="Enable it in esmctl.yaml and run `esmctl deploy`.")
            self.ui.confirm(f"Replace the access key of {shared.user_name}? Clients using the old key "
                            "stop working once it is deleted.", yes=yes)
            return rotate(self.aws, Store(self.state_path, state), self.config, self.ui,
                          verify_timeout=verify_timeout)

    def unlock(self, *, force: bool = False) -> state_mod.LockInfo | None:
        return state_mod.unlock(self.state_path, force=force)

    def _locked(self) -> Any:
        def stale(holder: state_mod.LockInfo) -> None:
            self.ui.warn(f"Taking over a stale lock: {holder.describe()} is no longer running.")
        return state_mod.locked(self.state_path, state_mod.command_line(), on_stale=stale)

    def _check_targets(self, targets: Iterable[str]) -> None:
        targets = list(targets)
        if not targets:
            return
        state = self.read_state()
        known = set(self.config.deployments) | set(state.deployments if state else {})
        unknown = [t for t in targets if t not in known]
        if unknown:
            raise EsmctlError(
                f"Unknown deployment{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; nothing was changed.",
                hint=f"Known: {', '.join(sorted(known)) or '(none)'} (the keys of selected_models).")


__all__ = ["DeployResult", "PlanResult", "StateError", "Workspace"]
