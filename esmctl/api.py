"""The library surface: what the CLI calls and what a notebook can import.

`Workspace` ties one esmctl.yaml to its state and to AWS. Each method maps onto one command and
returns plain data; rendering is the caller's job. Offline methods (validate, outputs, plan without
refresh) never import boto3: the AWS layer is imported on first use.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import shlex
from collections.abc import Callable, Iterable
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
    from esmctl.doctor import Finding
    from esmctl.execute import Executor, Outcome
    from esmctl.invoke import InvokeResult, SmokeResult
    from esmctl.observe import Observed
    from esmctl.tfimport import Imported


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


def new_aws(*, region: str, profile: str | None = None, endpoint_url: str | None = None) -> Aws:
    """An AWS session without a configuration (for commands that need none)."""
    from esmctl.aws import Aws
    return Aws(region=region, profile=profile, endpoint_url=endpoint_url)


def refresh_prices(aws: Aws, region: str, now: dt.datetime) -> tuple[dict[str, float], Path]:
    """Fetch on-demand SageMaker hosting prices for `region` into the local price cache."""
    table = prices.parse_price_list(aws.pricing.sagemaker_hosting_products(region))
    if not table:
        raise EsmctlError(f"The AWS Price List API returned no SageMaker hosting prices for {region}.",
                          hint="Check the region name; the bundled price table stays in use.")
    return table, prices.write_cache(region, table, now)


def mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) > 8 else "****"


class Workspace:
    """One deployment configuration (esmctl.yaml + models.yaml) with its state and AWS session."""

    def __init__(self, config_path: str | Path | None = None, *, profile: str | None = None,
                 region: str | None = None, endpoint_url: str | None = None, ui: UI | None = None,
                 state: str | None = None) -> None:
        self.config_path = config_path
        self.profile = profile
        self.region_override = region
        self.state_override = state
        self.endpoint_url = endpoint_url
        self.ui = ui or UI()
        self._config: Config | None = None
        self._aws: Aws | None = None
        self._backend: state_mod.Backend | None = None

    # --- inputs -------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path, region=self.region_override, state=self.state_override)
        return self._config

    @property
    def aws(self) -> Aws:
        if self._aws is None:
            from esmctl.aws import Aws  # imported here so offline commands never load boto3
            self._aws = Aws(region=self.config.region, profile=self.profile, endpoint_url=self.endpoint_url)
            self._aws.notify = self.ui.info  # what a retry waits for (AWS's eventual consistency)
        return self._aws

    @property
    def backend(self) -> state_mod.Backend:
        """Where this environment's state lives: a local file or an S3 object (esmctl/remote.py)."""
        if self._backend is None:
            self._backend = self.backend_at(self.config.state_location)
        return self._backend

    def backend_at(self, location: Path | state_mod.S3Url) -> state_mod.Backend:
        from esmctl.remote import backend_for
        return backend_for(location, self.config.environment, lambda: self.aws.s3, warn=self.ui.warn,
                           kms_key=self.config.settings.state_kms_key)

    def read_state(self) -> State | None:
        return self.backend.read()

    def _observe(self, state: State | None) -> Observed:
        from esmctl.observe import observe
        return observe(self.aws, self.config, state)

    def _refresh(self, state: State) -> tuple[Observed, list[str]]:
        """Read AWS, refuse another account/region/environment, bring `state` in line; the drift."""
        observed = self._observe(state)
        check_identity(state, observed, self.config.environment)
        return observed, reconcile(state, observed, self.config.environment)

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
        if refresh and state is not None:
            state = copy.deepcopy(state)
            observed, drift = self._refresh(state)
        elif refresh:
            observed = self._observe(None)
        else:
            observed = observed_from_state(state, cfg.region)
        suffix = (lambda: naming.PLACEHOLDER_SUFFIX) if suffix_placeholder else naming.new_suffix
        return PlanResult(make_plan(cfg, state, observed, new_suffix=suffix, targets=targets, destroy=destroy),
                          drift, refresh)

    def deploy(self, *, yes: bool = False, wait: bool = True, targets: Iterable[str] = (),
               parallelism: int | None = None, timeout: float | None = None, destroy: bool = False,
               show_plan: Any = None, set_desired: str | None = None, question: str | None = None,
               ttl: float | None = None, stopped_by: str = "user") -> DeployResult:
        """Plan, confirm, apply, wait. `show_plan(plan, drift)` renders the plan before asking.

        `set_desired` ("running"/"stopped") first marks the target deployments so (stop/start).
        """
        from esmctl.execute import DEFAULT_PARALLELISM, Executor
        from esmctl.wait import Waiter

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
            the_plan = make_plan(cfg, state, observed, targets=targets, destroy=destroy)
            if show_plan:
                show_plan(the_plan, drift)
            store = Store(self.backend, state)
            outcome: Outcome | None = None
            if not the_plan.actions and not the_plan.wait_for:
                if state.model_dump() != before and (state.deployments or state.role):
                    store.save()  # keep what the refresh learned
            else:
                if not the_plan.empty:
                    verb = "destroy these resources" if destroy else "apply this plan"
                    self.ui.confirm(question or f"Do you want to {verb}?", yes=yes)
                waiter = Waiter(self.aws.sagemaker, timeout=timeout)

                def executor() -> Executor:
                    return Executor(aws=self.aws, store=store, config=cfg, ui=self.ui, waiter=waiter,
                                    parallelism=parallelism or DEFAULT_PARALLELISM, wait=wait)

                store.save()
                outcome = executor().run(the_plan)
                if the_plan.wait_for and wait and not outcome.failures and not destroy:
                    outcome = self._follow_up(store, outcome, targets, yes=yes, show_plan=show_plan,
                                              make_executor=executor)
            if ttl and (outcome is None or not outcome.failures):
                self._set_timers(store, list(targets) or list(cfg.deployments),
                                 state_mod.utcnow() + dt.timedelta(seconds=ttl))
            return DeployResult(the_plan, outcome, drift)

    def _follow_up(self, store: Store, outcome: Outcome, targets: Iterable[str], *, yes: bool, show_plan: Any,
                   make_executor: Callable[[], Executor]) -> Outcome:
        """After waiting for endpoints that were already busy (an update started by a run that was
        killed, or someone else's), finish what the configuration asks of them in the same run: move
        them to the wanted config, delete what they no longer use."""
        from esmctl import execute

        observed, drift = self._refresh(store.state)
        more = make_plan(self.config, store.state, observed, targets=targets)
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

    def _set_timers(self, store: Store, names: list[str], at: dt.datetime) -> None:
        from esmctl import schedule

        todo = [n for n in names if (d := store.state.deployments.get(n)) is not None and d.desired == "running"
                and d.endpoint is not None]

        def one(name: str) -> None:
            dep = store.state.deployments[name]
            assert dep.endpoint is not None
            schedule.create_stop(self.aws, store, self.config, name, at)
            self.ui.ok(f"{name}: stop timer set — EventBridge Scheduler deletes {dep.endpoint.name} at "
                       f"{state_mod.iso(at)} (works with this machine off).")

        # Side by side: each timer's new role waits out IAM's propagation delay (seconds) once, not in turn.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(todo))), thread_name_prefix="esmctl-timer") as pool:
            for future in [pool.submit(one, n) for n in todo]:
                future.result()  # the first error is raised, the others still finish

    def stop_at(self, names: Iterable[str] = (), *, all: bool = False, at: dt.datetime) -> list[str]:
        """Set a stop timer (EventBridge Scheduler) for running deployments; nothing is deleted now."""
        targets, _ = self._stop_start_targets(names, all)
        with self._locked():
            state = self.read_state()
            assert state is not None
            self._refresh(state)
            store = Store(self.backend, state)
            self._set_timers(store, targets, at)
            store.save()
        return targets

    def idle(self, window: float, names: Iterable[str] = (), *, now: dt.datetime | None = None
             ) -> list[dict[str, Any]]:
        """For each running endpoint: invocations in the last `window` seconds (CloudWatch) and
        whether it is idle. An endpoint younger than the window is never idle."""
        now = now or state_mod.utcnow()
        names = list(names)
        state = self.read_state()
        if state is None:
            return []
        observed, _ = self._refresh(state)
        rows = []
        candidates: dict[str, str] = {}
        for dname, dep in sorted(state.deployments.items()):
            if names and dname not in names:
                continue
            ep = dep.endpoint
            seen = observed.endpoint(ep.name) if ep else None
            if dep.desired != "running" or ep is None or seen is None or seen.status != "InService":
                continue
            since = seen.created or state_mod.parse_iso(dep.started_at)
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=dt.UTC)
            age = (now - since).total_seconds() if since else 0.0
            row = {"name": dname, "endpoint_name": ep.name, "age_seconds": round(age), "invocations": None,
                   "idle": False, "reason": ""}
            if age < window:
                row["reason"] = "younger than the window"
            else:
                candidates[ep.name] = dname
            rows.append(row)
        if candidates:
            from esmctl.metrics import metric_period

            start = now - dt.timedelta(seconds=window)
            # A Period GetMetricData accepts for a StartTime that old, else it silently returns nothing
            period = metric_period(window, now, start)
            sums = self.aws.cloudwatch.invocation_sums(sorted(candidates), start=start, end=now, period=period)
            for row in rows:
                if row["endpoint_name"] in candidates:
                    n = sums.get(row["endpoint_name"], 0.0)
                    row["invocations"] = n
                    row["idle"] = n == 0
                    row["reason"] = "no invocations in the window" if n == 0 else f"{n:.0f} invocations"
        return rows

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
        for n in targets:
            if state.deployments[n].desired == "running":
                self.ui.info(f"{n} is already running (desired state); nothing to start for it.")
        return self.deploy(yes=True, wait=wait, targets=targets, set_desired="running", show_plan=show_plan)

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

    def status(self, name: str | None = None, *, refresh: bool = True,
               now: dt.datetime | None = None) -> dict[str, Any]:
        """Per deployment: live status, hardware, $/h, running since, cost so far; and totals."""
        cfg = self.config
        if name is not None:
            self._check_targets([name])
        state = self.read_state()
        if state is not None and refresh:
            state = copy.deepcopy(state)
            self._refresh(state)
        now = now or state_mod.utcnow()
        rows = []
        total_h = total_so_far = 0.0
        for dname in sorted(set(cfg.deployments) | set(state.deployments if state else {})):
            if name is not None and dname != name:
                continue
            dep = state.deployments.get(dname) if state else None
            want = cfg.deployments.get(dname)
            ep = dep.endpoint if dep else None
            if dep and dep.desired == "stopped":
                live = "stopped" + (f" (by {dep.stopped_by})" if dep.stopped_by else "")
            elif ep and ep.created:
                live = ep.status or "?"
            elif ep:
                live = "missing (deleted outside esmctl?)"
            else:
                live = "not deployed"
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
                "stopped_by": dep.stopped_by if dep and dep.desired == "stopped" else None,
                "stop_scheduled_at": dep.stop_schedule.at if dep and dep.stop_schedule and dep.stop_schedule.created
                and not dep.stop_schedule.fired and not dep.stop_schedule.cancel else None,
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

    def rotate_key(self, *, yes: bool = False) -> dict[str, Any]:
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
            return rotate(self.aws, Store(self.backend, state), self.config, self.ui)

    def doctor(self) -> list[Finding]:
        """Every preflight check (`esmctl doctor`); see esmctl/doctor.py. Changes nothing."""
        from esmctl import doctor
        return doctor.diagnose(self)

    def preflight(self, targets: Iterable[str] = ()) -> list[Finding]:
        """The cheap checks `deploy` runs before it creates anything: credentials, region,
        Marketplace subscription, instance quotas."""
        from esmctl import doctor
        return doctor.run_checks(self.config, self.aws, backend=self.backend, targets=targets, cheap=True)

    def invoke(self, name: str, *, sequence: str | None = None, as_shared_user: bool = False) -> InvokeResult:
        """One Forge `encode` request to the deployment's endpoint (a smoke test); see esmctl/invoke.py."""
        from esmctl import invoke
        return invoke.invoke_deployment(self, name, sequence=sequence, as_shared_user=as_shared_user)

    def smoke(self, names: Iterable[str]) -> list[SmokeResult]:
        """`invoke` each deployment once, collecting failures (`deploy --smoke`)."""
        from esmctl import invoke
        return invoke.smoke(self, list(names))

    # --- adopting a Terraform state -------------------------------------------------------------
    def import_terraform(self, path: str | Path, *, module: str | None = None, force: bool = False,
                         secret_store: str = "secretsmanager") -> dict[str, Any]:
        """Adopt the resources of a Terraform state of the module (see esmctl/tfimport.py): write
        esmctl.yaml (and models.yaml if missing), move the access key's secret to the secret store,
        write the esmctl state. Nothing is written when anything is wrong."""
        import os

        import yaml

        from esmctl import tfimport

        cfg_path = Path(self.config_path or os.environ.get("ESMCTL_CONFIG") or config_mod.DEFAULT_CONFIG)
        try:
            raw = Path(path).read_bytes()
        except OSError as e:
            raise EsmctlError(f"Cannot read {path}: {e.strerror or e}.",
                              hint="Give the Terraform state file (`terraform state pull > tf.json`).") from None
        resources = tfimport.read(raw, str(path))
        keep: dict[str, Any] = {}
        if cfg_path.exists():
            if not force:
                raise EsmctlError(f"{cfg_path} already exists; nothing was written.",
                                  hint="--force replaces it (keeping its models_yaml_path, secret_store, state and "
                                  "prices).")
            old = config_mod.load_raw(cfg_path)
            keep = {k: old[k] for k in ("models_yaml_path", "secret_store", "state", "prices") if k in old}
        if self.state_override is not None:
            keep["state"] = self.state_override
        catalog_path = cfg_path.parent / str(keep.get("models_yaml_path", "models.yaml"))
        wrote_catalog = not catalog_path.exists()
        tmp = cfg_path.with_name(f".{cfg_path.name}.import.tmp")
        try:
            if wrote_catalog:  # the module's own catalog, as `esmctl init` writes it
                from importlib import resources as res
                _write_file(catalog_path, res.files("esmctl").joinpath("examples/models.yaml").read_text())
            imp = tfimport.adopt(resources, config_mod.load_catalog(catalog_path), module=module,
                                 secret_store=str(keep.get("secret_store", secret_store)))
            settings = {**imp.settings, **keep}
            settings["selected_models"] = settings.pop("selected_models")  # last, as in the examples
            header = (f"# Written by `esmctl import-terraform {path}` from {imp.module or 'the root module'}: "
                      "the Terraform module's inputs.\n")
            _write_file(tmp, header + yaml.safe_dump(settings, sort_keys=False, allow_unicode=True))
            result = self._adopt(imp, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            if wrote_catalog:
                catalog_path.unlink(missing_ok=True)
            self._config = None
            self._backend = None
            raise
        try:
            os.replace(tmp, cfg_path)
        except OSError as e:  # the state is written: say where the configuration is
            raise EsmctlError(f"The state was written, but {cfg_path} could not be replaced ({e.strerror or e}).",
                              hint=f"Move {tmp} to {cfg_path} by hand.") from None
        self._config = None
        self._backend = None
        return {**result, "config": str(cfg_path), "models_yaml_written": str(catalog_path) if wrote_catalog else None,
                "module": imp.module or "(root)", "notes": imp.notes,
                "terraform_state_rm": " ".join(shlex.quote(a) for a in
                                               ([imp.module] if imp.module and imp.complete else imp.addresses))}

    def _adopt(self, imp: Imported, cfg_file: Path) -> dict[str, Any]:
        """Under the new configuration at `cfg_file`: check the account, store the secret, write the state."""
        from esmctl import secrets

        self._config = config_mod.load(cfg_file, state=self.state_override)
        self._backend = None
        cfg, state = self.config, imp.state
        account = self.aws.account_id()
        if state.account_id and account != state.account_id:
            raise StateError(f"The Terraform state is of AWS account {state.account_id}, but these credentials are "
                             f"of {account}; nothing was written.", hint="Use that account's profile (--profile).")
        with self._locked():
            existing = self.read_state()
            if existing is not None and (existing.deployments or existing.role or existing.shared_account):
                raise StateError(f"An esmctl state already exists at {self.backend.where} (serial {existing.serial}); "
                                 "nothing was written.",
                                 hint="Import into a new environment or state location (--state), or `esmctl destroy`"
                                 " what that state manages first.")
            if existing is not None:  # an empty state (everything destroyed): keep its history
                state.lineage, state.serial = existing.lineage, existing.serial
            observed, drift = self._refresh(state)
            for dep in state.deployments.values():  # "running since" for status and cost so far
                seen = observed.endpoint(dep.endpoint.name) if dep.endpoint else None
                if seen is not None and seen.created is not None:
                    dep.started_at = dep.created_at = state_mod.iso(seen.created)
            secret_where = ""
            rec = state.shared_account
            store, had = None, False
            if imp.access_key and rec is not None:  # the last step before the state: nothing fails after it
                store = secrets.store_for(cfg, self.aws if rec.secret_store == "secretsmanager" else None,
                                          rec.secret_store, rec.user_name)
                had = store.read() is not None
                rec.secret_ref = store.write({"aws_access_key_id": imp.access_key[0],
                                              "aws_secret_access_key": imp.access_key[1]})
                secret_where = f"{rec.secret_store}: {rec.secret_ref}"
            try:
                self.backend.write(state)
            except BaseException:
                if store is not None and not had:
                    with contextlib.suppress(EsmctlError):
                        store.delete()
                raise
        return {"state": self.backend.where, "deployments": sorted(state.deployments), "drift": drift,
                "secret": secret_where, "shared_user": rec.user_name if rec else None}

    # --- moving the state -----------------------------------------------------------------------
    def state_pull(self) -> bytes:
        """The state document as stored (checked to be a valid state), for `esmctl state pull`."""
        raw = self.backend.read_bytes()
        if raw is None:
            raise StateError(f"There is no state at {self.backend.where} yet.",
                             hint="`esmctl deploy` creates it; check `state:` / --state and `environment:`.")
        state_mod.parse(raw, self.backend.where)
        return raw

    def state_push(self, raw: bytes, *, source: str, force: bool = False) -> str:
        """Replace the state with `raw` under the lock, with Terraform's lineage/serial checks.
        Returns "written" or "unchanged"."""
        new = state_mod.parse(raw, source)
        self._check_env(new, source)
        with self._locked():
            return self._replace(self.backend, raw, new, force=force)

    def state_migrate(self, to: str, *, force: bool = False, update_config: bool = True) -> dict[str, Any]:
        """Copy the state, byte for byte, to `to` (a path or s3://BUCKET/PREFIX/; "local" is the default
        state/<environment>.json), holding both locks; then point `state:` in esmctl.yaml at it."""
        cfg = self.config
        value = "" if to == "local" else to
        try:
            location = cfg.resolve_state(value)
        except ValueError as e:
            raise EsmctlError(f"--to {to}: {e}.", hint="Use s3://BUCKET/PREFIX/ or a local path.") from None
        if isinstance(location, state_mod.S3Url) and cfg.settings.secret_store == "local":
            raise EsmctlError(
                "The shared key's secret is in a local file (secret_store: local), which the others using the "
                "remote state cannot read; nothing was moved.",
                hint="Set `secret_store: secretsmanager` and run `esmctl deploy` (it moves the key), then migrate.")
        source = self.backend
        dest = self.backend_at(location)
        if dest.where == source.where:
            raise EsmctlError(f"The state is already at {dest.where}.", hint="Name another location with --to.")
        with self._locked(), dest.locked(state_mod.command_line()):
            raw = source.read_bytes()
            if raw is None:
                raise StateError(f"There is no state at {source.where} to migrate.",
                                 hint="Nothing is deployed in this environment; set `state:` to the new location.")
            st = state_mod.parse(raw, source.where)
            self._check_env(st, source.where)
            result = self._replace(dest, raw, st, force=force)
        updated = False
        if update_config and self.state_override is None and cfg.settings.state != value:
            try:
                config_mod.set_state_setting(cfg.path, value)
            except OSError as e:
                raise EsmctlError(f"The state was copied to {dest.where}, but {cfg.path} could not be updated "
                                  f"({e.strerror or e}).", hint=f"Set `state: {value!r}` in it by hand.") from None
            updated = True
        return {"from": source.where, "to": dest.where, "serial": st.serial, "lineage": st.lineage,
                "result": result, "config_updated": updated, "config": str(cfg.path)}

    def _check_env(self, st: State, where: str) -> None:
        if st.environment != self.config.environment:
            raise StateError(f"{where} is the state of environment {st.environment!r}, not of "
                             f"{self.config.environment!r}; nothing was written.",
                             hint="Use the configuration of that environment (-c) or check the file.")

    def _replace(self, backend: state_mod.Backend, raw: bytes, new: State, *, force: bool) -> str:
        current_raw = backend.read_bytes()
        if current_raw == raw:
            return "unchanged"
        current = None
        if current_raw is not None:
            try:
                current = state_mod.parse(current_raw, backend.where)
            except StateError:
                if not force:  # a corrupt state there: replacing it is what --force is for
                    raise
        state_mod.check_replace(current, new, where=backend.where, force=force)
        backend.write_bytes(raw)
        return "written"

    def unlock(self, *, force: bool = False) -> state_mod.LockInfo | None:
        return self.backend.unlock(force=force)

    def _locked(self) -> Any:
        def stale(holder: state_mod.LockInfo) -> None:
            self.ui.warn(f"Taking over a stale lock: {holder.describe()} is no longer running.")
        return self.backend.locked(state_mod.command_line(), on_stale=stale)

    def _check_targets(self, targets: Iterable[str], recorded: Iterable[str] | None = None) -> None:
        """Every target is in esmctl.yaml or in the state (`recorded`: its deployments, when the caller
        has read it; else the state is read only if a target is not in esmctl.yaml)."""
        unknown = [t for t in targets if t not in self.config.deployments]
        if not unknown:
            return
        if recorded is None:
            state = self.read_state()
            recorded = state.deployments if state else {}
        known = set(self.config.deployments) | set(recorded)
        unknown = [t for t in unknown if t not in known]
        if unknown:
            raise EsmctlError(
                f"Unknown deployment{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; nothing was changed.",
                hint=f"Known: {', '.join(sorted(known)) or '(none)'} (the keys of selected_models).")


def _write_file(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise EsmctlError(f"Cannot write {path}: {e.strerror or e}; nothing was written.",
                          hint="Check the folder's permissions, or run from another folder (-c PATH).") from None


__all__ = ["DeployResult", "PlanResult", "StateError", "Workspace"]
