"""Stop timers (esmctl/resources/stop_timer.py) against moto: names that never collide and fit AWS's rules, and a
new timer for the same deployment that keeps the IAM role (a fresh role is not assumable at once)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from esmctl import config as config_mod
from esmctl.aws import Aws
from esmctl.resources import Action, Run
from esmctl.resources import stop_timer as schedule
from esmctl.state import DeploymentState, EndpointRecord, LocalBackend, ScheduleRecord, State, Store, iso
from esmctl.ui import UI

REGION = "us-east-2"
SCHEDULE_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")  # CreateSchedule "Name"
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")  # CreateRole "RoleName"
AT = dt.datetime(2030, 1, 2, 19, 0, tzinfo=dt.UTC)
LONG_A = "protein_embedding_pipeline_for_the_antibody_team_a"  # 50 characters, the same first 49
LONG_B = "protein_embedding_pipeline_for_the_antibody_team_b"


# --- names -----------------------------------------------------------------------------------------


def test_two_long_deployment_names_get_two_valid_schedule_names() -> None:
    a, b = schedule.schedule_name("production", LONG_A), schedule.schedule_name("production", LONG_B)
    assert a != b
    for name in (a, b):
        assert len(name) <= 64 and SCHEDULE_NAME.match(name), name
        assert name.startswith("esmctl-production-protein_embedding")  # still readable


def test_names_that_fit_stay_as_they_were() -> None:
    assert schedule.schedule_name("dev", "prototype_model") == "esmctl-dev-prototype_model-stop"
    assert schedule.role_name("esm", "dev", "2df2c3dd") == "esm-stop-dev-2df2c3dd"


def test_ambiguous_pairs_that_need_shortening_still_differ() -> None:
    # "esmctl-a-b-<x>-stop" reads the same for (a-b, x) and (a, b-x): the hash is of the pair
    x = "y" * 60
    assert schedule.schedule_name("a-b", x) != schedule.schedule_name("a", f"b-{x}")


def test_long_role_names_keep_apart_and_fit_iam() -> None:
    prefix, env = "research-platform-embeddings-team", "staging-eu-central-long"
    a, b = schedule.role_name(prefix, env, "0000aaaa"), schedule.role_name(prefix, env, "0000aaab")
    assert a != b  # the old [:64] cut off the suffix: both were the same role
    for name in (a, b):
        assert len(name) <= 64 and ROLE_NAME.match(name), name


def test_no_shortened_name_equals_a_name_that_fits() -> None:
    names = {schedule.schedule_name(env, dep) for env in ("dev", "a", "production-eu")
             for dep in ("m", "x" * 40, "x" * 60, LONG_A, LONG_B, "y" * 63)}
    assert len(names) == 18
    assert all(len(n) <= 64 and SCHEDULE_NAME.match(n) for n in names)


# --- create_stop against moto ----------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[Aws]:
    from esmctl.sandbox import apply_patches, control

    apply_patches()  # the same moto in any test order; IAM's propagation delay is not what this tests
    control.reset()
    control.immediate()
    with mock_aws():
        yield Aws(region=REGION)
    control.reset()


def _calls(aws: Aws, service: str) -> list[str]:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)
    aws.client(service).meta.events.register("before-call", record)
    return calls


def _get(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        return aws.client("scheduler").get_schedule(Name=name)  # type: ignore[no-any-return]
    except aws.client("scheduler").exceptions.ResourceNotFoundException:
        return None


def create_stop(aws: Aws, store: Store, cfg: config_mod.Config, deployment: str, at: dt.datetime) -> ScheduleRecord:
    """The stop timer handler, as the executor runs it for `deploy --ttl` / `stop --at`."""
    dep = store.state.deployments[deployment]
    assert dep.endpoint is not None
    role = schedule.role_name(cfg.settings.iam_role_name_prefix, cfg.environment, dep.suffix)
    spec = schedule.StopTimer(schedule.schedule_name(cfg.environment, deployment), at=iso(at) or "",
                              endpoint=dep.endpoint.name, role_name=role)
    run = Run(aws=aws, store=store, config=cfg, ui=UI(interactive=False), waiter=None, clock=lambda: 0.0)  # type: ignore[arg-type]
    schedule.create(run, Action("create", spec, deployment, "post"))
    assert dep.stop_schedule is not None
    return dep.stop_schedule


def _store(tmp_path: Path, *names: str) -> Store:
    st = State(region=REGION, environment="dev")
    for i, name in enumerate(names):
        st.deployments[name] = DeploymentState(
            selector="ESMC-300M", suffix=f"0000000{i}", forge_model_name="esmc-300m-2024-12",
            endpoint=EndpointRecord(name=f"Endpoint-ESMC-300M-1-0000000{i}", created=True, status="InService"))
    return Store(LocalBackend(tmp_path / "state" / "dev.json"), st)


def test_a_second_timer_keeps_the_role_and_replaces_only_the_schedule(aws: Aws, project: Path,
                                                                      tmp_path: Path) -> None:
    cfg = config_mod.load(project / "esmctl.yaml")
    store = _store(tmp_path, "prototype_model")
    first = create_stop(aws, store, cfg, "prototype_model", AT)
    assert first.created and first.role_arn
    iam, scheduler = _calls(aws, "iam"), _calls(aws, "scheduler")

    second = create_stop(aws, store, cfg, "prototype_model", AT + dt.timedelta(hours=2))
    assert not {"CreateRole", "DeleteRole", "DeleteRolePolicy", "TagRole"} & set(iam), iam
    assert "PutRolePolicy" in iam
    assert scheduler == ["DeleteSchedule", "CreateSchedule"]
    assert (second.name, second.role_name, second.role_arn) == (first.name, first.role_name, first.role_arn)
    assert store.state.deployments["prototype_model"].stop_schedule == second and second.created
    got = _get(aws, second.name)
    assert got is not None and got["ScheduleExpression"] == "at(2030-01-02T21:00:00)"
    assert got["Target"]["RoleArn"] == first.role_arn


def test_timers_of_two_long_deployment_names_are_two_schedules(aws: Aws, project: Path, tmp_path: Path) -> None:
    cfg = config_mod.load(project / "esmctl.yaml")
    store = _store(tmp_path, LONG_A, LONG_B)
    a = create_stop(aws, store, cfg, LONG_A, AT)
    b = create_stop(aws, store, cfg, LONG_B, AT + dt.timedelta(hours=1))
    assert a.name != b.name and a.role_name != b.role_name
    got_a, got_b = _get(aws, a.name), _get(aws, b.name)
    assert got_a is not None and got_b is not None
    assert got_a["Target"]["Input"] != got_b["Target"]["Input"]  # each deletes its own endpoint


def test_a_timer_recorded_under_an_old_truncated_name_is_replaced_not_lost(aws: Aws, project: Path,
                                                                           tmp_path: Path) -> None:
    cfg = config_mod.load(project / "esmctl.yaml")
    store = _store(tmp_path, LONG_A)
    old_name = f"esmctl-dev-{LONG_A}-stop"[:64]
    assert old_name != schedule.schedule_name("dev", LONG_A)
    role = aws.iam.create_role("esm-stop-dev-00000000", tags={}, service="scheduler.amazonaws.com")
    aws.scheduler.create_stop(old_name, at="2030-01-01T00:00:00", endpoint="e", role_arn=role["Arn"])
    store.state.deployments[LONG_A].stop_schedule = ScheduleRecord(
        name=old_name, at="2030-01-01T00:00:00Z", role_name="esm-stop-dev-00000000", role_arn=role["Arn"],
        created=True)
    iam = _calls(aws, "iam")
    rec = create_stop(aws, store, cfg, LONG_A, AT)
    assert _get(aws, old_name) is None and _get(aws, rec.name) is not None
    assert "CreateRole" not in iam and rec.role_arn == role["Arn"]  # that role name fits: kept
