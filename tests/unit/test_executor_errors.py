"""Whatever goes wrong inside a run ends as an error naming the step and the next command, never as
an "Internal error"; an unsubscribed package stops the run before anything billable is created."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from esmctl import config
from esmctl.errors import EsmctlError, NotSubscribed
from esmctl.execute import Executor
from esmctl.plan import Plan
from esmctl.resources import Action
from esmctl.resources.endpoint_config import EndpointConfig
from esmctl.resources.model import Model
from esmctl.resources.role import Role
from esmctl.state import LocalBackend, RoleRecord, State, Store
from esmctl.ui import UI


class FakeSageMaker:
    def __init__(self, fail: dict[str, BaseException]) -> None:
        self.fail, self.calls = fail, []  # type: ignore[var-annotated]
        self.lock = threading.Lock()

    def create_model(self, name: str, **_: Any) -> str:
        with self.lock:
            self.calls.append(("CreateModel", name))
        if name in self.fail:
            raise self.fail[name]
        return f"arn:model/{name}"

    def create_endpoint_config(self, name: str, **_: Any) -> str:
        with self.lock:
            self.calls.append(("CreateEndpointConfig", name))
        return f"arn:config/{name}"


def _executor(tmp_path: Path, project: Path, sm: FakeSageMaker) -> Executor:
    cfg = config.load(project / "esmctl.yaml")
    st = State(region="us-east-2", environment="dev", account_id="123456789012",
               role=RoleRecord(name="r", arn="arn:aws:iam::123456789012:role/r", created=True))
    aws = SimpleNamespace(sagemaker=sm, cancel=threading.Event(), iam=SimpleNamespace(
        tag_role=lambda *_a, **_k: (_ for _ in ()).throw(KeyError("Role"))))
    return Executor(aws=aws, store=Store(LocalBackend(tmp_path / "dev.json"), st), config=cfg,  # type: ignore[arg-type]
                    ui=UI(interactive=False), waiter=None, wait=False)  # type: ignore[arg-type]


def _model(dep: str, name: str) -> Action:
    return Action("create", Model(name, model_package="arn:pkg", selector="ESMC-300M",
                                  forge_model_name="esmc-300m-2024-12"), dep)


def _config(dep: str, name: str) -> Action:
    return Action("create", EndpointConfig(name, model_name="m", instance_type="ml.g5.2xlarge", instance_count=1),
                  dep)


def test_an_unexpected_exception_in_one_deployment_is_a_failure_with_the_next_step(tmp_path: Path,
                                                                                    project: Path) -> None:
    sm = FakeSageMaker({"M-b": KeyError("ModelArn")})
    ex = _executor(tmp_path, project, sm)
    out = ex.run(Plan((_model("prototype_model", "M-a"), _model("performance_model", "M-b"),
                       _config("prototype_model", "C-a"), _config("performance_model", "C-b"))))
    (failure,) = out.failures
    assert "unexpected KeyError: 'ModelArn'" in failure and "run `esmctl deploy` again" in failure
    assert ("CreateEndpointConfig", "C-a") in sm.calls and ("CreateEndpointConfig", "C-b") not in sm.calls


def test_an_unexpected_exception_in_a_shared_step_is_an_esmctl_error(tmp_path: Path, project: Path) -> None:
    ex = _executor(tmp_path, project, FakeSageMaker({}))
    with pytest.raises(EsmctlError) as e:
        ex.run(Plan((Action("tag", Role("r"), "-", "pre"),)))
    assert "unexpected KeyError" in e.value.message and "esmctl deploy" in e.value.hint


def test_models_come_first_and_an_unsubscribed_one_stops_every_deployment(tmp_path: Path, project: Path) -> None:
    sm = FakeSageMaker({"M-b": NotSubscribed("not subscribed", hint="subscribe")})
    ex = _executor(tmp_path, project, sm)
    out = ex.run(Plan((_model("performance_model", "M-b"), _config("performance_model", "C-b"),
                       _model("prototype_model", "M-a"), _config("prototype_model", "C-a"))))
    assert sm.calls == [("CreateModel", "M-b")]  # the first model alone, then nothing
    assert any("Stopped before creating any endpoint config or endpoint" in f and "prototype_model" in f
               for f in out.failures)
