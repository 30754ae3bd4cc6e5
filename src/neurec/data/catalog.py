"""Check an item table and make it cover the events: numbers that are numbers, ids that are ids, and every item a
customer touched present (so that the bundle can serve it), each problem under its policy and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurec.data.config import DataConfig
from neurec.data.errors import DataError, examples
from neurec.data.validate import CleaningReport, Cleaner, check_ids, check_text, resolve_policies
from neurec.schema import CATALOG_OPTIONAL, ITEM_ID, PRICE

# The lowest plausible value of each numeric column; price must be above it, the others at least it.
NUMERIC = {"price": 0.0, "margin": 0.0, "stock": 0.0, "tier": 0.0}
CATALOG_PREFIX = "catalog_"  # report keys of problems the events share (missing_id, long_id, bad_text)


def validate_catalog(frame: pd.DataFrame, source: str, cfg: DataConfig | None = None, report: CleaningReport | None = None) -> pd.DataFrame:
    """Keep the catalog columns neurec knows; item ids unique; numeric columns finite and not negative."""
    cfg = cfg or DataConfig()
    report = report if report is not None else CleaningReport()
    if ITEM_ID not in frame.columns:
        raise DataError(f"{source}: missing column {ITEM_ID!r}; found {list(frame.columns)}")
    keep = [ITEM_ID] + [c for c in CATALOG_OPTIONAL if c in frame.columns]
    clean = Cleaner(source, resolve_policies(cfg.policies), cfg.max_bad_fraction, len(frame), report, prefix=CATALOG_PREFIX)
    out = check_text(frame[keep].copy(), keep, clean)
    out = check_ids(out, [ITEM_ID], cfg.max_id_length, clean)
    out[ITEM_ID] = out[ITEM_ID].astype(str)
    dup = out[ITEM_ID].duplicated(keep=False)
    if dup.any():
        raise DataError(f"{source}: {int(dup.sum())} row(s) share an {ITEM_ID}: {examples(out, dup)}")
    for col in NUMERIC:
        if col in out.columns:
            out = _numeric(out, col, clean)
    unknown = {c: int(out[c].isna().sum()) for c in NUMERIC if c in out.columns and out[c].isna().any()}
    if unknown:
        report.notes.append(f"catalog values unknown (empty or NaN), of {len(out):,} items: {unknown}")
    return out.reset_index(drop=True)


def _numeric(out: pd.DataFrame, col: str, clean: Cleaner) -> pd.DataFrame:
    values = pd.to_numeric(out[col], errors="coerce").astype("float64")
    floor = NUMERIC[col]
    good = np.isfinite(values) & ((values > floor) if col == PRICE else (values >= floor))
    rule = "> 0" if col == PRICE else ">= 0"
    # Text where a number belongs is refused past max_bad_fraction even under fix: a whole column of it is the
    # wrong column, not a few bad cells. An infinite or negative number is a bad cell.
    text = out[col].notna() & values.isna()
    what = f"a non-numeric {col} (must be a finite number {rule}; fix makes it unknown)"
    out = clean.apply(out, text, "bad_catalog_value", what, guard_fix=True)
    odd = (values.notna() & ~good).loc[out.index]
    what = f"an infinite or negative {col} (must be a finite number {rule}; fix makes it unknown)"
    out = clean.apply(out, odd, "bad_catalog_value", what)
    return out.assign(**{col: values.loc[out.index].where(good.loc[out.index])})


def cover_events(catalog: pd.DataFrame, events: pd.DataFrame, derived: pd.DataFrame, source: str, cfg: DataConfig,
                 report: CleaningReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The catalog and events once every event item has a catalog row, by the uncatalogued_item policy.

    fix: the missing items join the catalog with what the events say of them (`derived`: price, category, brand
    when the events log them), else unknown attributes, so they stay servable; drop: their events go; error: stop.
    """
    policy, missing = uncatalogued(pd.Index(events[ITEM_ID].unique()), catalog, source, cfg, report)
    if len(missing) == 0:
        return catalog, events
    if policy == "drop":
        clean = Cleaner(source, {"uncatalogued_item": "drop"}, cfg.max_bad_fraction, len(events), report)
        events = clean.apply(events, ~events[ITEM_ID].isin(catalog[ITEM_ID]), "uncatalogued_item", "an item not in the catalog")
        return catalog, events.reset_index(drop=True)
    return add_uncatalogued(catalog, derived, missing), events


def uncatalogued(event_items: pd.Index, catalog: pd.DataFrame, source: str, cfg: DataConfig,
                 report: CleaningReport) -> tuple[str, pd.Index]:
    """The uncatalogued_item policy and the event items the catalog lacks; notes and counts them, and stops under
    the error policy. What to do under drop or fix is the caller's (rows in memory, or in a database)."""
    missing = event_items[~event_items.isin(catalog[ITEM_ID])]
    n_missing, n_items = len(missing), len(event_items)
    policy = resolve_policies(cfg.policies)["uncatalogued_item"]
    if n_missing == 0:
        return policy, missing
    coverage = 100.0 * (n_items - n_missing) / n_items
    report.notes.append(f"the catalog covers {coverage:.1f}% of the {n_items:,} items in the events")
    shown = [str(i) for i in missing[:5]]
    what = f"{n_missing:,} of the {n_items:,} event items are not in the catalog (e.g. {shown})"
    if policy == "error":
        raise DataError(f"{source}: {what}. Complete the catalog, or set data.policies.uncatalogued_item=fix (add them "
                        "with unknown attributes) or =drop (drop their events)")
    if policy == "fix":
        report.fixed["uncatalogued_item"] = report.fixed.get("uncatalogued_item", 0) + n_missing
        report.warnings.append(f"uncatalogued_item: {what}; added to the catalog with unknown attributes "
                               "(data.policies.uncatalogued_item=error|drop to refuse or drop them)")
    return policy, missing


def add_uncatalogued(catalog: pd.DataFrame, derived: pd.DataFrame, missing: pd.Index) -> pd.DataFrame:
    """The fix policy: the missing items join the catalog with what the events say of them."""
    extra = derived[derived[ITEM_ID].isin(missing)]
    extra = extra[[c for c in extra.columns if c == ITEM_ID or c in catalog.columns]]
    return pd.concat([catalog, extra], ignore_index=True)
