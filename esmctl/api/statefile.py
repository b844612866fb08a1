"""Moving the state: `esmctl state pull|push|migrate`, `esmctl unlock`."""

from __future__ import annotations

from typing import Any

from esmctl import config as config_mod
from esmctl import state as state_mod
from esmctl.api.workspace import Base
from esmctl.errors import EsmctlError, StateError
from esmctl.state import State


class StateFile(Base):
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
