"""Using a deployment: a client for its endpoint (`esmctl.connect`), and embedding a file with it
(`esmctl embed`), waking a stopped deployment first and stopping it after when asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esmctl.api.workspace import Base
from esmctl.errors import EsmctlError

if TYPE_CHECKING:
    from esmctl.client import Client
    from esmctl.embed import Progress, Summary
    from esmctl.state import State


class Using(Base):
    def deployment_name(self, name: str | None) -> str:
        """`name`, or the only deployment of the configuration."""
        if name:
            return name
        names = sorted(self.config.deployments)
        if len(names) == 1:
            return names[0]
        raise EsmctlError("Which deployment? This configuration has " + (
            f"{len(names)}: {', '.join(names)}." if names else "none."),
            hint="Pass --deployment NAME (a key of selected_models).")

    def client(self, name: str | None = None, *, as_shared_user: bool = False, concurrency: int | None = None,
               deadline: float | None = None, state: State | None = None) -> Client:
        """A client for the running endpoint of deployment `name` (EndpointNotRunning when stopped).
        `state`: the state just read, if the caller has it (else it is read here)."""
        from esmctl import client as client_mod

        name = self.deployment_name(name)
        target = client_mod.find_target(name, config=self.config, state=state or self.read_state())
        aws, fresh = self.aws, False
        if as_shared_user:
            from esmctl.invoke import just_created

            creds = self.creds(reveal=True)  # type: ignore[attr-defined]  # Reporting's
            fresh = just_created(creds.get("created"))
            aws = aws.with_credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"], fresh=fresh)
        pool = client_mod.pool_size(target.instances, concurrency)
        return client_mod.Client(aws.runtime.invoker(target.endpoint_name, pool=pool, fresh_key=fresh),
                                 endpoint_name=target.endpoint_name, forge_model=target.forge_model,
                                 instances=target.instances, deployment=name, concurrency=concurrency,
                                 deadline=deadline or client_mod.DEFAULT_DEADLINE)

    def embed(self, name: str | None, source: Path, out: Path, *, per_residue: bool = False,
              layer: int | None = None, concurrency: int | None = None, resume: bool = False, start: bool = False,
              stop_after: bool = False, as_shared_user: bool = False, show_plan: Any = None,
              on_progress: Callable[[Progress, Summary], None] = lambda p, s: None,
              on_ready: Callable[[Client, float | None], None] = lambda c, h: None) -> Summary:
        """`esmctl embed`: see esmctl/embed.py. `start`: a stopped deployment is started first (and
        waited for); `stop_after`: it is stopped when the run ends, whatever the outcome."""
        from esmctl import vocab
        from esmctl.client import EndpointNotRunning
        from esmctl.embed import Job, precheck, prepare, usable

        name = self.deployment_name(name)
        if not source.is_file():
            raise EsmctlError(f"{source} is not a file.", hint="Pass a FASTA file (or one sequence per line).")
        dep = self.config.deployments.get(name)
        if dep is not None:  # what can be refused is refused before a stopped endpoint is started
            precheck(out, resume=resume, layer=layer, shape=vocab.shape_of(dep.forge_model_name),
                     forge_model=dep.forge_model_name)
            if start:
                usable(prepare(source), source, out)  # the input read once more, not to wake an endpoint for nothing
        try:
            state = self.read_state()
            try:
                client = self.client(name, as_shared_user=as_shared_user, concurrency=concurrency, state=state)
            except EndpointNotRunning as e:
                if not start:
                    raise EsmctlError(e.message, hint=f"`esmctl start {name}` starts it (10–15 minutes), or pass "
                                      "--start (and --stop-after to stop it when the run ends).") from None
                self.ui.info(f"Starting {name} for this run (its endpoint takes 10–15 minutes to come up).")
                result = self.start([name], show_plan=show_plan)  # type: ignore[attr-defined]  # Deploying's
                if result.outcome is not None and result.outcome.failures:
                    raise EsmctlError(f"{name} did not start (see above).", hint=f"`esmctl status {name}`.") from None
                state = self.read_state()
                client = self.client(name, as_shared_user=as_shared_user, concurrency=concurrency, state=state)
            hourly = self._hourly(state.deployments[name]) if state else None  # type: ignore[attr-defined]
            job = Job(client, source, out, per_residue=per_residue, layer=layer, concurrency=concurrency,
                      resume=resume, hourly_usd=hourly or None)
            on_ready(client, hourly or None)
            return job.run(on_progress)
        finally:
            if stop_after:  # whatever the outcome, also when the start or the run failed
                self.ui.info(f"Stopping {name} (--stop-after): billing for its endpoint ends.")
                self.stop([name], yes=True, show_plan=show_plan)  # type: ignore[attr-defined]
