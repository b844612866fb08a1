"""Use cases that read: status, outputs, the shared key, doctor (and `deploy`'s pre-deploy checks),
invoke (and `deploy --smoke`). Progress goes through `self.ui`, the caller's Reporter."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from esmctl import budget, naming, prices, resources
from esmctl import state as state_mod
from esmctl.api.workspace import Base
from esmctl.errors import ConfigError, EsmctlError
from esmctl.observe import from_state
from esmctl.resources.endpoint import off_on_purpose

if TYPE_CHECKING:
    from esmctl.api.deploy import DeployResult
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.doctor import Finding
    from esmctl.invoke import InvokeResult, SmokeResult

SENSITIVE = "<sensitive>"


def mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) > 8 else "****"


class Reporting(Base):
    def status(self, name: str | None = None, *, refresh: bool = True,
               now: dt.datetime | None = None) -> dict[str, Any]:
        """Per deployment: live status, hardware, $/h, running since, cost so far; and totals."""
        cfg = self.config
        if name is not None:
            self._check_targets([name])
        state = self.read_state()
        if state is not None and refresh:
            state = copy.deepcopy(state)
            observed, _ = self._refresh(state)
        else:
            observed = from_state(state, cfg.region)
        now = now or state_mod.utcnow()
        hooks = resources.hooks("status_fields")
        rows = []
        billed: dict[str, tuple[str, int]] = {}  # endpoints that exist now → (type, count running)
        total_h = total_so_far = 0.0
        for dname in sorted(set(cfg.deployments) | set(state.deployments if state else {})):
            dep = state.deployments.get(dname) if state else None
            want = cfg.deployments.get(dname)
            ep = dep.endpoint if dep else None
            if dep and dep.desired == "stopped":
                live = "stopped" + (f" (by {dep.stopped_by})" if dep.stopped_by else "")
            elif ep and ep.created:
                live = ep.status or "?"
            elif dep and (off := off_on_purpose(dep, now)):
                live = off
            elif ep:
                live = "missing (deleted outside esmctl?)"
            else:
                live = "not deployed"
            extra: dict[str, Any] = {}
            for hook in hooks:
                extra |= hook(dep, want, observed, now)
            c = dep.endpoint_config if dep else None
            itype = c.instance_type if c else (want.instance_type if want else "?")
            count = c.instance_count if c else (want.instance_count if want else 0)
            current = (extra.get("autoscaling") or {}).get("current_instances")
            count = current if current is not None else count  # autoscaled: what runs now
            is_billed = bool(ep and ep.created)
            per_h = prices.cost(itype, count, cfg.region, cfg.settings.prices) if is_billed else 0.0
            since = state_mod.parse_iso(dep.started_at) if dep and is_billed else None
            so_far = per_h * (now - since).total_seconds() / 3600 if per_h is not None and since else 0.0
            if is_billed:
                billed[dname] = (itype, count)  # the month's projection covers the environment
            if name is not None and dname != name:
                continue
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
                **extra,
            })
        spent, going = budget.recorded(cfg, state, billed, now)
        projection = budget.project(cfg, going, spent, now)
        return {"environment": cfg.environment, "region": cfg.region, "deployments": rows,
                "total": {"estimated_cost_per_hour": round(total_h, 4),
                          "estimated_cost_so_far": round(total_so_far, 4)},
                "budget": projection.to_json(),
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

    def invoke(self, name: str, *, sequence: str | None = None, as_shared_user: bool = False) -> InvokeResult:
        """One Forge `encode` request to the deployment's endpoint (a smoke test); see esmctl/invoke.py."""
        from esmctl import invoke
        return invoke.invoke_deployment(name, config=self.config, read_state=self.read_state, connect=lambda: self.aws,
                                        shared_key=(lambda: self.creds(reveal=True)) if as_shared_user else None,
                                        sequence=sequence)

    def smoke(self, names: Iterable[str]) -> list[SmokeResult]:
        """`invoke` each deployment once, collecting failures."""
        from esmctl import invoke
        return invoke.smoke(list(names), config=self.config, read_state=self.read_state, connect=lambda: self.aws)

    def smoke_test(self, result: DeployResult) -> list[SmokeResult]:
        """`deploy --smoke`: `smoke` every endpoint the run that gave `result` created or updated
        (the steps that wait for InService); [] when it changed none."""
        names = sorted({a.deployment for a in result.plan.actions if a.handler.waits == "InService"})
        if result.outcome is None or not names:
            return []
        return self.smoke(names)

    def doctor(self) -> list[Finding]:
        """Every preflight check (`esmctl doctor`); see esmctl/doctor.py. Changes nothing."""
        from esmctl import doctor
        return doctor.diagnose(self.config_path, region=self.region_override, state=self.state_override,
                               connect=self._session_for, on_crash=self.ui.detail)

    def _session_for(self, cfg: Config) -> Aws:
        """The workspace's AWS session; for a configuration only doctor accepts (a model package in
        another region: `self.config` refuses it), a session of its own in `cfg`'s region."""
        try:
            return self.aws
        except ConfigError:
            from esmctl.aws import Aws
            return Aws(region=cfg.region, profile=self.profile, endpoint_url=self.endpoint_url)

    def preflight(self, targets: Iterable[str] = ()) -> list[Finding]:
        """The cheap checks `deploy` runs before it creates anything: credentials, region,
        Marketplace subscription, instance quotas."""
        from esmctl import doctor
        return doctor.run_checks(self.config, self.aws, backend=self.backend, targets=targets, cheap=True)
