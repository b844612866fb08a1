"""esmctl.yaml / models.yaml validation: every problem at once, with file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from esmctl import config
from esmctl.errors import ConfigError


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as e:
        config.load(path)
    return [p.render() for p in e.value.problems]


def test_examples_load_with_module_defaults(project: Path) -> None:
    cfg = config.load(project / "esmctl.yaml")
    assert set(cfg.deployments) == {"prototype_model", "performance_model"}
    perf = cfg.deployments["performance_model"]
    assert (perf.instance_type, perf.instance_count) == ("ml.g5.4xlarge", 1)
    assert cfg.role_name == "esm-sagemaker-exec-dev"
    assert cfg.state_path == project / "state" / "dev.json"
    assert cfg.settings.tags == {"Environment": "dev", "Project": "esm-partner"}


def test_defaults_fill_in_from_catalog(tmp_path: Path, project: Path) -> None:
    (project / "esmctl.yaml").write_text("selected_models:\n  m:\n    selector: ESMC-600M\n")
    cfg = config.load(project / "esmctl.yaml")
    d = cfg.deployments["m"]
    assert (d.instance_type, d.instance_count, d.endpoint_name) == ("ml.g5.4xlarge", 1, "Endpoint-ESMC-600M-1")
    assert cfg.region == "us-east-2" and cfg.environment == "dev"


def test_every_problem_reported_at_once_with_lines(project: Path) -> None:
    (project / "esmctl.yaml").write_text(
        "enviroment: dev\n"           # 1: typo
        "selected_models:\n"
        "  a:\n"
        "    selector: ESMC-30M\n"    # 4: unknown selector
        "    instance_count: 0\n"     # 5: bad count
        "  b:\n"
        "    selector: ESMC-300M\n"
        "    instance_count: two\n"   # 8: not a number
        "    instance_type: g5.xl\n"  # 9: malformed
    )
    got = "\n".join(_problems(project / "esmctl.yaml"))
    assert "esmctl.yaml:1:1: enviroment: unknown key 'enviroment'; did you mean 'environment'?" in got
    assert "esmctl.yaml:4:5: selected_models.a.selector: unknown selector 'ESMC-30M'; did you mean 'ESMC-300M'?" in got
    assert "ESMC-300M, ESMC-600M" in got  # the known selectors are listed
    assert "esmctl.yaml:5:5: selected_models.a.instance_count: must be at least 1" in got
    assert "esmctl.yaml:8:5: selected_models.b.instance_count: must be a whole number" in got
    assert "esmctl.yaml:9:5: selected_models.b.instance_type:" in got


def test_region_must_match_model_package(project: Path) -> None:
    text = (project / "esmctl.yaml").read_text().replace("region: us-east-2", "region: eu-west-1")
    (project / "esmctl.yaml").write_text(text)
    got = "\n".join(_problems(project / "esmctl.yaml"))
    assert "is in us-east-2 but region is eu-west-1" in got


def test_yaml_syntax_error_has_line_and_column(project: Path) -> None:
    (project / "esmctl.yaml").write_text("selected_models:\n  a: [1,\n")
    (p,) = _problems(project / "esmctl.yaml")
    assert "YAML syntax error" in p and "esmctl.yaml:3:" in p


def test_names_too_long_after_suffix(project: Path) -> None:
    cat = (project / "models.yaml").read_text().replace(
        "endpoint_name: Endpoint-ESMC-300M-1", "endpoint_name: " + "E" * 50)
    (project / "models.yaml").write_text(cat)
    got = "\n".join(_problems(project / "esmctl.yaml"))
    assert "models.ESMC-300M.endpoint_name" in got and "at most 63" in got


def test_illegal_name_characters(project: Path) -> None:
    cat = (project / "models.yaml").read_text().replace(
        "sagemaker_model_name: Model-ESMC-300M-1", "sagemaker_model_name: Model_ESMC")
    (project / "models.yaml").write_text(cat)
    assert any("sagemaker_model_name" in p and "name rule" in p for p in _problems(project / "esmctl.yaml"))


def test_missing_models_yaml_is_named(project: Path) -> None:
    (project / "models.yaml").unlink()
    (p,) = _problems(project / "esmctl.yaml")
    assert "models.yaml" in p and "not found" in p


def test_unknown_catalog_field_and_missing_field(project: Path) -> None:
    cat = (project / "models.yaml").read_text().replace("instance_count: 1\n", "instance_cnt: 1\n", 1)
    (project / "models.yaml").write_text(cat)
    got = "\n".join(_problems(project / "esmctl.yaml"))
    assert "unknown key 'instance_cnt'; did you mean 'instance_count'?" in got
    assert "models.ESMC-300M.instance_count: required key is missing" in got


def test_non_string_tags_and_case_duplicates(project: Path) -> None:
    (project / "esmctl.yaml").write_text(
        "tags: {Team: 7}\nselected_models:\n  a: {selector: ESMC-300M}\n  A: {selector: ESMC-300M}\n")
    got = "\n".join(_problems(project / "esmctl.yaml"))
    assert "tags.Team: must be a string" in got
    assert "selected_models.A: differs only in case from 'a'" in got


def test_empty_selection_is_valid(project: Path) -> None:
    (project / "esmctl.yaml").write_text("selected_models: {}\n")
    assert config.load(project / "esmctl.yaml").deployments == {}


def test_missing_esmctl_yaml_points_at_init(tmp_path: Path) -> None:
    (p,) = _problems(tmp_path / "esmctl.yaml")
    assert "esmctl init" in p


@pytest.mark.parametrize("itype", ["ml.p6-b200.48xlarge", "ml.p6e-gb200.36xlarge", "ml.g6e.xlarge"])
def test_current_instance_types_with_hyphenated_families_are_valid(project: Path, itype: str) -> None:
    # botocore's ProductionVariantInstanceType enum has hyphenated families (docs/aws-behaviour.md)
    text = f"selected_models:\n  m:\n    selector: ESMC-300M\n    instance_type: {itype}\n"
    (project / "esmctl.yaml").write_text(text)
    assert config.load(project / "esmctl.yaml").deployments["m"].instance_type == itype


def test_partition_follows_the_region() -> None:
    from esmctl import naming

    arn = naming.sagemaker_arn("cn-north-1", "1" * 12, "endpoint", "E")
    assert arn == "arn:aws-cn:sagemaker:cn-north-1:111111111111:endpoint/e"
    assert naming.iam_policy_arn("us-gov-west-1", "1" * 12, "p") == "arn:aws-us-gov:iam::111111111111:policy/p"
    assert naming.managed_policy_arn("eu-west-1") == "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    assert naming.endpoint_url("cn-north-1", "E").startswith("https://runtime.sagemaker.cn-north-1.amazonaws.com.cn/")
    doc = naming.invoke_policy("cn-northwest-1", "1" * 12, ["Endpoint-A"])
    assert '"arn:aws-cn:sagemaker:cn-northwest-1:111111111111:endpoint/endpoint-a"' in doc
