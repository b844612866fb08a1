"""Estimated on-demand prices of SageMaker real-time inference instances, USD per hour.

Every figure esmctl shows from here is an estimate: the bundled table (data/prices.json, with its
source and date), overridden by `prices:` in esmctl.yaml. The model's own Marketplace software fee
is not included. No AWS calls here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def bundled() -> dict[str, dict[str, float]]:
    """region -> instance type -> USD/h, from the bundled table."""
    doc = json.loads(resources.files("esmctl").joinpath("data/prices.json").read_text())
    return {region: dict(table) for region, table in doc["regions"].items()}


def hourly(instance_type: str, region: str, overrides: dict[str, float] | None = None) -> float | None:
    """Estimated USD/h for one instance, or None when unknown."""
    if overrides and instance_type in overrides:
        return overrides[instance_type]
    table = bundled()
    if instance_type in table.get(region, {}):
        return table[region][instance_type]
    return table.get("us-east-1", {}).get(instance_type)


def cost(instance_type: str, count: int, region: str, overrides: dict[str, float] | None = None) -> float | None:
    price = hourly(instance_type, region, overrides)
    return None if price is None else price * count


def money(value: float | None, per_hour: bool = True) -> str:
    if value is None:
        return "?"
    return f"${value:,.2f}" + ("/h" if per_hour else "")
