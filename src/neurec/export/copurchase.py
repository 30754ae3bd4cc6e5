"""Co-purchase statistics for the bundle (copurchase.json): bought-together partners and re-buy intervals.

Computed from the training period only, like the vocabulary: statistics that saw the validation or test period
would leak into the very suggestions those periods judge. The layout is documented with its reader,
`neurec.serving.copurchase`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurec.cooccurrence import basket_pairs
from neurec.schema import EVENT_TYPE, ITEM_ID, N_RESERVED_IDS, SESSION_ID, USER_ID, EventType
from neurec.serving.copurchase import COPURCHASE_FORMAT
from neurec.vocab import ItemVocab

DAY_S = 86_400.0


def copurchase_stats(
    events: pd.DataFrame,
    vocab: ItemVocab,
    catalog: pd.DataFrame | None = None,
    top_n: int = 20,
    min_support: int = 2,
    max_basket: int = 50,
    min_lift: float = 1.0,
) -> dict:
    """`events`: canonical events of the training period (user_id, session_id, item_id, event_type, ts).

    A basket is one session's purchases. Baskets of more than `max_basket` distinct items are left out: bulk or
    reseller orders pair everything with everything, and their pair count grows with the square of their size.
    Partners need lift > `min_lift`: a pair bought together less often than chance is no "goes with".
    Only items the model knows (in `vocab`) are counted. Re-buy intervals are kept for consumables when the
    catalogue has a `kind` column, else for every item customers re-bought, with at least `min_support` intervals.
    """
    bought = events.loc[events[EVENT_TYPE] == int(EventType.PURCHASE), [USER_ID, SESSION_ID, ITEM_ID, "ts"]]
    bought = bought[vocab.encode(bought[ITEM_ID].to_numpy()) >= N_RESERVED_IDS]
    baskets = bought.drop_duplicates([USER_ID, SESSION_ID, ITEM_ID])
    counts, partners, n_baskets = _pairs(baskets, top_n, min_support, max_basket, min_lift)
    consumables = None
    if catalog is not None and "kind" in catalog.columns:
        consumables = set(catalog.loc[catalog["kind"] == "consumable", ITEM_ID].astype(str))
    days, intervals = _replenish(baskets, min_support, consumables)
    return {
        "format": COPURCHASE_FORMAT,
        "basket": "session",
        "min_support": min_support,
        "min_lift": min_lift,
        "top_n": top_n,
        "n_baskets": n_baskets,
        "item_baskets": counts,
        "partners": partners,
        "replenish_days": days,
        "replenish_intervals": intervals,
    }


def repurchase_days(events: pd.DataFrame, vocab: ItemVocab, min_intervals: int = 2) -> np.ndarray:
    """(len(vocab),) median days between one customer's purchases of each item in different sessions, over
    `events` (the training period's); 0 where fewer than `min_intervals` re-buys were seen. The model reads it
    as the item's rhythm: how far a customer is through it says whether the item is due again."""
    bought = events.loc[events[EVENT_TYPE] == int(EventType.PURCHASE), [USER_ID, SESSION_ID, ITEM_ID, "ts"]]
    days, _ = _replenish(bought.drop_duplicates([USER_ID, SESSION_ID, ITEM_ID]), min_intervals, None)
    out = np.zeros(len(vocab), dtype=np.float32)
    if days:
        idx = vocab.encode(np.array(list(days), dtype=object))
        known = idx >= N_RESERVED_IDS
        out[idx[known]] = np.array(list(days.values()), dtype=np.float32)[known]
    return out


def _pairs(baskets: pd.DataFrame, top_n: int, min_support: int, max_basket: int, min_lift: float):
    """Per item: baskets holding it, and its best partners by lift = P(a, b) / (P(a) P(b)) over baskets."""
    basket = baskets.groupby([USER_ID, SESSION_ID], sort=False, observed=True).ngroup().to_numpy()
    size = np.bincount(basket) if basket.size else np.zeros(0, dtype=np.int64)
    ok = size[basket] <= max_basket
    item_codes, item_ids = pd.factorize(baskets[ITEM_ID].astype(str).to_numpy()[ok])
    pairs = basket_pairs(basket[ok], item_codes, len(item_ids))
    pairs = pairs.keep(pairs.both >= min_support)
    n_baskets, in_baskets = pairs.n_baskets, pairs.in_baskets
    both = pd.DataFrame({"a": pairs.a, "b": pairs.b, "support": pairs.both, "lift": pairs.lift()})
    both = both[both["lift"] > min_lift]
    # Best lift first; more support breaks ties (better evidence), then the id, so the file is reproducible.
    both["b_id"] = np.asarray(item_ids)[both["b"].to_numpy()]
    both = both.sort_values(["a", "lift", "support", "b_id"], ascending=[True, False, False, True], kind="stable")
    top = both.groupby("a", sort=False).head(top_n)
    partners = {
        str(item_ids[a]): {
            "item_id": group["b_id"].astype(str).tolist(),
            "lift": [round(float(x), 4) for x in group["lift"]],
            "support": [int(x) for x in group["support"]],
        }
        for a, group in top.groupby("a", sort=True)
    }
    counts = {str(item_ids[i]): int(c) for i, c in enumerate(in_baskets)}
    return counts, partners, n_baskets


def _replenish(baskets: pd.DataFrame, min_intervals: int, only: set[str] | None) -> tuple[dict, dict]:
    """Median days between one customer's purchases of the same item, in different sessions."""
    first = baskets.groupby([USER_ID, SESSION_ID, ITEM_ID], sort=False, observed=True)["ts"].min().reset_index()
    first[ITEM_ID] = first[ITEM_ID].astype(str)
    if only is not None:
        first = first[first[ITEM_ID].isin(only)]
    first = first.sort_values([USER_ID, ITEM_ID, "ts"], kind="stable")
    gap = first.groupby([USER_ID, ITEM_ID], sort=False, observed=True)["ts"].diff() / DAY_S
    gaps = pd.DataFrame({ITEM_ID: first[ITEM_ID], "days": gap}).dropna()
    stats = gaps.groupby(ITEM_ID, sort=True)["days"].agg(["median", "size"])
    stats = stats[stats["size"] >= min_intervals]
    rounded = {str(i): round(float(d), 2) for i, d in stats["median"].items()}
    days = {i: d for i, d in rounded.items() if d > 0}  # the reader refuses 0: "due again at once" is no rhythm
    return days, {i: int(stats.loc[i, "size"]) for i in days}
