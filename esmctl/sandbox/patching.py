"""`apply_patches()`: make moto behave like SageMaker, SageMaker Runtime and IAM where esmctl cares.

The patch modules (the package's `_*` modules with an `install()`: `_sagemaker`, `_runtime`, `_iam`,
`_authz`, `_quotas`, `_simulate`, `_consistency`, `_limits`, and any a new resource kind adds) import
moto at their top, so only this function imports them, after setting MOTO_IAM_LOAD_MANAGED_POLICIES.
Patches replace attributes on moto's classes (not instances), so they apply to `moto.mock_aws` and
to a `moto.server.ThreadedMotoServer` in the same process alike, including backends created later.
They are written against moto 5.2.5 (pinned in pyproject.toml). Call this before moto's first
IAM backend exists (before entering `mock_aws` / starting a server): an IAM backend built earlier
lacks the AWS-managed policies until moto's next reset. `control`'s state is not moto's: a moto
reset leaves it alone, `control.reset()` leaves moto alone.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_applied = False
_apply_lock = threading.Lock()
# (owner, attribute name) → the original attribute, for wrappers that call through.
_originals: dict[tuple[Any, str], Any] = {}


def apply_patches() -> None:
    """Patch moto (idempotent; safe to call from several threads)."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        # Before moto builds its first IAM backend: AWS-managed policies such as
        # arn:aws:iam::aws:policy/AmazonSageMakerFullAccess exist, as in a real account.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        for module in patch_modules():
            module.install()
        _applied = True


# The patches in the order they go in: those that later ones build on first. A module of this package
# with `install()` that is not listed (a new kind's sandbox patch) goes in after them, by name.
ORDER = ("_sagemaker", "_runtime", "_iam", "_authz", "_quotas", "_simulate", "_consistency", "_limits")


def patch_modules() -> list[Any]:
    """The package's `_*` modules that have `install()`, in ORDER then by name (importing moto)."""
    import importlib
    import pkgutil

    package = importlib.import_module(__package__ or "esmctl.sandbox")
    names = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("_")]
    ordered = [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)
    found = [importlib.import_module(f"{package.__name__}.{n}") for n in ordered]
    return [m for m in found if callable(getattr(m, "install", None))]


def replace(owner: Any, name: str, new: Any) -> None:
    """Set `owner.name = new`, remembering the original once (see `original`)."""
    key = (owner, name)
    if key not in _originals:
        # __dict__ first: keeps staticmethod/property objects as they are declared.
        current = owner.__dict__.get(name) if hasattr(owner, "__dict__") else None
        _originals[key] = current if current is not None else getattr(owner, name, None)
    setattr(owner, name, new)


def original(owner: Any, name: str) -> Any:
    """The attribute `owner.name` had before `replace` (None if it did not exist)."""
    return _originals[(owner, name)]
