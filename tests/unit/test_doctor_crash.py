"""`esmctl doctor`: a check that crashes is an error finding of its own, the other checks still run,
and `doctor --json` prints exactly one JSON document (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from esmctl import config as config_mod
from esmctl import doctor
from esmctl.cli import run
from esmctl.errors import EsmctlError

IDENTITY = {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/alice"}


def _boom(exc: BaseException) -> Any:
    def check(*args: Any, **kwargs: Any) -> Any:
        raise exc
    return check


@pytest.fixture
def offline_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check that would call AWS answers from here (the state check reads the local folder)."""
    monkeypatch.setattr(doctor, "check_credentials", lambda aws, **kw: ([doctor.ok("credentials", "alice")], IDENTITY))
    monkeypatch.setattr(doctor, "check_subscriptions", lambda *a, **kw: [doctor.ok("subscription ESMC-300M", "ok")])
    monkeypatch.setattr(doctor, "check_quotas", lambda *a, **kw: [doctor.ok("quota ml.g5.2xlarge", "ok")])
    monkeypatch.setattr(doctor, "check_permissions", lambda *a, **kw: [doctor.ok("permissions", "ok")])


def test_a_crashing_check_is_an_error_finding_and_the_others_still_run(
        project: Path, offline_checks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config_mod.load(project / "esmctl.yaml")
    monkeypatch.setattr(doctor, "check_subscriptions", _boom(KeyError("ProductionVariants")))
    monkeypatch.setattr(doctor, "check_quotas", _boom(EsmctlError("no quota for you", hint="ask")))
    details: list[str] = []
    findings = doctor.run_checks(cfg, object(), on_crash=details.append)  # type: ignore[arg-type]
    by_name = {f.name: f for f in findings}
    sub, quota = by_name["subscription"], by_name["quota"]
    assert (sub.level, sub.message) == ("error", "subscription crashed: KeyError: 'ProductionVariants'")
    assert sub.fix == "Run `esmctl -v doctor` for details and report it"
    # an esmctl or AWS error keeps its own words and next step; it is not a crash to report
    assert (quota.level, quota.message, quota.fix) == ("error", "no quota for you", "ask")
    assert by_name["permissions"].level == "ok" and by_name["credentials"].level == "ok"  # the others ran
    assert by_name["region"].level == "ok"
    assert len(details) == 1 and "Traceback" in details[0] and "KeyError" in details[0]


def test_a_crashing_credentials_check_skips_the_aws_checks_saying_why(project: Path, offline_checks: None,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config_mod.load(project / "esmctl.yaml")
    monkeypatch.setattr(doctor, "check_credentials", _boom(ValueError("bad expiry")))
    findings = doctor.run_checks(cfg, object())  # type: ignore[arg-type]
    assert [f.name for f in findings] == ["credentials", "region", "AWS checks"]
    assert findings[0].message == "credentials crashed: ValueError: bad expiry"
    assert "the credentials check crashed" in findings[2].message


def _doctor_json(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any], str]:
    code = run(["-c", str(project / "esmctl.yaml"), *extra, "doctor", "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err  # exactly one JSON document: json.loads refuses anything more


@pytest.mark.parametrize("exc", [KeyError("EndpointName"), ValueError("x"), EsmctlError("unexpected", hint="h")])
def test_doctor_json_prints_one_document_when_a_check_crashes(
        project: Path, offline_checks: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        exc: Exception) -> None:
    monkeypatch.setattr(doctor, "check_subscriptions", _boom(exc))
    code, doc, err = _doctor_json(project, capsys)
    assert code == 1
    assert doc["ok"] is False and doc["summary"]["error"] == 1
    (crash,) = [f for f in doc["findings"] if f["level"] == "error"]
    assert crash["name"] == "subscription"
    if isinstance(exc, EsmctlError):
        assert (crash["message"], crash["fix"]) == ("unexpected", "h")
    else:
        assert crash["message"].startswith(f"subscription crashed: {type(exc).__name__}: ")
    assert {"configuration", "credentials", "region", "quota ml.g5.2xlarge", "permissions", "state"} <= \
        {f["name"] for f in doc["findings"]}
    assert "doctor found 1 error: subscription" in err and "Traceback" not in err


def test_with_v_the_traceback_goes_to_stderr_and_stdout_stays_one_document(
        project: Path, offline_checks: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(doctor, "check_permissions", _boom(KeyError("EvalDecision")))
    code, doc, err = _doctor_json(project, capsys, "-v")
    assert code == 1 and doc["ok"] is False
    assert "Traceback" in err and "permissions crashed" in err


def test_a_crash_outside_any_check_is_still_one_document(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(doctor, "_diagnose", _boom(RuntimeError("bug")))
    code, doc, _ = _doctor_json(project, capsys)
    assert code == 1
    assert doc["findings"] == [{"name": "doctor", "level": "error", "message": "doctor crashed: RuntimeError: bug",
                                "fix": "Run `esmctl -v doctor` for details and report it"}]
    from esmctl.api import Workspace
    monkeypatch.setattr(Workspace, "doctor", _boom(TypeError("worse")))
    code, doc, _ = _doctor_json(project, capsys)
    assert code == 1 and doc["findings"][0]["message"] == "doctor crashed: TypeError: worse"


def test_probe_models_left_by_a_dead_doctor_run_are_deleted_young_ones_kept() -> None:
    import datetime as dt
    from types import SimpleNamespace

    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    models = [{"ModelName": "esmctl-probe-0000aaaa", "CreationTime": now - dt.timedelta(hours=2)},
              {"ModelName": "esmctl-probe-0000bbbb", "CreationTime": now - dt.timedelta(seconds=30)},
              {"ModelName": "Model-ESMC-300M-1-0000cccc", "CreationTime": now - dt.timedelta(days=3)}]
    deleted: list[str] = []
    sm = SimpleNamespace(list_models=lambda: iter(models), delete_model=deleted.append)
    assert doctor.remove_leftover_probes(SimpleNamespace(sagemaker=sm), now) == ["esmctl-probe-0000aaaa"]  # type: ignore[arg-type]
    assert deleted == ["esmctl-probe-0000aaaa"]
