"""The shared user's invoke policies on plain data: split under IAM's size limit, stable, torn down
in an order IAM accepts, and kept by `destroy --target` for the deployments that stay."""

from __future__ import annotations

from pathlib import Path

from esmctl import config, naming
from esmctl.observe import from_state as observed_from_state
from esmctl.plan import Plan, plan
from esmctl.state import PolicyPart, SharedAccountRecord, State
from tests.conftest import write_example
from tests.unit.test_plan import deployed

ACCOUNT, REGION = "123456789012", "us-east-2"
POLICY = "esm-shared-invoke-policy-dev-esm-shared-invoke-dev"


def _cfg(folder: Path, n: int) -> config.Config:
    path = write_example(folder, "basic_shared_user")
    head = path.read_text().partition("selected_models:")[0]
    path.write_text(head + "selected_models:\n" + "".join(f"  m{i:03d}:\n    selector: ESMC-300M\n" for i in range(n)))
    return config.load(path)


def _state(cfg: config.Config, n: int) -> State:
    """n deployments running, the shared user with its policies as esmctl would have made them."""
    st = State(region=REGION, environment="dev", account_id=ACCOUNT)
    for i in range(n):
        st.deployments[f"m{i:03d}"] = deployed(cfg, f"m{i:03d}", f"{i:08x}")
    names = [d.endpoint.name for d in st.deployments.values() if d.endpoint]
    parts = naming.assign_invoke_policies(REGION, ACCOUNT, names)
    st.shared_account = SharedAccountRecord(
        user_name="esm-shared-invoke-dev", user_arn="arn:aws:iam::123456789012:user/esm-shared-invoke-dev",
        user_created=True, policy_name=POLICY, policy_arn=naming.iam_policy_arn(REGION, ACCOUNT, POLICY),
        policy_created=True, policy_attached=True, policy_endpoints=parts[1], access_key_id="AKIA1",
        policy_parts=[PolicyPart(name=naming.policy_part_name(POLICY, k), created=True, attached=True, endpoints=v)
                      for k, v in parts.items() if k > 1])
    return st


def _policy_actions(p: Plan) -> list[tuple[str, str]]:
    """The shared user's policy steps: (kind, policy name)."""
    out = []
    for a in p.actions:
        if a.deployment == naming.SHARED and a.action.endswith(("_policy", "user_policy")) and "role" not in a.action:
            name = a.spec.policy_arn.rsplit("/", 1)[1] if "user_policy" in a.action else a.name
            out.append((a.action, name))
    return out


def test_a_fresh_200_deployment_plan_creates_and_attaches_three_policies(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 200)
    p = plan(cfg, None, observed_from_state(None, REGION))
    created = [a for a in p.actions if a.action == "create_policy"]
    assert [a.name for a in created] == [POLICY, POLICY + "-2", POLICY + "-3"]
    assert sum(len(a.spec.endpoints) for a in created) == 200
    assert [a.action for a in p.actions].count("attach_user_policy") == 3


def test_no_change_plans_nothing_and_one_more_endpoint_touches_one_policy(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 200)
    st = _state(cfg, 200)
    assert _policy_actions(plan(cfg, st, observed_from_state(st, REGION))) == []
    cfg = _cfg(tmp_path, 201)  # m200's endpoint sorts among the others, yet no endpoint moves
    p = plan(cfg, st, observed_from_state(st, REGION), new_suffix=lambda: "0000006x")
    assert _policy_actions(p) == [("update_policy", POLICY + "-3")]


def test_assignment_is_stable_and_compacts_only_into_earlier_policies() -> None:
    names = [f"Endpoint-ESMC-300M-1-{i:08x}" for i in range(200)]
    parts = naming.assign_invoke_policies(REGION, ACCOUNT, names)
    kept = names[:5] + names[100:102]  # a few of each policy stay
    after = naming.assign_invoke_policies(REGION, ACCOUNT, kept, parts)
    assert list(after) == [1] and after[1] == sorted(kept)  # all fit in the first: the others go
    grown = naming.assign_invoke_policies(REGION, ACCOUNT, [*names, "Endpoint-ESMC-300M-1-0000006x"], parts)
    assert {n: [e for e in v if e in names] for n, v in grown.items()} == parts  # nothing moved


def test_fewer_endpoints_delete_the_policies_no_longer_needed_after_the_rest(tmp_path: Path) -> None:
    cfg200 = _cfg(tmp_path, 200)
    st = _state(cfg200, 200)
    cfg = _cfg(tmp_path, 5)
    p = plan(cfg, st, observed_from_state(st, REGION))
    acts = _policy_actions(p)
    assert ("update_policy", POLICY) in acts
    assert acts[-4:] == [("detach_user_policy", POLICY + "-2"), ("delete_policy", POLICY + "-2"),
                         ("detach_user_policy", POLICY + "-3"), ("delete_policy", POLICY + "-3")]
    assert all(a.phase == "post" for a in p.actions if a.action == "delete_policy")


def test_destroy_detaches_and_deletes_every_policy_before_the_user(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 200)
    st = _state(cfg, 200)
    p = plan(cfg, st, observed_from_state(st, REGION), destroy=True)
    kinds = [(a.action, a.name) for a in p.actions if a.deployment == naming.SHARED]
    user_at = kinds.index(("delete_user", "esm-shared-invoke-dev"))
    deleted = [n for k, n in kinds[:user_at] if k == "delete_policy"]
    assert deleted == [POLICY, POLICY + "-2", POLICY + "-3"]
    assert [k for k, _ in kinds[:user_at]].count("detach_user_policy") == 3


def test_destroy_target_keeps_the_shared_user_for_the_deployments_that_stay(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 3)
    st = _state(cfg, 3)
    p = plan(cfg, st, observed_from_state(st, REGION), destroy=True, targets=["m001"])
    shared = [(a.action, a.name) for a in p.actions if a.deployment == naming.SHARED]
    assert ("delete_user", "esm-shared-invoke-dev") not in shared and ("delete_secret", "esm-shared-invoke-dev") \
        not in [(k, n) for k, n in shared]
    (update,) = [a for a in p.actions if a.action == "update_policy"]
    assert sorted(update.spec.endpoints) == sorted(
        st.deployments[m].endpoint.name for m in ("m000", "m002"))  # type: ignore[union-attr]
