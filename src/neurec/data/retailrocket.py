"""RetailRocket ("Retailrocket recommender system dataset", Kaggle): events plus a log of item properties.

events.csv            timestamp (ms), visitorid, event (view | addtocart | transaction), itemid, transactionid
item_properties_*.csv timestamp (ms), itemid, property, value: weekly snapshots of every item's properties; all
                      values but categoryid and available are hashed, numbers written "n5280.000"
category_tree.csv     categoryid, parentid

The catalog takes each item's latest value per property. Which property feeds which catalog column comes from
data.columns (property name -> catalog column) over PROPERTY_COLUMNS; "790" is the property the dataset's users
identified as price (its values are numeric and vary per item over time), the dataset itself doesn't say.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.load import CsvOptions, apply_cut, check_file, find_cut, first_line, open_source, read_raw, split_fields
from neurec.schema import CATALOG_OPTIONAL, ITEM_ID

log = logging.getLogger(__name__)

PROPERTY_COLUMNS = {"categoryid": "category", "available": "stock", "790": "price"}
_EVENT_COLUMNS = ("timestamp", "visitorid", "event", "itemid")
_PROPERTY_FILE_COLUMNS = ("timestamp", "itemid", "property", "value")
_NUMBER = r"(?:^|\s)n(-?\d+(?:\.\d+)?)"  # the first number ("n5280.000") of a value; other tokens are hashes


def read_retailrocket(cfg: DataConfig, policy: str) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, int]]:
    """Raw events (file column names), the catalog (neurec names) or None without properties, dropped rows."""
    if not cfg.events_path:
        raise DataError("data=retailrocket needs data.events_path=<folder>/events.csv")
    events, dropped = read_raw(cfg.events_path, "csv", cfg.csv, policy)
    _require(list(events.columns), _EVENT_COLUMNS, Path(cfg.events_path), "events.csv")
    if not cfg.properties_paths:
        return events, None, dropped
    mapping = property_columns(cfg.columns)
    tables = [_read_properties(Path(p), sorted(mapping), policy, dropped) for p in cfg.properties_paths]
    catalog = _catalog(pa.concat_tables(tables).to_pandas(), mapping)
    if cfg.category_tree_path and "category" in catalog.columns:
        _check_tree(Path(cfg.category_tree_path), catalog["category"])
    return events, catalog, dropped


def property_columns(columns: dict) -> dict[str, str]:
    """Property -> catalog column: data.columns entries that name a catalog column, over the defaults."""
    chosen = {str(k): str(v) for k, v in columns.items() if str(v) in CATALOG_OPTIONAL}
    defaults = {p: c for p, c in PROPERTY_COLUMNS.items() if c not in chosen.values() and p not in chosen}
    return defaults | chosen


def _require(found: list[str], needed: tuple[str, ...], path: Path, what: str) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise DataError(f"{path}: does not look like RetailRocket {what}: missing column(s) {missing}; expected {list(needed)}, found {found}")


def _read_properties(path: Path, wanted: list[str], policy: str, dropped: dict[str, int]) -> pa.Table:
    """Only the rows of the wanted properties, filtered batch by batch: the full log is 20 M rows of hashes."""
    path = check_file(path)
    _require(split_fields(first_line(path), ","), _PROPERTY_FILE_COLUMNS, path, "item_properties")
    cut = find_cut(path, "csv", CsvOptions())
    convert = pa_csv.ConvertOptions(
        column_types={"property": pa.string(), "value": pa.string()}, include_columns=list(_PROPERTY_FILE_COLUMNS)
    )
    keep = pa.array(wanted, pa.string())
    rows, parts = 0, []
    try:
        with open_source(path, cut) as source:
            reader = pa_csv.open_csv(source, convert_options=convert)
            for batch in reader:
                rows += batch.num_rows
                parts.append(batch.filter(pc.is_in(batch.column("property"), value_set=keep)))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    apply_cut(cut, policy, rows + 2, path, dropped)
    if rows == 0:
        raise DataError(f"{path}: the file has a header but no rows")
    return pa.Table.from_batches(parts, schema=reader.schema)


def _catalog(props: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """One row per item: its latest value of each mapped property, parsed for the column it feeds."""
    latest = props.sort_values("timestamp", kind="stable").drop_duplicates(["itemid", "property"], keep="last")
    wide = latest.pivot(index="itemid", columns="property", values="value")
    catalog = pd.DataFrame({ITEM_ID: wide.index.to_numpy()})
    for prop, column in mapping.items():
        if prop in wide.columns:
            catalog[column] = _parse(column, wide[prop].reset_index(drop=True))
        else:  # no item has it: the column is unknown throughout, which rules read as "switch off"
            log.warning("item properties: no item has property %r (for %s)", prop, column)
            catalog[column] = np.nan
    return catalog


def _parse(column: str, values: pd.Series) -> pd.Series:
    if column == "stock":
        # "available" is a flag, not a count: 0 means none on hand; 1 says nothing about how many.
        return pd.Series(np.where(values.eq("0").fillna(False), 0.0, np.nan), index=values.index)
    if column in ("price", "margin"):
        return pd.to_numeric(values.str.extract(_NUMBER, expand=False), errors="coerce").astype("float64")
    return values


def _check_tree(path: Path, categories: pd.Series) -> None:
    """The tree's parents have no catalog column (schema.CATALOG_OPTIONAL), so it only checks the categories."""
    tree, _ = read_raw(path, "csv")
    _require(list(tree.columns), ("categoryid", "parentid"), path, "category_tree")
    known = set(tree["categoryid"].astype("str"))
    used = categories.dropna()
    unknown = used[~used.isin(known)]
    if len(unknown):
        log.warning("%s: %d item(s) in %d categor(ies) missing from the tree, e.g. %s", path, len(unknown), unknown.nunique(), list(unknown.unique()[:3]))
