"""How far the counting signals can take next-click ranking: a validation-period probe of a click sample.

    .venv/bin/python scripts/bench_click_ceiling.py                          # YOOCHOOSE, about a minute
    .venv/bin/python scripts/bench_click_ceiling.py --dataset taobao --json ceiling.json

On click data the default model keeps its untrained start (its counting terms: the visit's own items, their item-kNN
neighbours, popularity; training stays below it, docs/benchmarks.md). This asks whether any way of combining the
signals that click data carries could reach 1.1x session kNN, and where the rest would have to come from. Every
figure is NDCG@10 on the validation period against all items, split into repeat decisions (the next click is one of
the visit's own items) and explore ones; the test period is not read.

Rows:
- each method alone, with sequential rules beside the project's baselines: "b followed a within 10 clicks of the same
  visit", weighted 1/distance (Ludewig & Jannach's SR), scored from the last item: the directed next-item signal.
- "own first": the visit's own items on top in the model's order, then everything else in one method's order. The
  explore orderings are compared on equal footing.
- "merge by hit rates": own items by how often the k-th newest is the next click, the others by how often the model's
  k-th best outsider is, interleaved by those rates: the best fixed interleaving. Rates from one half of the visits,
  measured on the other half, and the halves swapped.
- "gated merge": the same with a per-decision repeat gate (logistic regression on the visit's length, its distinct
  items, the last item's clicks and trailing run, the last two pauses, the strongest outsider's SR and kNN scores),
  cross-fitted the same way; its AUC says how well a click's kind can be told ahead.
- "perfect gate": told whether the next click is a repeat, which no scorer is: an upper bound, not a method.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark_quality import DATASETS, ROOT, _gunzip

SR_WINDOW = 10  # clicks ahead that count as "followed"
TOP_OUTSIDERS = 10  # the merges place this many non-own items: NDCG@10 reads no further


def prepare_dataset(name: str, work: Path):
    """The prepared data and the untrained default model, as a default run builds them."""
    import torch
    from hydra import compose, initialize_config_dir

    from neurec.cli.config import config_dir, run_config
    from neurec.data.prepare import prepare
    from neurec.models.build import build_model

    overrides, path = DATASETS[name]
    if path is None or not path.exists():
        raise SystemExit(f"{name}: no real sample at {path}; this probe needs one of "
                         f"{', '.join(n for n, (_, p) in DATASETS.items() if p)}")
    if path.suffix == ".gz":
        path = _gunzip(path, work)
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"data.events_path={path}", "tracking=none",
                                          f"paths.root_dir={ROOT}", f"paths.output_dir={work}"])
    run_cfg, _ = run_config(cfg, work)
    torch.manual_seed(run_cfg.seed)
    data = prepare(run_cfg.data, work / "data")
    return data, build_model(run_cfg.model, data).eval()


def sequential_rules(events, n_items: int) -> sp.csr_matrix:
    """(n_items, n_items): sum over training visits of 1/d for "b came d <= SR_WINDOW clicks after a", rows
    normalised to sum 1 (a's transitions as shares), the diagonal dropped (re-clicks are the own items' part)."""
    from neurec.schema import N_RESERVED_IDS, SESSION_ID, USER_ID

    ev = events[events["item_idx"] >= N_RESERVED_IDS].sort_values([USER_ID, SESSION_ID, "ts"], kind="stable")
    item = ev["item_idx"].to_numpy(np.int64)
    visit = ev.groupby([USER_ID, SESSION_ID], sort=False, observed=True).ngroup().to_numpy()
    rows, cols, vals = [], [], []
    for d in range(1, SR_WINDOW + 1):
        same = visit[d:] == visit[:-d]
        rows.append(item[:-d][same]), cols.append(item[d:][same]), vals.append(np.full(int(same.sum()), 1.0 / d))
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items))
    m.setdiag(0)
    m.eliminate_zeros()
    return (sp.diags(1.0 / np.maximum(np.asarray(m.sum(axis=1)).ravel(), 1e-12)) @ m).tocsr()


def score_validation(data, model) -> dict:
    """Per-method (N, n_items) float32 scores of every validation decision, and the inputs the probe reads."""
    from neurec.models.baselines_cf import ItemKNN
    from neurec.models.baselines_session import SessionKNN
    from neurec.train.compare import baseline_score_fn, train_view
    from neurec.train.evaluate import model_score_fn

    view = train_view(data)
    fns = {"model": model_score_fn(model)}
    for baseline in (SessionKNN(), ItemKNN()):
        fns[baseline.name] = baseline_score_fn(baseline.fit(view))
    rules = sequential_rules(view.events, len(data.vocab))
    scores: dict[str, list] = {name: [] for name in [*fns, "sequential_rules"]}
    inputs: dict[str, list] = {"hist_items": [], "hist_gaps": [], "target": []}
    for offset, batch in data.valid.batches(1024):
        for key in inputs:
            inputs[key].append(np.asarray(batch[key]))
        for name, fn in fns.items():
            scores[name].append(fn(offset, batch).astype(np.float32))
        last = np.asarray(batch["hist_items"])[:, -1]
        scores["sequential_rules"].append(rules[last].toarray().astype(np.float32))
    return {"scores": {k: np.concatenate(v) for k, v in scores.items()},
            **{k: np.concatenate(v) for k, v in inputs.items()}}


def ndcg(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    from neurec.train.metrics import target_ranks

    ranks = target_ranks(scores.astype(np.float64), target)
    return np.where(ranks <= 10, 1.0 / np.log2(ranks + 1.0), 0.0)


def own_items(hist: np.ndarray, n_items: int):
    """Each decision's distinct own items (row, item, recency: 0 the newest) and an (N, n_items) membership mask."""
    from neurec.models.baselines import distinct_history

    rows, item, recency = distinct_history(hist)
    mask = np.zeros((len(hist), n_items), dtype=bool)
    mask[rows, item] = True
    return rows, item, recency, mask


def outsiders(model_scores: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(N, TOP_OUTSIDERS) the model's best items that are not the decision's own, best first."""
    from neurec.schema import N_RESERVED_IDS

    s = np.where(own, -np.inf, model_scores)
    s[:, :N_RESERVED_IDS] = -np.inf
    top = np.argpartition(-s, TOP_OUTSIDERS - 1, axis=1)[:, :TOP_OUTSIDERS]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def gate_features(p: dict, sr: np.ndarray, knn: np.ndarray, own: np.ndarray) -> np.ndarray:
    hist, gaps = p["hist_items"], p["hist_gaps"]
    last = hist[:, -1]
    run = np.ones(len(hist))
    for j in range(2, hist.shape[1] + 1):  # the last item's trailing run of clicks
        run += (hist[:, -j] == last) & (run == j - 1)
    return np.c_[np.log1p((hist > 0).sum(1)), np.log1p(own.sum(1)), (hist == last[:, None]).sum(1), run,
                 gaps[:, -1], gaps[:, -2], np.log1p(10 * np.where(own, 0, sr).max(1)),
                 np.log1p(np.where(own, 0, knn).max(1))]


def logistic(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, l2: float = 1e-3, steps: int = 25) -> np.ndarray:
    """P(y) for x_new from a logistic regression fitted on (x, y) by Newton steps on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    a = np.c_[np.ones(len(x)), (x - mu) / sd]
    w = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-a @ w))
        grad = a.T @ (p - y) + l2 * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return 1.0 / (1.0 + np.exp(-np.c_[np.ones(len(x_new)), (x_new - mu) / sd] @ w))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """The chance that a random positive scores above a random negative (ties half), from average ranks."""
    from scipy.stats import rankdata

    pos = y.astype(bool)
    r = rankdata(p)[pos]
    return float((r.sum() - pos.sum() * (pos.sum() + 1) / 2) / max(pos.sum() * (~pos).sum(), 1))


def merged(target, rows, item, recency, top, q, fit, repeat, n_items):
    """Scores placing own items and the top outsiders by hit rates learned on the `fit` decisions, the own items
    weighted by q (each decision's chance of a repeat) and the outsiders by 1 - q."""
    depth = TOP_OUTSIDERS * 5
    rec = np.minimum(recency, depth - 1)
    hit = fit[rows] & (item == target[rows])
    own_rate = np.bincount(rec[hit], minlength=depth) / max(int((fit & repeat).sum()), 1)  # P(k-th newest | repeat)
    seen = np.bincount(rec[fit[rows]], minlength=depth) / max(int(fit.sum()), 1)  # how often a k-th newest exists
    own_rate = own_rate / np.maximum(seen, 1e-12)
    explore = fit & ~repeat
    out_rate = (top[explore] == target[explore, None]).mean(0) if explore.any() else np.zeros(TOP_OUTSIDERS)
    scores = np.full((len(target), n_items), -1.0)
    scores[rows, item] = q[rows] * own_rate[rec] + 1e-9 * (depth - rec)
    for k in range(TOP_OUTSIDERS):
        scores[np.arange(len(target)), top[:, k]] = (1 - q) * out_rate[k] + 1e-9 * (TOP_OUTSIDERS - k)
    return scores


def _unit(x: np.ndarray) -> np.ndarray:
    """Each row over its maximum: two signals on one scale before they are added."""
    return x / np.maximum(x.max(axis=1, keepdims=True), 1e-12)


def _below(x: np.ndarray) -> np.ndarray:
    """The same order squeezed into (-100, 100): below every own item, which is placed at 1,000 and up."""
    return 1e2 * np.tanh(x / (np.abs(x).max() + 1e-12))


def probe(p: dict, n_items: int, seed: int = 42) -> dict:
    s, target = p["scores"], p["target"]
    rows, item, recency, own = own_items(p["hist_items"], n_items)
    repeat = own[np.arange(len(target)), target]
    out: dict[str, dict] = {}

    def row(name: str, per_decision: np.ndarray, **extra) -> None:
        out[name] = {"ndcg_at_10": float(per_decision.mean()), "repeat": float(per_decision[repeat].mean()),
                     "explore": float(per_decision[~repeat].mean()), **extra}

    row("sequential_rules", ndcg(s["sequential_rules"] + 1e-6 * s["model"], target))  # the model orders its ties
    for name in ("model", "session_knn", "item_knn"):
        row(name, ndcg(s[name], target))
    own_first = np.where(own, 1e3 + s["model"], 0.0)
    blend = _unit(s["sequential_rules"]) + 0.5 * _unit(s["item_knn"]) + 1e-6 * s["model"]
    for name, rest in (("model", s["model"]), ("sequential_rules", s["sequential_rules"] + 1e-6 * s["model"]),
                       ("item_knn", s["item_knn"]), ("session_knn", s["session_knn"]),
                       ("sequential_rules + item_knn", blend)):
        row(f"own first, then {name}", ndcg(np.where(own, own_first, _below(rest)), target))
    recency_first = np.where(own, 0.0, -1e3 + _below(s["model"]))
    recency_first[rows, item] = -recency
    row("own first by recency, then model", ndcg(recency_first, target))

    # Two random halves of the decisions: rates (and the gate) fitted on one, measured on the other, then swapped.
    rng = np.random.default_rng(seed)
    half = rng.integers(0, 2, size=len(target)).astype(bool)
    top = outsiders(s["model"], own)
    feats = gate_features(p, s["sequential_rules"], s["item_knn"], own)
    fixed, gated, gate_p = np.zeros(len(target)), np.zeros(len(target)), np.zeros(len(target))
    for fit in (half, ~half):
        held = ~fit
        gate_p[held] = logistic(feats[fit], repeat[fit], feats[held])
        for q, store in ((np.full(len(target), repeat[fit].mean()), fixed), (gate_p, gated)):
            store[held] = ndcg(merged(target, rows, item, recency, top, q, fit, repeat, n_items), target)[held]
    row("merge by hit rates", fixed)
    row("gated merge", gated, gate_auc=auc(repeat, gate_p))
    perfect = np.where(repeat[:, None], own_first, np.where(own, 0.0, _below(s["model"])))
    row("perfect gate (not a method)", ndcg(perfect, target))
    out["_decisions"] = {"n": int(len(target)), "repeat_share": float(repeat.mean()),
                         "target_is_last_click": float(((target == p["hist_items"][:, -1]) & repeat).mean()),
                         "own_items_mean": float(own.sum(1).mean())}
    return out


def table(name: str, out: dict) -> str:
    target = 1.1 * out["session_knn"]["ndcg_at_10"]
    lines = [f"| {name} (validation) | NDCG@10 | repeat | explore | / session kNN |", "|---|---:|---:|---:|---:|"]
    for method, m in out.items():
        if method.startswith("_"):
            continue
        extra = f" (gate AUC {m['gate_auc']:.2f})" if "gate_auc" in m else ""
        lines.append(f"| {method}{extra} | {m['ndcg_at_10']:.4f} | {m['repeat']:.4f} | {m['explore']:.4f} | "
                     f"{m['ndcg_at_10'] / out['session_knn']['ndcg_at_10']:.2f}x |")
    d = out["_decisions"]
    lines.append(f"\n{d['n']:,} decisions, {d['repeat_share']:.0%} repeats ({d['target_is_last_click']:.0%} the last "
                 f"click again), {d['own_items_mean']:.1f} own items each; 1.1x session kNN is {target:.4f}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="yoochoose", choices=[n for n, (_, p) in DATASETS.items() if p])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        data, model = prepare_dataset(args.dataset, Path(tmp))
        inputs = score_validation(data, model)
        out = probe(inputs, len(data.vocab))
    print(table(args.dataset, out))
    if args.json:
        args.json.write_text(json.dumps({args.dataset: out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
