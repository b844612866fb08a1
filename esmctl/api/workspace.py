"""The core every use case shares: one esmctl.yaml, its state (local or S3, under a lock) and its
AWS session, and the refresh that brings a state in line with AWS. No use case lives here.

Progress and questions go through the `Reporter` the caller passes in (esmctl/events.py); the
library never imports the terminal UI. Offline use cases never import boto3: the AWS layer is
imported on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esmctl import config as config_mod
from esmctl import state as state_mod
from esmctl.errors import EsmctlError
from esmctl.events import Plain, Reporter
from esmctl.reconcile import check_identity, reconcile
from esmctl.state import State, Store

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.execute import Executor
    from esmctl.observe import Observed


class Base:
    """One deployment configuration (esmctl.yaml + models.yaml) with its state and AWS session."""

    def __init__(self, config_path: str | Path | None = None, *, profile: str | None = None,
                 region: str | None = None, endpoint_url: str | None = None, reporter: Reporter | None = None,
                 ui: Reporter | None = None, state: str | None = None) -> None:
        """`reporter` (or its older name `ui`) shows progress and answers `confirm`; by default plain
        lines to stderr, and nothing is applied without `yes=True` (esmctl/events.py)."""
        if reporter is not None and ui is not None and reporter is not ui:
            raise TypeError("Workspace() takes reporter= or ui= (the same thing), not both")
        self.config_path = config_path
        self.profile = profile
        self.region_override = region
        self.state_override = state
        self.endpoint_url = endpoint_url
        self.ui: Reporter = reporter or ui or Plain()
        self._config: Config | None = None
        self._aws: Aws | None = None
        self._backend: state_mod.Backend | None = None

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

    def _executor(self, store: Store, *, parallelism: int | None = None, wait: bool = True,
                  timeout: float | None = None) -> Executor:
        """The executor for a plan of this workspace (the only code that changes AWS)."""
        from esmctl.execute import DEFAULT_PARALLELISM, Executor
        from esmctl.wait import Waiter

        return Executor(aws=self.aws, store=store, config=self.config, ui=self.ui,
                        waiter=Waiter(self.aws.sagemaker, timeout=timeout),
                        parallelism=parallelism or DEFAULT_PARALLELISM, wait=wait)

    def validate(self) -> Config:
        return self.config

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
