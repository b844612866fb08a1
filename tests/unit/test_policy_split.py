"""The shared user's invoke policy split to fit IAM's 6,144-character limit, still exact ARNs."""

from __future__ import annotations

import json

from esmctl import naming


def test_chunks_fit_the_limit_cover_every_endpoint_and_name_exact_arns() -> None:
    names = [f"Endpoint-ESMC-300M-1-{i:08x}" for i in range(200)]
    chunks = list(naming.assign_invoke_policies("us-east-2", "123456789012", names).values())
    assert len(chunks) == 3
    assert sorted(n for c in chunks for n in c) == sorted(names)
    for chunk in chunks:
        doc = naming.invoke_policy("us-east-2", "123456789012", chunk)
        assert naming.policy_size(doc) <= naming.POLICY_SIZE_LIMIT
        assert all("*" not in arn for arn in json.loads(doc)["Statement"][0]["Resource"])
    # one endpoint fewer or more moves at most the boundaries, never drops one
    assert list(naming.assign_invoke_policies("us-east-2", "123456789012", names[:60]).values()) == [sorted(names[:60])]
    assert list(naming.assign_invoke_policies("us-east-2", "123456789012", []).values()) == [[]]


def test_part_names_round_trip_and_stay_within_iams_128_characters() -> None:
    base = "esm-shared-invoke-policy-dev-esm-shared-invoke-dev"
    assert naming.policy_part_name(base, 1) == base and naming.policy_part_name(base, 3) == base + "-3"
    assert [naming.part_number(base, naming.policy_part_name(base, i)) for i in (1, 2, 12)] == [1, 2, 12]
    assert naming.part_number(base, base + "-x") is None and naming.part_number(base, "other-2") is None
    long = "p" * 128
    tenth = naming.policy_part_name(long, 10)
    assert len(tenth) == 128 and naming.part_number(long, tenth) == 10
