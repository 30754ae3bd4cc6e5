"""From a data config to model-ready arrays: load, validate, split by time, fit the vocabulary on train only."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurec.data.errors import DataError
from neurec.data.load import read_table
from neurec.data.split import Boundaries, Targets, find_targets, histories_before, time_boundaries, user_starts
from neurec.data.validate import ids_as_str, parse_timestamps, validate_catalog, validate_events
from neurec.schema import EVENT_TYPE, ITEM_ID, PRICE, USER_ID, EventType
from neurec.vocab import ItemVocab

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    name: str = "simulator"
    source: str = "simulator"  # simulator | files
    events_path: str | None = None
    catalog_path: str | None = None
    columns: dict = field(default_factory=dict)  # the file's column name -> neurec's
    event_map: dict = field(default_factory=dict)  # the file's event name -> view | add_to_cart | purchase
    timestamp_unit: str = "s"  # for numeric timestamps
    simulator: object | None = None  # a SimulatorConfig when source == simulator
    max_history: int = 50
    valid_frac: float = 0.1
    test_frac: float = 0.15
    min_item_count: int = 1


@dataclass(frozen=True)
class ExampleSet:
    """Purchase decisions of one period with their encoded histories."""

    items: np.ndarray  # (N, L) int64
    types: np.ndarray  # (N, L) int64
    gaps: np.ndarray  # (N, L) int64
    target: np.ndarray  # (N,) int64 model id of the bought item (OOV_ID if unseen in training)
    targets: Targets

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass(frozen=True)
class PreparedData:
    events: pd.DataFrame
    catalog: pd.DataFrame
    boundaries: Boundaries
    vocab: ItemVocab
    train: ExampleSet
    valid: ExampleSet
    test: ExampleSet
    train_purchase_counts: np.ndarray  # (n_items,) purchases per model id in the training period
    propensity: pd.DataFrame | None  # simulator only: user_id, ts, item_id, prob
    stats: dict


def load_source(cfg: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, str]:
    """Raw events, raw catalog (or None), propensity (or None) and a name for messages."""
    if cfg.source == "simulator":
        from neurec.data.simulate import simulate

        shop = simulate(cfg.simulator)
        return shop.events, shop.catalog, shop.propensity, "simulator"
    if cfg.source == "files":
        if not cfg.events_path:
            raise DataError("data.events_path is not set: give the events file, e.g. data.events_path=events.csv")
        events = read_table(cfg.events_path, columns=cfg.columns)
        catalog = read_table(cfg.catalog_path) if cfg.catalog_path else None
        return events, catalog, None, str(cfg.events_path)
    raise DataError(f"data.source={cfg.source!r}: use 'simulator' or 'files'")


def catalog_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """When no catalog is given: the items seen, with their median logged price when the events carry one."""
    if PRICE in events.columns:
        return events.groupby(ITEM_ID, sort=True)[PRICE].median().reset_index()
    return pd.DataFrame({ITEM_ID: np.sort(events[ITEM_ID].unique())})


def _example_set(events: pd.DataFrame, targets: Targets, vocab: ItemVocab, starts: np.ndarray, max_len: int) -> ExampleSet:
    item_idx = vocab.encode(events[ITEM_ID].to_numpy())
    items, types, gaps = histories_before(
        item_idx, events[EVENT_TYPE].to_numpy(), events["ts"].to_numpy(), starts, targets.position, max_len
    )
    return ExampleSet(items, types, gaps, vocab.encode(targets.item), targets)


def prepare(cfg: DataConfig) -> PreparedData:
    raw, raw_catalog, propensity, source = load_source(cfg)
    events = validate_events(raw, source, cfg.event_map, cfg.timestamp_unit)
    catalog = validate_catalog(raw_catalog, f"{source} catalog") if raw_catalog is not None else catalog_from_events(events)
    bounds = time_boundaries(events["ts"].to_numpy(), cfg.valid_frac, cfg.test_frac)
    train_events = events[events["ts"] < bounds.valid_start]
    vocab = ItemVocab.fit(train_events[ITEM_ID].to_numpy(), min_count=cfg.min_item_count)

    targets = find_targets(events)
    period = np.searchsorted([bounds.valid_start, bounds.test_start], targets.ts, side="right")  # 0/1/2
    starts = user_starts(events)
    sets = {name: _example_set(events, targets.select(period == p), vocab, starts, cfg.max_history) for p, name in enumerate(("train", "valid", "test"))}
    train = sets["train"]
    known = train.target >= 2  # a decision whose item appeared only after the cut has nothing to learn from
    train = ExampleSet(train.items[known], train.types[known], train.gaps[known], train.target[known], train.targets.select(known))
    counts = np.bincount(train.target, minlength=len(vocab)).astype(np.float64)
    for name, s in (("train", train), ("valid", sets["valid"]), ("test", sets["test"])):
        if len(s) == 0:
            raise DataError(f"{source}: no purchases in the {name} period; check the data or data.valid_frac/test_frac")
    if propensity is not None:
        propensity = propensity.assign(
            user_id=ids_as_str(propensity[USER_ID]),
            item_id=ids_as_str(propensity[ITEM_ID]),
            ts=parse_timestamps(propensity["timestamp"], "propensity"),
        )[[USER_ID, "ts", ITEM_ID, "prob"]]
    stats = _stats(events, vocab, train, sets["valid"], sets["test"])
    log.info("data %s: %s", source, stats)
    return PreparedData(events, catalog, bounds, vocab, train, sets["valid"], sets["test"], counts, propensity, stats)


def _stats(events: pd.DataFrame, vocab: ItemVocab, train: ExampleSet, valid: ExampleSet, test: ExampleSet) -> dict:
    by_type = events[EVENT_TYPE].value_counts()
    return {
        "events": int(len(events)),
        "users": int(events[USER_ID].nunique()),
        "items": int(events[ITEM_ID].nunique()),
        "vocab_items": len(vocab) - 2,
        **{f"events_{e.label}": int(by_type.get(int(e), 0)) for e in EventType if e is not EventType.PAD},
        "train_targets": len(train),
        "valid_targets": len(valid),
        "test_targets": len(test),
        "test_targets_unseen_item": int((test.target < 2).sum()),
    }
