"""Where the shared user's secret access key lives: AWS Secrets Manager or a local 0600 file.

The secret is never written to the state, logs or plans; the state keeps only `secret_ref`. A
stored secret is `{"aws_access_key_id": ..., "aws_secret_access_key": ...}`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from esmctl.errors import EsmctlError
from esmctl.state import _atomic_write

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config

DESCRIPTION = "Access key of the esmctl shared service user (may only invoke this environment's ESM endpoints)"


class SecretStore(Protocol):
    kind: str
    ref: str

    def read(self) -> dict[str, str] | None: ...
    def write(self, value: dict[str, str]) -> str: ...
    def delete(self) -> None: ...


def secret_name(environment: str, user: str) -> str:
    return f"esmctl/{environment}/{user}"


def local_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name.removesuffix(".json") + ".secret.json")


class LocalStore:
    kind = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ref = str(path)

    def read(self) -> dict[str, str] | None:
        try:
            doc: Any = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise EsmctlError(
                f"The local secret file {self.path} cannot be read ({e}).",
                hint="Delete it and run `esmctl deploy`: it replaces a key whose secret is lost.") from None
        return doc if isinstance(doc, dict) else None

    def write(self, value: dict[str, str]) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.path, json.dumps(value, indent=2).encode() + b"\n")  # mode 0600
        return self.ref

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class SecretsManagerStore:
    kind = "secretsmanager"

    def __init__(self, aws: Aws, name: str, tags: dict[str, str]) -> None:
        self.aws = aws
        self.name = name
        self.ref = name
        self.tags = tags

    def read(self) -> dict[str, str] | None:
        return self.aws.secrets.get(self.name)

    def write(self, value: dict[str, str]) -> str:
        self.ref = self.aws.secrets.put(self.name, value, tags=self.tags, description=DESCRIPTION)
        return self.ref

    def delete(self) -> None:
        self.aws.secrets.delete(self.name)


def store_for(config: Config, aws: Aws | None, kind: str | None = None, user: str | None = None) -> SecretStore:
    """The store of `kind` (default: the configured one) for `user` (default: the configured user)."""
    from esmctl import naming

    kind = kind or config.settings.secret_store
    if kind == "local":
        return LocalStore(local_path(config.state_path))  # remote state requires secretsmanager
    if aws is None:
        raise EsmctlError("Reading the shared key from Secrets Manager needs AWS access.")
    tags = naming.tags(dict(config.settings.tags), config.environment, naming.SHARED)
    return SecretsManagerStore(aws, secret_name(config.environment, user or config.shared_user_name), tags)
