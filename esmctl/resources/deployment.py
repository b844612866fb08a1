"""The deployment record itself: esmctl's tags on its SageMaker resources, and forgetting a
deployment that is no longer selected once its resources are gone. No AWS resource of its own."""

from __future__ import annotations

from dataclasses import dataclass

from esmctl.resources._base import Action, Planning, Run, Spec, handler
from esmctl.resources.role import UNTAGGED

PLAN_ORDER = 60  # when it plans
SECTION = 70  # where its shared steps run and show (teardown: reverse)


@dataclass(frozen=True)
class Tags(Spec):
    """esmctl's tags on one SageMaker resource; `name` is its ARN."""



@dataclass(frozen=True)
class Record(Spec):
    """The deployment's record in the state; `name` is the deployment's."""



def plan(ctx: Planning) -> None:
    for p in ctx.deployments.values():
        for arn in p.have.untagged if p.have else []:
            ctx.add("tag", Tags(arn), p.name, reason=UNTAGGED)
    for name in ctx.removed:
        ctx.add("forget", Record(name), name)


@handler("tag", Tags, action="tag_resource", symbol="~", resource="tags of", order=10,
         iam={"sagemaker:AddTags": "sagemaker"})
def tag(run: Run, a: Action) -> None:
    run.aws.sagemaker.add_tags(a.name, run.tags(a.deployment))
    with run.store.change() as st:
        dep = st.deployments.get(a.deployment)
        if dep is not None:
            dep.untagged = [arn for arn in dep.untagged if arn != a.name]


@handler("forget", Record, action="forget_deployment", symbol="-", resource="deployment record", order=99,
         quiet=True, iam={})
def forget(run: Run, a: Action) -> None:
    with run.store.change() as st:
        st.deployments.pop(a.deployment, None)
