"""The model beside every baseline on the test period: same decisions, same candidates (all items), same metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurec.data.prepare import PreparedData
from neurec.models.baselines import Baseline, TrainView
from neurec.models.purchase import PurchaseModel
from neurec.schema import EVENT_TYPE, ITEM_ID, SESSION_ID, USER_ID
from neurec.train.calibration import Calibration
from neurec.train.evaluate import (
    ScoreFn,
    evaluate_model,
    evaluate_scores,
    oracle_score_fn,
    popularity_score_fn,
)
from neurec.train.segments import segment_masks, segment_metrics

log = logging.getLogger(__name__)


@dataclass
class TestReport:
    metrics: dict[str, dict[str, float]]  # method -> metric -> value
    reliability: dict[str, np.ndarray]


def best_baseline(metrics: dict[str, dict[str, float]], key: str = "ndcg_at_10") -> str | None:
    """The method other than the model and the oracle (which knows the answers) with the highest `key`; None when
    there is none. The one choice behind the report's "model / best baseline" and the run's headline metrics."""
    others = {m: v.get(key, float("-inf")) for m, v in metrics.items() if m not in ("model", "oracle")}
    return max(others, key=others.get) if others else None


def train_view(data: PreparedData) -> TrainView:
    """What the counting baselines may see: training-period events and decisions only."""
    train = data.events["ts"].to_numpy() < data.boundaries.valid_start
    events = data.events.loc[train, [USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, "ts"]].assign(item_idx=data.item_idx[train])
    t = data.train.targets
    decisions = pd.DataFrame({
        USER_ID: t.user, SESSION_ID: data.events[SESSION_ID].to_numpy()[t.position], "item_idx": data.train.target, "ts": t.ts,
    })
    return TrainView(events=events.reset_index(drop=True), decisions=decisions, n_items=len(data.vocab), end_ts=data.boundaries.valid_start)


def baseline_score_fn(baseline: Baseline) -> ScoreFn:
    if getattr(baseline, "reads_summary", False):  # the whole-history counting rules
        return lambda offset, batch: baseline.score_summary(batch["sum_items"], batch["sum_feats"])
    if getattr(baseline, "reads_visit", False):  # the current visit, cut from the window at its last long pause
        return lambda offset, batch: baseline.score_visit(batch["hist_items"], batch["hist_gaps"])
    return lambda offset, batch: baseline.score(batch["hist_items"], batch["hist_types"])


def compare_on_test(model: PurchaseModel, data: PreparedData, cal: Calibration, baselines: list[Baseline], device: str = "cpu") -> TestReport:
    n_items = len(data.vocab)
    masks = segment_masks(data.events, data.boundaries.valid_start, data.vocab, data.test)

    def measure(score: ScoreFn) -> dict[str, float]:
        metrics, ranks = evaluate_scores(score, data.test, n_items)
        return {**metrics, **segment_metrics(ranks, masks, n_items)}

    metrics, table, ranks = evaluate_model(model, data.test, device, cal)
    out = {"model": {**metrics, **segment_metrics(ranks, masks, n_items)}}
    out["popularity"] = measure(popularity_score_fn(data.train_purchase_counts))
    view = train_view(data)
    for baseline in baselines:
        t0 = time.perf_counter()
        baseline.fit(view)
        fit_seconds = time.perf_counter() - t0
        out[baseline.name] = {**measure(baseline_score_fn(baseline)), "train_seconds": fit_seconds}
        log.info("baseline %s: ndcg@10 %.4f (fit %.1fs)", baseline.name, out[baseline.name]["ndcg_at_10"], fit_seconds)
    if data.propensity is not None:
        out["oracle"] = measure(oracle_score_fn(data.propensity, data.test, data.vocab))
    return TestReport(out, table)
