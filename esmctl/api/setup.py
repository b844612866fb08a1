"""Use cases around a workspace rather than in it: `init` (write the example files), `catalog` (the
models on offer, with estimated prices) and `prices refresh` (the local price cache). They work
without an esmctl.yaml; `prices refresh` is the only one that calls AWS.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esmctl import budget, hours, prices
from esmctl import config as config_mod
from esmctl.api.workspace import Base
from esmctl.errors import EsmctlError

if TYPE_CHECKING:
    from esmctl.aws import Aws

EXAMPLES = ("basic", "basic_shared_user", "multi_model")  # esmctl/examples/<name>.yaml
DEFAULT_CONFIG = "esmctl.yaml"
CATALOG = "models.yaml"


def default_region() -> str:
    """The region without esmctl.yaml or --region: the module's default."""
    return str(config_mod.Settings.model_fields["region"].default)


def new_aws(*, region: str, profile: str | None = None, endpoint_url: str | None = None) -> Aws:
    """An AWS session without a configuration (for commands that need none)."""
    from esmctl.aws import Aws
    return Aws(region=region, profile=profile, endpoint_url=endpoint_url)


def refresh_prices(aws: Aws, region: str, now: dt.datetime) -> tuple[dict[str, float], Path]:
    """Fetch on-demand SageMaker hosting prices for `region` into the local price cache."""
    table = prices.parse_price_list(aws.pricing.sagemaker_hosting_products(region))
    if not table:
        raise EsmctlError(f"The AWS Price List API returned no SageMaker hosting prices for {region}.",
                          hint="Check the region name; the bundled price table stays in use.")
    return table, prices.write_cache(region, table, now)


class Setup(Base):
    def _config_file(self) -> Path:
        return Path(self.config_path or DEFAULT_CONFIG)

    def init(self, example: str = "basic", *, force: bool = False) -> list[Path]:
        """Write esmctl.yaml (at the workspace's path) and models.yaml beside it from an example;
        refuses to overwrite either without `force`. The files written."""
        if example not in EXAMPLES:
            raise EsmctlError(f"No example named {example!r}.", hint=f"Examples: {', '.join(EXAMPLES)}.")
        cfg = self._config_file()
        targets = {cfg: f"{example}.yaml", cfg.parent / CATALOG: CATALOG}
        existing = [str(p) for p in targets if p.exists()]
        if existing and not force:
            raise EsmctlError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                              "nothing was written.", hint="Add --force to overwrite.")
        src = resources.files("esmctl").joinpath("examples")
        written = []
        for dest, name in targets.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(src.joinpath(name).read_text())
            self.ui.ok(f"wrote {dest}")
            written.append(dest)
        return written

    def catalog(self) -> dict[str, Any]:
        """The model catalog with estimated $/h per entry: esmctl.yaml's catalog, region and price
        overrides when there is an esmctl.yaml, else ./models.yaml in the region asked for (or the default)."""
        cfg_path = self._config_file()
        cfg = None
        if cfg_path.exists():
            cfg = config_mod.load(cfg_path, region=self.region_override)
            cat, region, overrides = cfg.catalog, cfg.region, dict(cfg.settings.prices)
        else:
            cat, overrides = config_mod.load_catalog(Path(CATALOG)), {}
            region = self.region_override or default_region()
        rows: list[dict[str, Any]] = []
        for sel, e in cat.models.items():
            per_h = prices.cost(e.instance_type, e.instance_count, region, overrides)
            rows.append({"selector": sel, "forge_model_name": e.forge_model_name, "instance_type": e.instance_type,
                         "instance_count": e.instance_count, "model_package": e.model_package,
                         "estimated_cost_per_hour": per_h,
                         "estimated_cost_per_month": None if per_h is None else round(per_h * hours.MONTH_HOURS, 2)})
        selected = []
        for d in (cfg.deployments.values() if cfg else []):
            usd, h = budget.monthly(cfg, d) if cfg else (None, 0.0)
            selected.append({"name": d.name, "selector": d.selector, "instance_type": d.instance_type,
                             "instances": budget.idle_count(d, d.instance_count),
                             "autoscaling": d.autoscaling is not None, "schedule": d.schedule.range_texts
                             if d.schedule else None, "hours_per_month": round(h, 1),
                             "estimated_cost_per_month": None if usd is None else round(usd, 2)})
        return {"region": region, "models": rows, "selected": selected, "prices_are_estimates": True}

    def prices_refresh(self, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Fetch the prices of this configuration's region (without an esmctl.yaml: the region asked
        for, or the default) into the local cache: {"region", "cache", "prices"}."""
        if self._config_file().exists():
            aws, region = self.aws, self.config.region
        else:
            region = self.region_override or default_region()
            aws = new_aws(region=region, profile=self.profile, endpoint_url=self.endpoint_url)
        table, path = refresh_prices(aws, region, now or dt.datetime.now(dt.UTC))
        return {"region": region, "cache": str(path), "prices": table}
