"""Estimated on-demand prices of SageMaker real-time inference instances, USD per hour.

Every figure esmctl shows from here is an estimate. Sources, first match wins: `prices:` in
esmctl.yaml; the local cache written by `esmctl prices refresh` from the AWS Price List API
(`$XDG_CACHE_HOME/esmctl/prices.json`, default `~/.cache/...`); the bundled table
(data/prices.json, with its source and date). The model's own Marketplace software fee is not
included. No AWS calls here (`refresh` gets its price list from the caller).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


@cache
def bundled() -> dict[str, dict[str, float]]:
    """region -> instance type -> USD/h, from the bundled table."""
    doc = json.loads(resources.files("esmctl").joinpath("data/prices.json").read_text())
    return {region: dict(table) for region, table in doc["regions"].items()}


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "esmctl" / "prices.json"


@cache
def cached() -> dict[str, dict[str, float]]:
    """region -> instance type -> USD/h, from `esmctl prices refresh` (empty when never run)."""
    try:
        doc = json.loads(cache_path().read_text())
        return {region: dict(table) for region, table in doc.get("regions", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def hourly(instance_type: str, region: str, overrides: dict[str, float] | None = None) -> float | None:
    """Estimated USD/h for one instance, or None when unknown."""
    if overrides and instance_type in overrides:
        return overrides[instance_type]
    for table in (cached(), bundled()):
        if instance_type in table.get(region, {}):
            return table[region][instance_type]
    return bundled().get("us-east-1", {}).get(instance_type)


def parse_price_list(items: Iterable[str]) -> dict[str, float]:
    """Instance type -> on-demand USD/h from Price List API `GetProducts` items of AmazonSageMaker,
    keeping only real-time inference hosting (attribute component = Hosting)."""
    out: dict[str, float] = {}
    for raw in items:
        try:
            doc: Any = json.loads(raw)
            attrs = doc["product"]["attributes"]
        except (ValueError, KeyError, TypeError):
            continue
        itype = attrs.get("instanceName", "")
        if attrs.get("component") != "Hosting" or not itype.startswith("ml."):
            continue
        for term in doc.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                try:
                    usd = float(dim.get("pricePerUnit", {}).get("USD", "0"))
                except ValueError:
                    continue
                if usd > 0 and dim.get("unit", "Hrs").lower().startswith("hr"):
                    out[itype] = usd
    return out


def write_cache(region: str, table: dict[str, float], now: dt.datetime) -> Path:
    """Merge one region's fresh prices into the local cache."""
    path = cache_path()
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    doc["_source"] = "AWS Price List API (pricing:GetProducts, AmazonSageMaker, component Hosting, on-demand)"
    doc.setdefault("fetched", {})[region] = now.isoformat(timespec="seconds")
    doc.setdefault("regions", {})[region] = dict(sorted(table.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    cached.cache_clear()
    return path


def cost(instance_type: str, count: int, region: str, overrides: dict[str, float] | None = None) -> float | None:
    price = hourly(instance_type, region, overrides)
    return None if price is None else price * count


def money(value: float | None, per_hour: bool = True) -> str:
    if value is None:
        return "?"
    return f"${value:,.2f}" + ("/h" if per_hour else "")
