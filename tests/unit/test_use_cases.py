"""Use cases that used to live in the CLI (init, catalog, prices refresh, `stop --idle-for`, the smoke
test's targets) and the lower modules taking what they need as arguments (invoke), with no AWS."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from esmctl import config as config_mod
from esmctl import invoke
from esmctl.api import EXAMPLES, IdleStop, Workspace
from esmctl.errors import EsmctlError, InvokeFailed
from esmctl.events import Quiet
from esmctl.state import DeploymentState, EndpointRecord, State
from tests.conftest import write_example


def test_init_writes_both_files_and_overwrites_only_with_force(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "sub" / "esmctl.yaml", reporter=Quiet())
    assert ws.init("multi_model") == [tmp_path / "sub" / "esmctl.yaml", tmp_path / "sub" / "models.yaml"]
    assert len(ws.validate().deployments) == 2
    with pytest.raises(EsmctlError, match="already exist; nothing was written"):
        ws.init("basic")
    ws.init("basic", force=True)
    assert len(Workspace(tmp_path / "sub" / "esmctl.yaml").validate().deployments) == 1
    with pytest.raises(EsmctlError, match="No example named"):
        ws.init("nope")
    assert "basic" in EXAMPLES


def test_catalog_without_esmctl_yaml_reads_models_yaml_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_example(tmp_path)
    (tmp_path / "esmctl.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    doc = Workspace(reporter=Quiet()).catalog()
    catalog = config_mod.load_catalog(tmp_path / "models.yaml")
    assert doc["region"] == "us-east-2" and doc["prices_are_estimates"] is True
    assert [r["selector"] for r in doc["models"]] == list(catalog.models)
    assert Workspace(region="eu-west-1", reporter=Quiet()).catalog()["region"] == "eu-west-1"


def test_catalog_with_esmctl_yaml_uses_its_region_and_price_overrides(tmp_path: Path) -> None:
    path = write_example(tmp_path)
    path.write_text(path.read_text().replace("region: us-east-2", "region: us-east-2\nprices:\n  ml.g5.2xlarge: 1.0"))
    doc = Workspace(path, reporter=Quiet()).catalog()
    assert doc["region"] == "us-east-2"
    g5 = [r for r in doc["models"] if r["instance_type"] == "ml.g5.2xlarge"]
    assert g5 and all(r["estimated_cost_per_hour"] == r["instance_count"] * 1.0 for r in g5)


def _idle_workspace(tmp_path: Path, rows: list[dict[str, Any]], calls: list[Any]) -> Workspace:
    ws = Workspace(tmp_path / "esmctl.yaml", reporter=Quiet())
    ws.idle = lambda window, names=(), *, now=None: (calls.append(("idle", window, list(names))), rows)[1]  # type: ignore[method-assign]
    ws.stop = lambda names=(), **kw: (calls.append(("stop", list(names), kw)), "stopped")[1]  # type: ignore[method-assign,assignment,return-value]
    return ws


ROWS = [{"name": "a", "endpoint_name": "ep-a", "idle": True, "reason": "no invocations in the window"},
        {"name": "b", "endpoint_name": "ep-b", "idle": False, "reason": "3 invocations"}]


def test_stop_idle_shows_what_it_found_then_stops_only_the_idle_ones(tmp_path: Path) -> None:
    calls: list[Any] = []
    ws = _idle_workspace(tmp_path, ROWS, calls)
    found = ws.stop_idle(7200, ["a", "b"], yes=True, wait=False, show_idle=lambda f: calls.append(("show", f.idle)))
    assert calls == [("idle", 7200, ["a", "b"]), ("show", ["a"]),
                     ("stop", ["a"], {"yes": True, "wait": False, "by": "idle", "show_plan": None})]
    assert found.stopped == "stopped"
    assert found.to_json() == {"window_seconds": 7200, "endpoints": ROWS, "idle": ["a"], "dry_run": False}


@pytest.mark.parametrize(("rows", "dry_run"), [(ROWS, True), (ROWS[1:], False)])
def test_stop_idle_stops_nothing_in_a_dry_run_or_when_nothing_is_idle(tmp_path: Path, rows: list[dict[str, Any]],
                                                                       dry_run: bool) -> None:
    calls: list[Any] = []
    found = _idle_workspace(tmp_path, rows, calls).stop_idle(60, dry_run=dry_run)
    assert [c[0] for c in calls] == ["idle"] and found.stopped is None
    assert isinstance(found, IdleStop) and found.dry_run is dry_run


def test_the_smoke_test_invokes_the_endpoints_the_run_waited_for(tmp_path: Path) -> None:
    def step(deployment: str, waits: str | None) -> Any:
        return types.SimpleNamespace(deployment=deployment, handler=types.SimpleNamespace(waits=waits))

    ws = Workspace(tmp_path / "esmctl.yaml", reporter=Quiet())
    ws.smoke = lambda names: list(names)  # type: ignore[method-assign,assignment,return-value]
    plan = types.SimpleNamespace(actions=[step("b", "InService"), step("a", "InService"), step("a", None),
                                          step("c", "gone"), step("b", "InService")])
    assert ws.smoke_test(types.SimpleNamespace(plan=plan, outcome=object())) == ["a", "b"]  # type: ignore[arg-type]
    assert ws.smoke_test(types.SimpleNamespace(plan=plan, outcome=None)) == []  # type: ignore[arg-type]


def _state(**endpoint: Any) -> State:
    state = State(region="us-east-2", environment="dev")
    state.deployments["a"] = DeploymentState(selector="ESMC-300M", suffix="00000000", forge_model_name="esmc-300m",
                                             endpoint=EndpointRecord(name="ep-a", **endpoint))
    return state


def test_invoke_reads_only_what_it_needs_in_order(tmp_path: Path) -> None:
    cfg = config_mod.load(write_example(tmp_path))
    read: list[str] = []

    def read_state() -> State:
        read.append("state")
        return _state(created=False)

    def connect() -> Any:
        read.append("aws")
        raise AssertionError("no AWS session for a request that is refused")

    args: dict[str, Any] = {"config": cfg, "read_state": read_state, "connect": connect,
                            "shared_key": lambda: read.append("key")}
    with pytest.raises(InvokeFailed, match="not amino-acid letters"):
        invoke.invoke_deployment("a", sequence="MK1", **args)
    assert read == []
    with pytest.raises(EsmctlError, match="Unknown deployment: zz"):
        invoke.invoke_deployment("zz", **args)
    with pytest.raises(InvokeFailed, match="a has no endpoint running"):
        invoke.invoke_deployment("a", **args)
    assert read == ["state", "state"]


def test_invoke_as_the_shared_user_signs_with_its_key(tmp_path: Path) -> None:
    cfg = config_mod.load(write_example(tmp_path))
    sent: dict[str, Any] = {}

    def invoke_endpoint(runtime: Any, **kw: Any) -> Any:
        sent.update(kw, runtime=runtime)
        return "result"

    aws = types.SimpleNamespace(runtime="own", with_credentials=lambda key, secret, fresh: types.SimpleNamespace(
        runtime=f"signed by {key}"))
    key = {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s", "created": None}
    mp = pytest.MonkeyPatch()
    with mp.context() as m:
        m.setattr(invoke, "invoke_endpoint", invoke_endpoint)
        assert invoke.invoke_deployment("a", config=cfg, read_state=lambda: _state(created=True),
                                        connect=lambda: aws, shared_key=lambda: key) == "result"
        assert sent["runtime"] == "signed by AKIA1" and sent["as_shared_user"] is True
        assert sent["endpoint_name"] == "ep-a" and sent["forge_model"] == "esmc-300m"
        invoke.invoke_deployment("a", config=cfg, read_state=lambda: _state(created=True), connect=lambda: aws)
        assert sent["runtime"] == "own" and sent["as_shared_user"] is False
