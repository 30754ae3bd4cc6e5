"""From a data config to model-ready examples: read, validate, split by time, fit the vocabulary on train only,
encode histories into shards on disk."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurec.data.config import DataConfig
from neurec.data.errors import DataError
from neurec.data.examples import ExampleSet, write_examples
from neurec.data.split import (
    Boundaries,
    Targets,
    boundaries_from_dates,
    find_next_targets,
    find_targets,
    time_boundaries,
    user_starts,
)
from neurec.data.catalog import CATALOG_PREFIX, cover_events, validate_catalog
from neurec.data.validate import CleaningReport, ids_as_str, parse_timestamps, resolve_policies, validate_events
from neurec.schema import EVENT_TYPE, ITEM_ID, N_RESERVED_IDS, PRICE, USER_ID, EventType
from neurec.vocab import ItemVocab

log = logging.getLogger(__name__)
PERIODS = ("train", "valid", "test")


@dataclass(frozen=True)
class Loaded:
    """Validated events with their catalog, before any split."""

    events: pd.DataFrame
    catalog: pd.DataFrame
    propensity: pd.DataFrame | None  # simulator only: user_id, ts, item_id, prob
    report: CleaningReport
    source: str
    catalog_given: bool  # a real item table (file, simulator, properties), not one derived from the events
    given_items: np.ndarray | None = None  # the real table's own items (not those added from the events)


@dataclass(frozen=True)
class PreparedData:
    events: pd.DataFrame
    catalog: pd.DataFrame
    boundaries: Boundaries
    vocab: ItemVocab
    train: ExampleSet
    valid: ExampleSet
    test: ExampleSet
    train_purchase_counts: np.ndarray  # (n_items,) decisions per model id in the training period
    propensity: pd.DataFrame | None
    report: CleaningReport
    stats: dict
    item_idx: np.ndarray  # (len(events),) model id of every event's item, in the events' row order


def load(cfg: DataConfig) -> Loaded:
    """Read and validate. Raises DataError naming the first problem its policy doesn't allow."""
    report = CleaningReport()
    propensity = None
    if cfg.source == "simulator":
        from neurec.data.simulate import simulate

        shop = simulate(cfg.simulator)
        raw, raw_catalog, propensity, source = shop.events, shop.catalog, shop.propensity, "simulator"
    elif cfg.source == "files":
        from neurec.data.formats import read_events

        if not cfg.events_path:
            raise DataError("data.events_path is not set: give the events file, e.g. data.events_path=events.csv")
        tables = read_events(cfg)
        raw, raw_catalog, source = tables.events, tables.catalog, tables.source
        report.dropped.update(tables.dropped)
        if cfg.catalog_path:
            raw_catalog = read_catalog_file(cfg, report)
    else:
        raise DataError(f"data.source={cfg.source!r}: use 'simulator' or 'files'")
    events, report = validate_events(raw, source, cfg, report)
    if raw_catalog is None:
        return Loaded(events, catalog_from_events(events), _propensity(propensity), report, source, False)
    name = str(cfg.catalog_path) if cfg.catalog_path else f"{source} catalog"
    catalog = validate_catalog(raw_catalog, name, cfg, report)
    given = catalog[ITEM_ID].to_numpy()
    catalog, events = cover_events(catalog, events, catalog_from_events(events), name, cfg, report)
    return Loaded(events, catalog, _propensity(propensity), report, source, True, given)


def read_catalog_file(cfg: DataConfig, report: CleaningReport) -> pd.DataFrame:
    """data.catalog_path as read (validate_catalog checks it), with the rows dropped while reading counted."""
    from neurec.data.load import read_raw

    policies = resolve_policies(cfg.policies)
    raw_catalog, dropped = read_raw(cfg.catalog_path, policy=policies["truncated_row"], header_policy=policies["repeated_header"])
    report.dropped.update({CATALOG_PREFIX + k: v for k, v in dropped.items()})
    return raw_catalog


def _propensity(propensity: pd.DataFrame | None) -> pd.DataFrame | None:
    """The simulator's propensity table with canonical ids and unix seconds."""
    if propensity is None:
        return None
    return pd.DataFrame({
        USER_ID: ids_as_str(propensity[USER_ID]).astype(str),
        "ts": parse_timestamps(propensity["timestamp"]),
        ITEM_ID: ids_as_str(propensity[ITEM_ID]).astype(str),
        "prob": propensity["prob"].to_numpy(),
    })


def catalog_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """No catalog given: each item's latest logged price, category and brand (REES46 logs them per event)."""
    cols = [c for c in (PRICE, "category", "brand") if c in events.columns]
    if not cols:
        return pd.DataFrame({ITEM_ID: np.sort(events[ITEM_ID].unique())})
    latest = events.sort_values("ts", kind="stable").groupby(ITEM_ID, sort=True)[cols].last()
    return latest.reset_index()


def split(events: pd.DataFrame, cfg: DataConfig) -> tuple[Boundaries, Targets, np.ndarray]:
    """Time boundaries, the prediction targets, and each target's period (0 train, 1 valid, 2 test)."""
    ts = events["ts"].to_numpy()
    if cfg.valid_start or cfg.test_start:
        if not (cfg.valid_start and cfg.test_start):
            raise DataError("give both data.valid_start and data.test_start, or neither (then the fractions apply)")
        bounds = boundaries_from_dates(ts, cfg.valid_start, cfg.test_start)
    else:
        bounds = time_boundaries(ts, cfg.valid_frac, cfg.test_frac, cfg.split_by)
    if cfg.target == "purchase":
        targets = find_targets(events)
    elif cfg.target == "next":
        targets = find_next_targets(events)
    else:
        raise DataError(f"data.target={cfg.target!r}: use 'purchase' or 'next'")
    period = np.searchsorted([bounds.valid_start, bounds.test_start], targets.ts, side="right")
    return bounds, targets, period


def prepare(cfg: DataConfig, work_dir: Path, vocab: ItemVocab | None = None) -> PreparedData:
    """`vocab`: a trained model's vocabulary, to evaluate it on other data; by default one is fit on train."""
    loaded = load(cfg)
    events = loaded.events
    bounds, targets, period = split(events, cfg)
    train_events = events[events["ts"] < bounds.valid_start]
    # Items of a real catalogue get ids even when training never saw them, so side features can score them. Not
    # for a catalogue derived from events: that would reveal which items the test period's customers touched.
    catalog_only = loaded.given_items if loaded.catalog_given else ()
    vocab = vocab or ItemVocab.fit(train_events[ITEM_ID].to_numpy(), min_count=cfg.min_item_count, catalog_only=catalog_only)
    item_idx = vocab.encode(events[ITEM_ID].to_numpy())
    starts = user_starts(events)
    types, ts = events[EVENT_TYPE].to_numpy(), events["ts"].to_numpy()
    parts = {}
    for p, name in enumerate(PERIODS):
        part = targets.select(period == p)
        target = item_idx[part.position]
        if name == "train":  # a decision whose item appeared only after the cut has nothing to learn from
            part, target = part.select(target >= N_RESERVED_IDS), target[target >= N_RESERVED_IDS]
        if len(part) == 0:
            raise DataError(f"{loaded.source}: no {cfg.target} targets in the {name} period; check the data or the split settings")
        parts[name] = (part, target)
    check_decisions({n: len(pt) for n, (pt, _) in parts.items()}, cfg, loaded.source, loaded.report)
    sets = {name: write_examples(Path(work_dir) / name, item_idx, types, ts, starts, part, target, cfg.max_history,
                                 cfg.summary_size)
            for name, (part, target) in parts.items()}
    counts = np.bincount(sets["train"].target, minlength=len(vocab)).astype(np.float64)
    stats = data_stats(events, vocab, sets)
    log.info("data %s: %s", loaded.source, stats)
    return PreparedData(events, loaded.catalog, bounds, vocab, sets["train"], sets["valid"], sets["test"], counts,
                        loaded.propensity, loaded.report, stats, item_idx)


def too_few_decisions(counts: dict[str, int], cfg: DataConfig) -> str | None:
    """What is short, naming the counts and the keys to change; None when every period has enough."""
    need = {"train": cfg.min_train_decisions, "valid": cfg.min_eval_decisions, "test": cfg.min_eval_decisions}
    short = [f"{counts[p]:,} in {p} (need {need[p]:,})" for p in PERIODS if counts.get(p, 0) < need[p]]
    if not short:
        return None
    return (f"too_few_decisions: only {', '.join(short)} {cfg.target} decisions; metrics on so few are noise and the "
            "model learns little. Use more data or another split (data.valid_frac, data.test_frac, data.split_by=events), "
            "lower data.min_train_decisions / data.min_eval_decisions, or set +data.policies.too_few_decisions=warn")


def check_decisions(counts: dict[str, int], cfg: DataConfig, source: str, report: CleaningReport) -> None:
    """Refuse (or, with the warn policy, warn loudly) a split with fewer decisions than the configured minimums."""
    problem = too_few_decisions(counts, cfg)
    if problem is None:
        return
    if resolve_policies(cfg.policies)["too_few_decisions"] == "error":
        raise DataError(f"{source}: {problem}")
    log.warning("%s: %s", source, problem)
    report.warnings.append(problem)


def data_stats(events: pd.DataFrame, vocab: ItemVocab, sets: dict[str, ExampleSet]) -> dict:
    by_type = events[EVENT_TYPE].value_counts()
    return {
        "events": int(len(events)),
        "users": int(events[USER_ID].nunique()),
        "items": int(events[ITEM_ID].nunique()),
        "vocab_items": len(vocab) - N_RESERVED_IDS,
        **{f"events_{e.label}": int(by_type.get(int(e), 0)) for e in EventType if e is not EventType.PAD},
        **{f"{name}_targets": len(s) for name, s in sets.items()},
        "test_targets_unseen_item": int((sets["test"].target < N_RESERVED_IDS).sum()),
    }
