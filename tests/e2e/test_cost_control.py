"""Cost control: sticky stop/start, status costs, idle auto-stop and stop timers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from esmctl.api import Workspace
from esmctl.sandbox.control import fire_due_schedules
from esmctl.ui import UI
from tests.e2e.conftest import Env, deploy, eventually

pytestmark = pytest.mark.e2e


def dep_state(cli: Env, name: str = "prototype_model") -> dict[str, Any]:
    return json.loads(cli.state_file.read_text())["deployments"][name]


def test_stop_is_sticky_and_start_brings_back_the_same_endpoint(cli: Env) -> None:
    cli.example("multi_model")
    deploy(cli)
    sm = cli.client("sagemaker")
    before = dep_state(cli)
    outputs = cli.run("output", "--json").out
    r = cli.run("stop", "prototype_model")  # not interactive and no --yes: refused
    assert r.code == 1 and "--yes" in r.err
    r = cli.run("stop", "prototype_model", "--yes")
    assert r.code == 0, r.text
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_endpoint(EndpointName=before["endpoint"]["name"])
    sm.describe_endpoint_config(EndpointConfigName=before["endpoint_config"]["name"])
    sm.describe_model(ModelName=before["model"]["name"])
    assert dep_state(cli)["desired"] == "stopped" and dep_state(cli)["stopped_at"]

    p = cli.run("plan", "--detailed-exitcode")
    assert p.code == 0 and "prototype_model: stopped (not billed)" in p.out, p.text
    deploy(cli)
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_endpoint(EndpointName=before["endpoint"]["name"])
    status = json.loads(cli.run("status", "--json").out)
    row = {r["name"]: r for r in status["deployments"]}["prototype_model"]
    assert row["status"].startswith("stopped") and row["estimated_cost_per_hour"] == 0

    r = cli.run("start", "prototype_model")
    assert r.code == 0, r.text
    ep = sm.describe_endpoint(EndpointName=before["endpoint"]["name"])
    assert ep["EndpointStatus"] == "InService"
    assert ep["EndpointConfigName"] == before["endpoint_config"]["name"]
    assert cli.run("output", "--json").out == outputs
    again = cli.run("start", "prototype_model")
    assert again.code == 0 and "already running" in again.err
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_config_change_while_stopped_only_replaces_the_config(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    assert cli.run("stop", "--all", "--yes").code == 0
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace("ml.g5.2xlarge", "ml.g5.4xlarge"))
    text = deploy(cli).text
    assert "+ prototype_model: endpoint config" in text and "+ prototype_model: endpoint Endpoint-" not in text
    sm = cli.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == []
    (cfg,) = sm.list_endpoint_configs()["EndpointConfigs"]
    assert eventually(lambda: sm.describe_endpoint_config(EndpointConfigName=cfg["EndpointConfigName"]))[
        "ProductionVariants"][0]["InstanceType"] == "ml.g5.4xlarge"
    assert cli.run("start", "--all").code == 0
    (ep,) = sm.list_endpoints()["Endpoints"]
    assert sm.describe_endpoint(EndpointName=ep["EndpointName"])["EndpointConfigName"] == cfg["EndpointConfigName"]


def test_start_recreates_a_config_deleted_out_of_band(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    assert cli.run("stop", "prototype_model", "--yes").code == 0
    d = dep_state(cli)
    sm = cli.client("sagemaker")
    sm.delete_endpoint_config(EndpointConfigName=d["endpoint_config"]["name"])
    r = cli.run("start", "prototype_model")
    assert r.code == 0, r.text
    assert "+ prototype_model: endpoint config" in r.err
    assert sm.describe_endpoint(EndpointName=d["endpoint"]["name"])["EndpointStatus"] == "InService"


def test_idle_auto_stop_stops_exactly_the_idle_endpoints(cli: Env) -> None:
    cli.example("multi_model")
    deploy(cli)
    young = cli.run("stop", "--idle-for", "1h", "--dry-run", "--json")
    assert young.code == 0, young.text
    assert json.loads(young.out)["idle"] == []  # both endpoints are younger than the window
    ws = Workspace(cli.folder / "esmctl.yaml", endpoint_url=cli.url, ui=UI(interactive=False))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # a fixed clock two hours on
    busy = dep_state(cli, "performance_model")["endpoint"]["name"]
    cli.client("cloudwatch").put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
        "MetricName": "Invocations", "Value": 12, "Timestamp": later - dt.timedelta(minutes=10),
        "Dimensions": [{"Name": "EndpointName", "Value": busy}, {"Name": "VariantName", "Value": "variant-1"}]}])
    rows = {r["name"]: r for r in ws.idle(3600, now=later)}
    assert rows["prototype_model"]["idle"] is True and rows["performance_model"]["idle"] is False
    assert rows["performance_model"]["invocations"] == 12
    result = ws.stop([n for n, r in rows.items() if r["idle"]], yes=True, by="idle")
    assert result.outcome is not None and not result.outcome.failures
    names = [e["EndpointName"] for e in cli.client("sagemaker").list_endpoints()["Endpoints"]]
    assert names == [busy]
    status = {r["name"]: r for r in json.loads(cli.run("status", "--json").out)["deployments"]}
    assert status["prototype_model"]["stopped_by"] == "idle"


def test_ttl_timer_deletes_only_that_endpoint_and_is_recognised_when_fired(cli: Env) -> None:
    cli.example("multi_model")
    deploy(cli)
    # A TTL so short that the timer is due when deploy returns (its time is kept to the second,
    # rounded down): esmctl, on the wall clock, sees it as due without the test waiting for it.
    deploy(cli, "--target", "prototype_model", "--ttl", "0.01s")
    d, other = dep_state(cli), dep_state(cli, "performance_model")
    timer = d["stop_schedule"]
    assert other.get("stop_schedule") is None
    sched = cli.client("scheduler").get_schedule(Name=timer["name"])
    assert sched["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"
    assert json.loads(sched["Target"]["Input"]) == {"EndpointName": d["endpoint"]["name"]}
    iam = cli.client("iam")
    pol = iam.get_role_policy(RoleName=timer["role_name"], PolicyName="esmctl-delete-endpoint")["PolicyDocument"]
    pol = json.loads(pol) if isinstance(pol, str) else pol
    (stmt,) = pol["Statement"]
    assert stmt["Action"] == "sagemaker:DeleteEndpoint"
    assert stmt["Resource"] == f"arn:aws:sagemaker:us-east-2:123456789012:endpoint/{d['endpoint']['name'].lower()}"
    status = {r["name"]: r for r in json.loads(cli.run("status", "--json").out)["deployments"]}
    assert status["prototype_model"]["stop_scheduled_at"] == timer["at"]

    # EventBridge Scheduler runs the schedule (the sandbox, told the time): before its time nothing
    # happens; at its time it deletes that endpoint, as the timer's role, and nothing else.
    due = dt.datetime.fromisoformat(timer["at"].replace("Z", "+00:00"))
    sm = cli.client("sagemaker")
    assert fire_due_schedules(now=due - dt.timedelta(seconds=1)) == []
    assert len(sm.list_endpoints()["Endpoints"]) == 2
    (run,) = fire_due_schedules(now=due)
    assert (run.name, run.error, run.input) == (timer["name"], "", {"EndpointName": d["endpoint"]["name"]})
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == [other["endpoint"]["name"]]
    assert fire_due_schedules(now=due + dt.timedelta(hours=1)) == []  # a one-time schedule runs once

    p = cli.run("plan", "--detailed-exitcode")
    assert p.code == 0, p.text
    assert "drift" not in p.out
    status = {r["name"]: r for r in json.loads(cli.run("status", "--json").out)["deployments"]}
    assert status["prototype_model"]["status"] == "stopped (by schedule)"
    assert status["performance_model"]["status"] == "InService"
    r = cli.run("start", "prototype_model")
    assert r.code == 0, r.text
    assert "- prototype_model: stop timer" in r.err
    assert cli.client("scheduler").list_schedules()["Schedules"] == []
    assert sm.describe_endpoint(EndpointName=d["endpoint"]["name"])["EndpointStatus"] == "InService"


def test_destroy_removes_timers_and_their_roles(cli: Env) -> None:
    cli.example("basic")
    deploy(cli, "--ttl", "8h")
    assert cli.run("destroy", "--yes").code == 0
    assert cli.client("scheduler").list_schedules()["Schedules"] == []
    assert cli.client("iam").list_roles()["Roles"] == []


def test_stop_at_sets_a_timer_without_stopping_now(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    r = cli.run("stop", "prototype_model", "--at", "2099-12-01T19:00Z")
    assert r.code == 0, r.text
    d = dep_state(cli)
    assert d["stop_schedule"]["at"] == "2099-12-01T19:00:00Z"
    assert len(cli.client("sagemaker").list_endpoints()["Endpoints"]) == 1
    sched = cli.client("scheduler").get_schedule(Name=d["stop_schedule"]["name"])
    assert sched["ScheduleExpression"] == "at(2099-12-01T19:00:00)"
    assert json.loads(sched["Target"]["Input"]) == {"EndpointName": d["endpoint"]["name"]}  # that endpoint
    pol = cli.client("iam").get_role_policy(RoleName=d["stop_schedule"]["role_name"],
                                            PolicyName="esmctl-delete-endpoint")["PolicyDocument"]
    pol = json.loads(pol) if isinstance(pol, str) else pol
    assert pol["Statement"][0]["Resource"].endswith(f":endpoint/{d['endpoint']['name'].lower()}")
    bad = cli.run("stop", "prototype_model", "--at", "yesterday")
    assert bad.code == 1 and "is not a time" in bad.err


def test_status_costs_with_a_fixed_clock_and_price_overrides(project: Any) -> None:
    from esmctl import state as st

    path = project / "esmctl.yaml"
    path.write_text(path.read_text() + "prices:\n  ml.g5.4xlarge: 4.0\n")
    s = st.State(region="us-east-2", environment="dev", account_id="123456789012")
    for name, itype, started in (("prototype_model", "ml.g5.2xlarge", "2026-11-27T08:00:00Z"),
                                 ("performance_model", "ml.g5.4xlarge", "2026-11-27T09:30:00Z")):
        s.deployments[name] = st.DeploymentState(
            selector="ESMC-300M", suffix="00000001", forge_model_name="esmc-300m-2024-12", started_at=started,
            endpoint_config=st.ConfigRecord(name=f"c-{name}", created=True, model_name="m", instance_type=itype,
                                            instance_count=1),
            endpoint=st.EndpointRecord(name=f"e-{name}", created=True, status="InService"))
    st.write(project / "state" / "dev.json", s)
    now = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
    doc = Workspace(path, ui=UI(interactive=False)).status(refresh=False, now=now)
    rows = {r["name"]: r for r in doc["deployments"]}
    assert rows["prototype_model"]["estimated_cost_per_hour"] == pytest.approx(1.515)
    assert rows["prototype_model"]["estimated_cost_so_far"] == pytest.approx(1.515 * 2)
    assert rows["performance_model"]["estimated_cost_per_hour"] == pytest.approx(4.0)  # the override
    assert rows["performance_model"]["estimated_cost_so_far"] == pytest.approx(4.0 * 0.5)
    assert doc["total"]["estimated_cost_per_hour"] == pytest.approx(5.515)
    assert doc["total"]["estimated_cost_so_far"] == pytest.approx(3.03 + 2.0)
