"""Adopting a Terraform state of the module (`esmctl import-terraform`)."""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esmctl import config as config_mod
from esmctl import state as state_mod
from esmctl.api.workspace import Base
from esmctl.errors import EsmctlError, StateError
from esmctl.plan import Plan
from esmctl.resources import Action, shared_user
from esmctl.state import Store

if TYPE_CHECKING:
    from esmctl.tfimport import Imported


class Adopting(Base):
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
            steps: list[Action] = []
            if imp.access_key and rec is not None:  # the last step before the state: nothing fails after it
                store = secrets.store_for(cfg, self.aws if rec.secret_store == "secretsmanager" else None,
                                          rec.secret_store, rec.user_name)
                had = store.read() is not None
                steps.append(Action("create", shared_user.Secret(
                    store.ref, rec.secret_store, rec.user_name, imp.access_key[0],
                    value={"aws_access_key_id": imp.access_key[0], "aws_secret_access_key": imp.access_key[1]}),
                    phase="pre", reason=f"the secret of {imp.access_key[0]}, from the Terraform state"))
            try:  # the secret's step records where it is kept, writing the state once it is stored
                if steps:
                    self._executor(Store(self.backend, state)).run(Plan(tuple(steps)))
                else:
                    self.backend.write(state)
            except BaseException:  # no state was written (the step's write is its last act): no secret either
                if store is not None and not had:
                    with contextlib.suppress(EsmctlError):
                        store.delete()
                raise
            if rec is not None and steps:
                secret_where = f"{rec.secret_store}: {rec.secret_ref}"
        return {"state": self.backend.where, "deployments": sorted(state.deployments), "drift": drift,
                "secret": secret_where, "shared_user": rec.user_name if rec else None}


def _write_file(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise EsmctlError(f"Cannot write {path}: {e.strerror or e}; nothing was written.",
                          hint="Check the folder's permissions, or run from another folder (-c PATH).") from None
