"""What a user wants to know first about their events: size, funnel, time span, sparsity, cold items, problems."""

from __future__ import annotations

import numpy as np

from neurec.data.config import DataConfig
from neurec.data.plausible import stamp
from neurec.data.prepare import Loaded, split, too_few_decisions
from neurec.schema import EVENT_TYPE, ITEM_ID, SESSION_ID, USER_ID, EventType


def summarize(loaded: Loaded, cfg: DataConfig) -> dict:
    ev = loaded.events
    per_user = ev.groupby(USER_ID, sort=False).size()
    buys = ev[ev[EVENT_TYPE] == EventType.PURCHASE]
    n_users, n_items = ev[USER_ID].nunique(), ev[ITEM_ID].nunique()
    pairs = len(ev[[USER_ID, ITEM_ID]].drop_duplicates())
    bounds, targets, period = split(ev, cfg)
    train_items = set(ev.loc[ev["ts"] < bounds.valid_start, ITEM_ID])
    test_items = ev.loc[ev["ts"] >= bounds.test_start, ITEM_ID].unique()
    unseen = float(np.mean([i not in train_items for i in test_items])) if len(test_items) else 0.0
    return {
        "source": loaded.source,
        "events": int(len(ev)),
        "users": int(n_users),
        "sessions": int(ev[SESSION_ID].nunique()),
        "items": int(n_items),
        "events_by_type": {e.label: int((ev[EVENT_TYPE] == e).sum()) for e in EventType if e is not EventType.PAD},
        "purchases": int(len(buys)),
        "buyers": int(buys[USER_ID].nunique()),
        "first_event": stamp(bounds.start),
        "last_event": stamp(bounds.end),
        "days": round((bounds.end - bounds.start) / 86400.0, 2),
        "events_per_user_median": float(per_user.median()),
        "events_per_user_p90": float(per_user.quantile(0.9)),
        "sparsity": 1.0 - pairs / max(n_users * n_items, 1),
        "target": cfg.target,
        "targets_train_valid_test": [int((period == p).sum()) for p in range(3)],
        "test_start": stamp(bounds.test_start),
        "test_items_unseen_in_train": unseen,
        "catalog_columns": [c for c in loaded.catalog.columns if c != ITEM_ID],
        "dropped": dict(loaded.report.dropped),
        "fixed": dict(loaded.report.fixed),
        "warnings": list(loaded.report.warnings) + decision_warnings(cfg, period),
        "problems": loaded.report.problems() + [w.split(":", 1)[0] for w in decision_warnings(cfg, period)],
        "notes": list(loaded.report.notes) + _task_notes(cfg, period),
    }


def decision_warnings(cfg: DataConfig, period: np.ndarray) -> list[str]:
    """too_few_decisions, as training would meet it (training also leaves out decisions on items new after the cut)."""
    counts = {name: int((period == p).sum()) for p, name in enumerate(("train", "valid", "test"))}
    problem = too_few_decisions(counts, cfg)
    warn = cfg.policies.get("too_few_decisions") == "warn" and min(counts.values()) > 0  # none at all always stops
    return [f"{problem}: training would {'warn' if warn else 'stop'}"] if problem else []


def _task_notes(cfg: DataConfig, period: np.ndarray) -> list[str]:
    counts = [int((period == p).sum()) for p in range(3)]
    if min(counts) > 0:
        return []
    hint = " For click-only data use data.target=next." if cfg.target == "purchase" else ""
    return [f"a period has no {cfg.target} targets (train/valid/test {counts}): training would stop.{hint}"]


def format_summary(s: dict) -> str:
    funnel = " · ".join(f"{k} {v:,}" for k, v in s["events_by_type"].items())
    problems = ", ".join(s["problems"])
    t = s["targets_train_valid_test"]
    lines = [
        f"{s['source']}",
        f"  events        {s['events']:,}  ({funnel})",
        f"  customers     {s['users']:,}   sessions {s['sessions']:,}   items {s['items']:,}",
        f"  purchases     {s['purchases']:,} by {s['buyers']:,} buyers",
        f"  time          {s['first_event']} .. {s['last_event']} UTC ({s['days']} days)",
        f"  per customer  median {s['events_per_user_median']:g} events, p90 {s['events_per_user_p90']:g}",
        f"  sparsity      {100 * s['sparsity']:.3f}% of customer x item pairs empty",
        f"  split         test from {s['test_start']}; {s['target']} targets train/valid/test {t[0]:,}/{t[1]:,}/{t[2]:,}",
        f"  cold items    {100 * s['test_items_unseen_in_train']:.1f}% of test-period items never seen in training",
        f"  catalog       {', '.join(s['catalog_columns']) or '(ids only: margin and stock rules will be off)'}",
        f"  problems      {problems or 'none'}",
    ]
    lines += [f"  WARNING       {w}" for w in s["warnings"]]
    lines += [f"  note          {n}" for n in s["notes"]]
    return "\n".join(lines)
