"""The simulated shop's catalog: product lines in three tiers, the accessories and consumables that go with them.

Besides the catalog table the simulator needs index arrays (which items form a line, which complement it);
`ShopCatalog` carries both so that the event generator never searches the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Typical tier-1 price per category (€); categories beyond this list get a log-uniform one.
_NAMED_CATEGORIES = {
    "phones": 320.0, "laptops": 650.0, "coffee_machines": 220.0, "headphones": 70.0, "tvs": 520.0,
    "printers": 110.0, "tablets": 300.0, "cameras": 480.0, "vacuum_cleaners": 180.0, "smartwatches": 190.0,
    "shavers": 60.0, "monitors": 230.0, "blenders": 75.0, "soda_makers": 85.0, "gaming_consoles": 400.0,
    "e_readers": 120.0,
}  # fmt: skip
# Categories whose machines eat supplies that customers re-buy.
_CONSUMABLE_CATEGORIES = {"coffee_machines", "printers", "vacuum_cleaners", "shavers", "soda_makers"}
_SYLLABLES = ("nor", "vak", "zel", "ori", "tam", "lux", "ken", "dra", "mio", "sol", "tek", "ava", "bri", "qua")
MAX_CONSUMABLES = 3
KINDS = ("main", "accessory", "consumable")


@dataclass(frozen=True)
class ShopCatalog:
    frame: pd.DataFrame
    price: np.ndarray  # (I,) per item index
    attract: np.ndarray  # (I,) how appealing an item is beside its line's other complements
    refill_days: np.ndarray  # (I,) mean re-buy interval of a consumable, 0 otherwise
    line_cum: np.ndarray  # (C, L) cumulative popularity of the lines of each category
    main: np.ndarray  # (C*L, 3) item index of each tier; line index = category * L + position
    comp: np.ndarray  # (C*L, A + MAX_CONSUMABLES) complements of each line, -1 padded
    cons: np.ndarray  # (C*L, MAX_CONSUMABLES) consumables of each line, -1 padded

    @property
    def item_ids(self) -> np.ndarray:
        return self.frame["item_id"].to_numpy()


def category_names(n: int) -> list[str]:
    named = list(_NAMED_CATEGORIES)
    return named[:n] + [f"category_{i:02d}" for i in range(len(named), n)]


def _brand_pool(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        a, b = rng.choice(len(_SYLLABLES), 2, replace=False)
        name = (_SYLLABLES[a] + _SYLLABLES[b]).capitalize()
        if name not in names:
            names.append(name)
    return names


def _line_prices(rng: np.random.Generator, cats: list[str], n_lines: int) -> np.ndarray:
    """(C*L, 3) prices; steps drawn inside 20–40 % with room for the rounding to .99."""
    base = np.array([_NAMED_CATEGORIES.get(c, 0.0) for c in cats])
    generic = base == 0
    base[generic] = np.exp(rng.uniform(np.log(50), np.log(700), generic.sum()))
    steps = rng.uniform(1.22, 1.38, (len(cats) * n_lines, 2))
    line_base = np.repeat(base, n_lines) * rng.lognormal(0.0, 0.3, len(cats) * n_lines)
    line_base = np.clip(line_base, 50.0, 1500.0 / steps.prod(axis=1))
    raw = line_base[:, None] * np.concatenate([np.ones((len(line_base), 1)), np.cumprod(steps, axis=1)], axis=1)
    return np.round(raw) - 0.01


def _stock(rng: np.random.Generator, n: int, p_out: float, p_low: float) -> np.ndarray:
    u = rng.random(n)
    stock = 5 + rng.geometric(1 / 60, n)
    stock[u < p_low + p_out] = rng.integers(1, 5, n)[u < p_low + p_out]
    stock[u < p_out] = 0
    return stock.astype(np.int64)


def _complements(rng: np.random.Generator, cats: list[str], n_lines: int, per_line: int):
    """Per line: accessory count, consumable count (0 outside consumable categories)."""
    n_all = len(cats) * n_lines
    n_cons = np.zeros(n_all, dtype=np.int64)
    has = np.repeat([c in _CONSUMABLE_CATEGORIES for c in cats], n_lines)
    n_cons[has] = rng.integers(2, MAX_CONSUMABLES + 1, has.sum())
    return np.full(n_all, per_line, dtype=np.int64), n_cons


def build_catalog(rng: np.random.Generator, n_categories: int, lines_per_category: int, accessories_per_line: int) -> ShopCatalog:
    cats = category_names(n_categories)
    n_lines = n_categories * lines_per_category
    prices = _line_prices(rng, cats, lines_per_category)
    n_acc, n_cons = _complements(rng, cats, lines_per_category, accessories_per_line)
    # Item order: all main items (line-major, tier-minor), then each line's accessories, then its consumables.
    line_of = np.repeat(np.tile(np.arange(n_lines), 3), np.r_[np.full(n_lines, 3), n_acc, n_cons])
    kind = np.concatenate([np.zeros(3 * n_lines, np.int64), np.ones(n_acc.sum(), np.int64), np.full(n_cons.sum(), 2)])
    n_items = len(kind)
    tier = np.ones(n_items, dtype=np.int64)
    tier[: 3 * n_lines] = np.tile([1, 2, 3], n_lines)
    price = np.empty(n_items)
    price[kind == 0] = prices.ravel()
    price[kind == 1] = rng.integers(5, 20, (kind == 1).sum()) + 0.99
    price[kind == 2] = rng.integers(5, 15, (kind == 2).sum()) + 0.99
    main_rate, accessory_rate = rng.uniform(0.08, 0.25, n_items), rng.uniform(0.30, 0.60, n_items)
    rate = np.select([kind == 0, kind == 1], [main_rate, accessory_rate], rng.uniform(0.25, 0.45, n_items))
    stock = np.where(kind == 0, _stock(rng, n_items, 0.06, 0.10), _stock(rng, n_items, 0.04, 0.06))
    strategic = np.zeros(n_items, dtype=bool)
    strategic[rng.choice(n_items, max(2, round(0.03 * n_items)), replace=False)] = True
    refill = np.where(kind == 2, rng.uniform(14.0, 42.0, n_items), 0.0)

    brands, line_names = _line_names(rng, cats, lines_per_category)
    line_cat = np.arange(n_lines) // lines_per_category
    frame = pd.DataFrame({
        "item_id": np.arange(100_001, 100_001 + n_items, dtype=np.int64),
        "category": pd.array(np.array(cats)[line_cat[line_of]], dtype="str"),
        "brand": pd.array(brands[line_of], dtype="str"),
        "price": price,
        "margin": np.round(price * rate, 2),
        "stock": stock,
        "product_line": pd.array(line_names[line_of], dtype="str"),
        "tier": tier,
        "kind": pd.array(np.array(KINDS)[kind], dtype="str"),
        "complement_of": pd.array(np.where(kind == 0, "", line_names[line_of]), dtype="str"),
        "strategic": strategic,
    })  # fmt: skip
    return ShopCatalog(
        frame=frame,
        price=price,
        attract=rng.lognormal(0.0, 0.35, n_items),
        refill_days=refill,
        line_cum=_line_popularity(rng, n_categories, lines_per_category),
        main=np.arange(3 * n_lines).reshape(n_lines, 3),
        comp=_padded(line_of, kind > 0, n_lines, accessories_per_line + MAX_CONSUMABLES),
        cons=_padded(line_of, kind == 2, n_lines, MAX_CONSUMABLES),
    )


def _line_names(rng: np.random.Generator, cats: list[str], per_cat: int) -> tuple[np.ndarray, np.ndarray]:
    brands, names = [], []
    for cat in cats:
        pool = _brand_pool(rng, int(rng.integers(3, 5)))
        for j in range(per_cat):
            brand = pool[j % len(pool)]
            brands.append(brand)
            names.append(f"{cat}/{brand.lower()}-{j + 1}")
    return np.array(brands), np.array(names)


def _line_popularity(rng: np.random.Generator, n_cat: int, per_cat: int) -> np.ndarray:
    """Zipf-like popularity of lines within each category, so that popularity is a real (but weak) baseline."""
    ranks = np.argsort(rng.random((n_cat, per_cat)), axis=1)
    weights = 1.0 / (1.0 + ranks) ** 0.9
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    return cum


def _padded(line_of: np.ndarray, mask: np.ndarray, n_lines: int, width: int) -> np.ndarray:
    out = np.full((n_lines, width), -1, dtype=np.int64)
    idx = np.flatnonzero(mask)
    lines = line_of[idx]  # ascending: items are laid out line by line within each kind
    order = np.lexsort((idx, lines))
    idx, lines = idx[order], lines[order]
    first = np.searchsorted(lines, lines)
    out[lines, np.arange(len(idx)) - first] = idx
    return out
