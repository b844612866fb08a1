"""The month's projection against `budget.monthly_usd` (esmctl/budget.py) at a fixed clock, Thursday
2026-12-10 12:00 UTC (516 hours left in December), with the bundled price table (us-east-2: ml.g5.2xlarge
$1.515/h, ml.g5.4xlarge $2.03/h); then through whole plans (Plan.projection, Plan.over_budget) and the
configuration's checks of `budget:` and of `autoscaling:` (cooldowns, the starting count)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from esmctl import budget, config, hours, prices
from esmctl.errors import ConfigError
from esmctl.state import iso
from tests.conftest import write_example
from tests.fakes import Env, no_fsync

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 10, 12, tzinfo=UTC)
LEFT = 516.0  # hours from NOW to 2027-01-01T00:00Z
G5_2X, G5_4X = 1.515, 2.03
PROTO, PERF = "prototype_model", "performance_model"
PLAIN = "    instance_type: ml.g5.2xlarge\n"
SCHEDULED = PLAIN + "    schedule:\n      timezone: Europe/Berlin\n      running: Mon-Fri 08:00-19:00\n"
SCALED = PLAIN + ("    instance_count: 3\n    autoscaling:\n      min_instances: 2\n      max_instances: 4\n"
                  "      target_invocations_per_instance: 100\n")


def load(tmp_path: Path, block: str = PLAIN, usd: float | None = 1000.0, extra: str = "") -> config.Config:
    path = write_example(tmp_path, "multi_model")
    text = path.read_text().replace(PLAIN, block) + (f"budget:\n  monthly_usd: {usd}\n" if usd else "") + extra
    path.write_text(text)
    return config.load(path)


def test_the_bundled_prices_these_numbers_use() -> None:
    assert (prices.hourly("ml.g5.2xlarge", "us-east-2"), prices.hourly("ml.g5.4xlarge", "us-east-2")) == (G5_2X, G5_4X)


# --- the rest of the month ---------------------------------------------------------------------------
def test_a_deployment_running_around_the_clock_costs_every_hour_left(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    p = budget.project(cfg, {PROTO: ("ml.g5.2xlarge", 1), PERF: ("ml.g5.4xlarge", 1)}, 0.0, NOW)
    assert (p.month, p.hours_left, p.budget_usd) == ("2026-12", LEFT, 1000.0)
    lines = {ln.name: ln for ln in p.lines}
    assert (lines[PROTO].hours, lines[PROTO].instances, lines[PROTO].scheduled) == (LEFT, 1, False)
    assert lines[PROTO].usd == pytest.approx(LEFT * G5_2X)  # 781.74
    assert p.projected_usd == pytest.approx(LEFT * (G5_2X + G5_4X))  # 1829.22
    assert p.level == "over"


def test_an_autoscaled_deployment_counts_at_its_minimum(tmp_path: Path) -> None:
    cfg = load(tmp_path, SCALED)
    p = budget.project(cfg, {PROTO: ("ml.g5.2xlarge", 3)}, 0.0, NOW)
    (line,) = p.lines
    assert line.instances == 2 and line.usd == pytest.approx(2 * G5_2X * LEFT)


def test_a_scheduled_deployment_counts_only_its_hours_left(tmp_path: Path) -> None:
    cfg = load(tmp_path, SCHEDULED)
    p = budget.project(cfg, {PROTO: ("ml.g5.2xlarge", 1)}, 0.0, NOW)
    (line,) = p.lines
    # Thursday 13:00-19:00 in Berlin (6 h), Friday (11 h), three more weeks: 55 + 55 + Mon-Thu 44
    assert (line.hours, line.scheduled) == (6 + 11 + 55 + 55 + 44, True)
    assert line.usd == pytest.approx(171 * G5_2X)
    assert p.hours_left == LEFT  # the month's, whatever the deployment's


def test_the_month_ends_at_the_first_of_the_next_in_utc() -> None:
    assert budget.month_bounds(NOW) == (dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC))
    assert budget.month_bounds(dt.datetime(2027, 2, 28, 23, 59, tzinfo=UTC)) == (
        dt.datetime(2027, 2, 1, tzinfo=UTC), dt.datetime(2027, 3, 1, tzinfo=UTC))
    berlin_new_year = dt.datetime(2027, 1, 1, 0, 30, tzinfo=hours.zone("Europe/Berlin"))  # still December in UTC
    assert budget.month_bounds(berlin_new_year)[0] == dt.datetime(2026, 12, 1, tzinfo=UTC)


def test_an_unknown_price_counts_nothing_and_is_named(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    p = budget.project(cfg, {PROTO: ("ml.zz.9xlarge", 1)}, 0.0, NOW)
    assert p.lines[0].usd_per_hour is None and p.projected_usd == 0.0 and p.unknown_prices == ["ml.zz.9xlarge"]


def test_a_prices_override_is_used(tmp_path: Path) -> None:
    cfg = load(tmp_path, extra="prices:\n  ml.g5.2xlarge: 2.0\n")
    assert budget.project(cfg, {PROTO: ("ml.g5.2xlarge", 1)}, 0.0, NOW).projected_usd == pytest.approx(2.0 * LEFT)


# --- spent so far ---------------------------------------------------------------------------------------
def _state(*deps: tuple[str, str, int, str, str]) -> Any:
    """A state with (name, instance type, count, started_at, created_at) deployments whose endpoint exists."""
    from esmctl import state as st

    s = st.State(region="us-east-2", environment="dev", account_id="123456789012")
    for name, itype, count, started, created in deps:
        s.deployments[name] = st.DeploymentState(
            selector="ESMC-300M", suffix="00000001", forge_model_name="f", started_at=started, created_at=created,
            endpoint_config=st.ConfigRecord(name=f"c-{name}", created=True, model_name="m", instance_type=itype,
                                            instance_count=count),
            endpoint=st.EndpointRecord(name=f"e-{name}", created=True, status="InService"))
    return s


def test_spent_so_far_counts_from_the_start_or_from_the_first_of_the_month(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    nov, midnight = "2026-11-20T00:00:00Z", "2026-12-10T00:00:00Z"
    billed = {PROTO: ("ml.g5.2xlarge", 1), PERF: ("ml.g5.4xlarge", 1)}
    spent, going = budget.recorded(cfg, _state((PROTO, "ml.g5.2xlarge", 1, nov, nov)), billed, NOW)
    assert spent == pytest.approx(228 * G5_2X) and going == {PROTO: ("ml.g5.2xlarge", 1)}
    spent, _ = budget.recorded(cfg, _state((PROTO, "ml.g5.2xlarge", 2, midnight, nov)), {PROTO: ("ml.g5.2xlarge", 2)},
                               NOW)
    assert spent == pytest.approx(12 * 2 * G5_2X)
    spent, _ = budget.recorded(cfg, _state((PROTO, "ml.g5.2xlarge", 1, midnight, nov)), {}, NOW)
    assert spent == 0.0  # no endpoint now: what ran earlier is not known
    both, _ = budget.recorded(cfg, _state((PROTO, "ml.g5.2xlarge", 1, nov, nov), (PERF, "ml.g5.4xlarge", 1, midnight,
                                                                                  midnight)), billed, NOW)
    assert both == pytest.approx(228 * G5_2X + 12 * G5_4X)


def test_spent_so_far_of_office_hours_counts_their_hours_this_month(tmp_path: Path) -> None:
    """Its endpoint is recreated every morning: the hours inside the ranges since the month began count,
    whether it runs now or not (Thursday 10 December, 12:00 UTC: 7 weekdays of 11 h and 4 h today)."""
    cfg = load(tmp_path, block=SCHEDULED)
    nov = "2026-11-20T00:00:00Z"
    spent, going = budget.recorded(cfg, _state((PROTO, "ml.g5.2xlarge", 1, "2026-12-10T07:00:00Z", nov)), {}, NOW)
    assert spent == pytest.approx((7 * 11 + 5) * G5_2X) and PROTO in going


# --- against the budget -----------------------------------------------------------------------------
@pytest.mark.parametrize(("usd", "level"), [
    (None, "none"), (1000.0, "ok"), (970.0, "warning"), (LEFT * G5_2X, "warning"), (700.0, "over")])
def test_the_level_warns_from_80_percent_and_is_over_past_the_budget(tmp_path: Path, usd: float | None,
                                                                     level: str) -> None:
    p = budget.project(load(tmp_path, usd=usd), {PROTO: ("ml.g5.2xlarge", 1)}, 0.0, NOW)
    assert p.level == level
    assert (p.share is None) == (usd is None)


def test_what_plan_and_status_show(tmp_path: Path) -> None:
    p = budget.project(load(tmp_path), {PROTO: ("ml.g5.2xlarge", 1)}, 100.0, NOW)
    assert p.describe() == ("Projected 2026-12: $881.74 (spent so far ~$100.00, ~$781.74 in the 516 h left) of a "
                            "$1,000.00 budget (88 %); estimates, Marketplace fee extra.")
    got = p.to_json()
    assert got == {
        "budget_usd": 1000.0, "month": "2026-12", "now": "2026-12-10T12:00:00Z", "hours_left": 516.0,
        "spent_usd": 100.0, "remaining_usd": 781.74, "projected_usd": 881.74, "share": 0.8817, "level": "warning",
        "warn_at": 0.8, "unknown_prices": [], "estimates": True,
        "deployments": {PROTO: {"instance_type": "ml.g5.2xlarge", "instances": 1, "usd_per_hour": 1.515,
                                "hours": 516.0, "usd": 781.74, "scheduled": False}}}
    none = budget.project(load(tmp_path, usd=None), {}, 0.0, NOW).describe()
    assert "budget" not in none and none.startswith("Projected 2026-12: $0.00")


def test_an_average_month_of_a_deployment(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert budget.monthly(cfg, cfg.deployments[PROTO]) == (pytest.approx(730 * G5_2X), 730.0)
    cfg = load(tmp_path, SCHEDULED)
    usd, h = budget.monthly(cfg, cfg.deployments[PROTO])
    assert h == pytest.approx(730 * 55 / 168) and usd == pytest.approx(G5_2X * 730 * 55 / 168)  # ~239 h, ~$362
    cfg = load(tmp_path, SCALED)
    assert budget.monthly(cfg, cfg.deployments[PROTO])[0] == pytest.approx(2 * G5_2X * 730)


# --- through whole plans ---------------------------------------------------------------------------------
def env_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: dt.datetime, block: str = PLAIN,
           usd: float | None = None) -> Env:
    no_fsync(monkeypatch)
    monkeypatch.setenv("ESMCTL_NOW", iso(start) or "")  # the clock deploy records `started_at` with
    env = Env(tmp_path, start=start, clock_plans=True)
    env.edit(PLAIN, block)
    if usd is not None:
        env.path.write_text(env.path.read_text() + f"budget:\n  monthly_usd: {usd}\n")
        env._config = None
    return env


def test_a_plan_over_the_budget_is_flagged_only_when_it_raises_the_projection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_at(tmp_path, monkeypatch, NOW, usd=100.0)
    p = env.plan()
    assert p.projection is not None and p.projection.level == "over" and p.over_budget
    assert p.to_json()["budget"]["level"] == "over"
    assert env.apply(p).failures == []  # (deploy refuses it without --over-budget; the executor does not ask)

    again = env.plan()
    assert again.actions == () and again.projection.level == "over" and not again.over_budget  # type: ignore[union-attr]

    env.state.deployments[PROTO].desired = "stopped"  # stopping saves money: never refused
    stop = env.plan(targets=(PROTO,))
    assert [a.action for a in stop.shown] == ["delete_endpoint"] and not stop.over_budget

    env.edit("instance_type: ml.g5.4xlarge", "instance_type: ml.g5.xlarge")  # smaller: lowers the projection
    cheaper = env.plan(targets=(PERF,))
    assert "update_endpoint" in [a.action for a in cheaper.shown] and not cheaper.over_budget
    env.edit("instance_type: ml.g5.xlarge", "instance_type: ml.g5.12xlarge")  # bigger: raises it
    dearer = env.plan(targets=(PERF,))
    assert "update_endpoint" in [a.action for a in dearer.shown] and dearer.over_budget


def test_without_a_budget_there_is_a_projection_but_never_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_at(tmp_path, monkeypatch, NOW)
    p = env.plan()
    assert p.projection is not None and p.projection.level == "none" and not p.over_budget
    assert p.projection.projected_usd == pytest.approx(LEFT * (G5_2X + G5_4X))
    assert dict((n, round(usd or 0, 2)) for n, usd, _ in p.monthly) == {PERF: round(730 * G5_4X, 2),
                                                                        PROTO: round(730 * G5_2X, 2)}


def test_spent_so_far_counts_the_endpoints_since_they_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_at(tmp_path, monkeypatch, NOW)
    assert env.deploy().failures == []
    env.clock.advance((NOW + dt.timedelta(hours=10) - env.clock.utcnow()).total_seconds())
    p = env.plan()
    assert p.projection is not None and p.projection.spent_usd == pytest.approx(10 * (G5_2X + G5_4X))
    assert p.projection.hours_left == LEFT - 10

    env.state.deployments[PROTO].started_at = "2026-11-20T00:00:00Z"  # running since last month
    p = env.plan(refresh=False)
    assert p.projection.spent_usd == pytest.approx(238 * G5_2X + 10 * G5_4X)  # type: ignore[union-attr]


def test_a_scheduled_deployment_off_right_now_still_counts_its_coming_hours(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    night = dt.datetime(2026, 12, 10, 20, tzinfo=UTC)  # 21:00 in Berlin
    env = env_at(tmp_path, monkeypatch, night, SCHEDULED, usd=1000.0)
    assert env.deploy().failures == []
    p = env.plan()
    assert p.actions == ()
    lines = {ln.name: ln for ln in p.projection.lines}  # type: ignore[union-attr]
    assert lines[PROTO].scheduled and lines[PROTO].hours == 11 + 55 + 55 + 44  # from Friday 08:00 on
    assert lines[PERF].hours == p.projection.hours_left == pytest.approx(LEFT - 8, abs=0.5)  # type: ignore[union-attr]
    assert {n for n, _, _ in p.monthly} == {PERF, PROTO}


# --- configuration -------------------------------------------------------------------------------
def problems(tmp_path: Path, block: str = PLAIN, extra: str = "") -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, block, usd=None, extra=extra)
    return [(p.path, p.message) for p in e.value.problems]


@pytest.mark.parametrize(("extra", "path", "message"), [
    ("budget:\n  monthly_usd: 0\n", "budget.monthly_usd", "0"),
    ("budget:\n  monthly_usd: -5\n", "budget.monthly_usd", "0"),
    ("budget:\n  monthly_usd: lots\n", "budget.monthly_usd", "must be a number (got str 'lots')"),
    ("budget:\n  monthly: 100\n", "budget.monthly", "unknown key 'monthly'; did you mean 'monthly_usd'?"),
    ("budget: 100\n", "budget", "must be a mapping (got int 100)"),
])
def test_a_bad_budget_is_refused_with_where_and_why(tmp_path: Path, extra: str, path: str, message: str) -> None:
    got = problems(tmp_path, extra=extra)
    assert any(p == path and message in m for p, m in got), got


def test_a_budget_is_a_number_of_dollars(tmp_path: Path) -> None:
    cfg = load(tmp_path, usd=2500)
    assert cfg.settings.budget is not None and cfg.settings.budget.monthly_usd == 2500.0
    assert load(tmp_path, usd=None).settings.budget is None


WHERE = "selected_models.prototype_model"
SCALING = ("    autoscaling:\n      min_instances: {lo}\n      max_instances: {hi}\n"
           "      target_invocations_per_instance: 100\n")


@pytest.mark.parametrize(("block", "path", "message"), [
    (PLAIN + SCALING.format(lo=1, hi=3) + "      scale_in_cooldown: soon\n", "autoscaling.scale_in_cooldown",
     "'soon' is not a duration; use e.g. 10m, 90s or 1h"),
    (PLAIN + SCALING.format(lo=1, hi=3) + "      scale_out_cooldown: 5 minutes\n", "autoscaling.scale_out_cooldown",
     "is not a duration"),
    (PLAIN + "    instance_count: 5\n" + SCALING.format(lo=1, hi=3), "instance_count",
     "instance_count 5 is the starting count and must lie within autoscaling's [1, 3]"),
    (PLAIN + SCALING.format(lo=2, hi=3), "autoscaling",
     "instance_count (the catalog's) 1 is the starting count and must lie within autoscaling's [2, 3]"),
    (PLAIN + SCALING.format(lo=4, hi=3), "autoscaling.min_instances",
     "min_instances (4) is more than max_instances (3)"),
])
def test_a_bad_autoscaling_block_is_refused_with_where_and_why(tmp_path: Path, block: str, path: str,
                                                               message: str) -> None:
    got = problems(tmp_path, block)
    assert any(p == f"{WHERE}.{path}" and message in m for p, m in got), got


def test_cooldowns_are_whole_seconds(tmp_path: Path) -> None:
    cfg = load(tmp_path, PLAIN + SCALING.format(lo=1, hi=3) + "      scale_in_cooldown: 90s\n"
               "      scale_out_cooldown: 1.5m\n")
    a: Any = cfg.deployments[PROTO].autoscaling
    assert (a.scale_in_seconds, a.scale_out_seconds) == (90, 90)
    d: Any = load(tmp_path, SCALED).deployments[PROTO].autoscaling
    assert (d.scale_in_seconds, d.scale_out_seconds) == (600, 60)
