"""rules.json: the validated business-rules configuration, and which rules the item table can actually support.

Missing keys take the defaults below, so a bundle exported before a key existed stays readable. `None` switches a
rule off. `effective_rules` switches off the rules whose catalogue columns are missing, with one note each: a rule
never runs on invented values.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, fields, replace
from typing import Any

PLACEMENTS = ("product_page", "cart", "checkout", "post_purchase")
UPSELL, CROSS_SELL, OTHER = "upsell", "cross_sell", "other"
KINDS = (OTHER, UPSELL, CROSS_SELL)  # kind code i is KINDS[i]


# A product page shows what the customer looks at, so "the better one" fits there; once something is in the cart
# the question is what completes it. Pairs, not a dict, so that the frozen config stays hashable.
DEFAULT_PREFERENCE = (("product_page", UPSELL), ("cart", CROSS_SELL), ("checkout", CROSS_SELL),
                      ("post_purchase", CROSS_SELL))


@dataclass(frozen=True)
class RulesConfig:
    top_k: int = 4
    min_probability: float = 0.0
    # Per-kind thresholds, (kind, threshold) pairs; a kind not named uses min_probability. The calibrated
    # probability says whether the customer buys the item anyway: an upgrade of what they look at is rarely bought
    # unprompted yet often taken when offered, so a shop may want a lower bar for it (and test that, see docs/business.md).
    min_probability_by_kind: tuple[tuple[str, float], ...] | None = None
    margin_weight: float = 0.0
    drop_out_of_stock: bool = True
    drop_in_cart: bool = True
    drop_declined: bool = True
    drop_already_bought: bool = True
    replenish_after_days: float = 30.0  # a consumable without re-buy statistics is due again after this
    checkout_price_cap: float | None = 20.0  # at checkout only items at or below this price
    upsell_band: tuple[float, float] | None = (1.2, 1.4)  # upsell price / anchor price
    upsell_tiers: int = 1  # an upsell is 1 to this many tiers up the anchor's product line (and in the band)
    allow_other: bool | None = None  # None: allowed only when the catalogue has neither product_line nor complement_of
    placement_preference: tuple[tuple[str, str | None], ...] = DEFAULT_PREFERENCE  # (placement, kind or None)
    placement_boost: float = 1.3
    low_stock_threshold: float | None = 3.0
    low_stock_factor: float = 0.8
    strategic_boost: float = 1.2
    max_per_category: int | None = 3
    free_shipping_threshold: float | None = None  # cart value from which shipping is free; None: the shop has none
    free_shipping_boost: float = 1.2
    shown_factor: float = 0.5  # items already offered in this visit and not taken (request field `shown`)
    # The economics of a slot: every suggestion shown may cost a share of the order (choice overload, a bad match),
    # so an item is shown only when p x its value is at least slot_cost x the value at stake (the anchor's price, else
    # the cart's mean item price, else the catalogue's). A share, not money: the same number fits a shop of any price
    # level. None: off. slot_value: what an item and the stake are worth, price (revenue) or margin (profit).
    slot_cost: float | None = None
    slot_value: str = "price"
    slot_cost_free: int = 0  # the best this many suggestions (by score) need not pay: a shop shows a few at no cost
    # (kind, n) pairs: the best n of each named kind are exempt instead (kinds not named: none). An upgrade's p says
    # whether the customer would buy it unprompted, rarely, not whether they take it when offered.
    slot_cost_free_by_kind: tuple[tuple[str, int], ...] | None = None
    # Kinds whose items offered earlier in the visit and let pass (request field `shown`) may still take a free slot.
    # The others must pay for theirs, and every re-offer pays with p x shown_factor: a complement let pass has been
    # declined, while an upgrade let pass on the product page is the same swap, still open once the item is carted.
    slot_cost_free_reoffers: tuple[str, ...] = KINDS
    # (placement, cost or None) pairs: a placement named here weighs its slots at its own cost (None: off there);
    # the others use slot_cost. On the product page the customer has not yet chosen the item in focus, and a
    # complement shown there and let pass is a re-offer at the cart, where it fits best: a shop may want that page
    # dearer than the cart.
    slot_cost_by_placement: tuple[tuple[str, float | None], ...] | None = None

    def preferred_kind(self, placement: str) -> str | None:
        return dict(self.placement_preference).get(placement)

    def slot_cost_at(self, placement: str) -> float | None:
        """The slot cost of a placement: its own (slot_cost_by_placement), else slot_cost; None: the rule is off."""
        return dict(self.slot_cost_by_placement or ()).get(placement, self.slot_cost)

    def thresholds(self) -> tuple[float, ...]:
        """The probability threshold of each kind, in KINDS order."""
        by_kind = dict(self.min_probability_by_kind or ())
        return tuple(by_kind.get(kind, self.min_probability) for kind in KINDS)

    def to_dict(self) -> dict[str, Any]:
        """The rules.json form (plain JSON types): from_dict(to_dict()) gives these rules back."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["placement_preference"] = dict(self.placement_preference)
        out["upsell_band"] = list(self.upsell_band) if self.upsell_band is not None else None
        out["slot_cost_free_reoffers"] = list(self.slot_cost_free_reoffers)
        for key in ("min_probability_by_kind", "slot_cost_free_by_kind", "slot_cost_by_placement"):
            by_kind = getattr(self, key)
            out[key] = dict(by_kind) if by_kind is not None else None
        return out

    def reoffers_free(self) -> tuple[bool, ...]:
        """Per kind, in KINDS order: whether its re-offers may take a free slot (slot_cost_free_reoffers)."""
        return tuple(kind in self.slot_cost_free_reoffers for kind in KINDS)

    def free_slots(self) -> tuple[int, ...] | None:
        """The slot_cost exemptions of each kind, in KINDS order; None: slot_cost_free of the whole placement."""
        if self.slot_cost_free_by_kind is None:
            return None
        by_kind = dict(self.slot_cost_free_by_kind)
        return tuple(by_kind.get(kind, 0) for kind in KINDS)

    @classmethod
    def from_dict(cls, data: Any) -> "RulesConfig":
        """Validate a parsed rules.json; raises ValueError naming the offending key."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                # A typo ("min_probabilty") must not silently fall back to a default.
                raise ValueError(f"unknown key {key!r}; expected some of {', '.join(known)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _PARSERS[key](key, value)
        return cls(**values)


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def _optional_flag(key: str, value: Any) -> bool | None:
    return None if value is None else _flag(key, value)


def _number(key: str, value: Any, low: float, high: float = math.inf, low_open: bool = False,
            high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if value < low or value > high or (low_open and value == low) or (high_open and value == high):
        left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        raise ValueError(f"{key}: {value!r} is outside {left}{low:g}, {high:g}{right}")
    return float(value)


def _int_at_least(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{key}: expected an integer >= {low}, got {value!r}")
    return value


def _int_at_least_1(key: str, value: Any) -> int:
    return _int_at_least(key, value, 1)


def _optional(parse):
    return lambda key, value: None if value is None else parse(key, value)


def _positive(key: str, value: Any) -> float:
    return _number(key, value, 0.0, low_open=True)


def _band(key: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{key}: expected [low, high] price ratios, got {value!r}")
    low, high = (_number(f"{key}[{i}]", v, 0.0, low_open=True) for i, v in enumerate(value))
    if low > high:
        raise ValueError(f"{key}: low {low:g} is above high {high:g}")
    return (low, high)


def _per_name(names: tuple[str, ...], noun: str, what: str, parse_value):
    """A parser of an object {name: value} over `names` (kinds, placements), as sorted (name, value) pairs."""
    def parse(key: str, value: Any) -> tuple[tuple[str, Any], ...] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"{key}: expected an object of {noun}: {what} ({', '.join(names)}), got {value!r}")
        out = []
        for name, v in value.items():
            if name not in names:
                raise ValueError(f"{key}.{name}: unknown {noun}; expected some of {', '.join(names)}")
            out.append((name, parse_value(f"{key}.{name}", v)))
        return tuple(sorted(out))  # one spelling per meaning: equal rules compare equal

    return parse


def _per_kind(what: str, parse_value):
    return _per_name(KINDS, "kind", what, parse_value)


_by_kind = _per_kind("threshold", lambda k, v: _number(k, v, 0.0, 1.0, high_open=True))


def _kinds(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key}: expected a list of kinds ({', '.join(KINDS)}), got {value!r}")
    for kind in value:
        if kind not in KINDS:
            raise ValueError(f"{key}: unknown kind {kind!r}; expected some of {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in value)  # one spelling per meaning: equal rules compare equal


_slot_costs = _per_name(PLACEMENTS, "placement", "cost in [0, 1] or null",
                        _optional(lambda k, v: _number(k, v, 0.0, 1.0)))


def _choice(*allowed: str):
    def parse(key: str, value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")
        return value
    return parse


def _preference(key: str, value: Any) -> tuple[tuple[str, str | None], ...]:
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected an object of placement: upsell | cross_sell | null, got {value!r}")
    out = dict(DEFAULT_PREFERENCE)  # placements left out keep their default
    for placement, kind in value.items():
        if placement not in PLACEMENTS:
            raise ValueError(f"{key}.{placement}: unknown placement; expected some of {', '.join(PLACEMENTS)}")
        if kind not in (UPSELL, CROSS_SELL, None):
            raise ValueError(f"{key}.{placement}: expected upsell, cross_sell or null, got {kind!r}")
        out[placement] = kind
    return tuple(out.items())


_PARSERS = {
    "top_k": _int_at_least_1,
    "min_probability": lambda k, v: _number(k, v, 0.0, 1.0, high_open=True),
    "min_probability_by_kind": _by_kind,
    "margin_weight": lambda k, v: _number(k, v, 0.0, 1.0),
    "drop_out_of_stock": _flag,
    "drop_in_cart": _flag,
    "drop_declined": _flag,
    "drop_already_bought": _flag,
    "replenish_after_days": _positive,
    "checkout_price_cap": _optional(lambda k, v: _number(k, v, 0.0)),
    "upsell_band": _band,
    "upsell_tiers": _int_at_least_1,
    "allow_other": _optional_flag,
    "placement_preference": _preference,
    "placement_boost": _positive,
    "low_stock_threshold": _optional(lambda k, v: _number(k, v, 0.0)),
    "low_stock_factor": lambda k, v: _number(k, v, 0.0, 1.0, low_open=True),
    "strategic_boost": _positive,
    "max_per_category": _optional(_int_at_least_1),
    "free_shipping_threshold": _optional(_positive),
    "free_shipping_boost": _positive,
    "shown_factor": lambda k, v: _number(k, v, 0.0, 1.0, low_open=True),
    "slot_cost": _optional(lambda k, v: _number(k, v, 0.0, 1.0)),
    "slot_value": _choice("price", "margin"),
    "slot_cost_free": lambda k, v: _int_at_least(k, v, 0),
    "slot_cost_free_by_kind": _per_kind("count", lambda k, v: _int_at_least(k, v, 0)),
    "slot_cost_free_reoffers": _kinds,
    "slot_cost_by_placement": _slot_costs,
}
assert set(_PARSERS) == {f.name for f in fields(RulesConfig)}, "every rules key needs a parser"


def effective_rules(
    cfg: RulesConfig, columns: Collection[str], margin_ref: float | None, has_replenish_stats: bool = False
) -> tuple[RulesConfig, list[str]]:
    """Switch off the rules whose data the item table lacks (one note per missing column, naming the rules it
    switches off) and resolve allow_other's auto mode."""
    has = set(columns)
    changes: dict[str, Any] = {}
    lost: dict[str, list[str]] = {}  # missing column -> rules it switched off

    def off(key: str, value: Any, needs: str, what: str) -> None:
        if changes.get(key, getattr(cfg, key)) != value and needs not in has:
            lost.setdefault(needs, []).append(what)
            changes[key] = value

    off("drop_out_of_stock", False, "stock", "out-of-stock drop")
    off("low_stock_threshold", None, "stock", "low-stock demotion")
    off("margin_weight", 0.0, "margin", "margin weight (ranked by probability)")
    off("checkout_price_cap", None, "price", "checkout price cap")
    off("free_shipping_threshold", None, "price", "free-shipping boost")
    off("slot_cost", None, "price", "slot cost (no value to weigh against it)")
    off("slot_cost_by_placement", None, "price", "slot cost per placement")
    if cfg.slot_value == "margin":
        off("slot_value", "price", "margin", "slot cost in margin (weighed in price instead)")
    off("strategic_boost", 1.0, "strategic", "strategic boost")
    off("max_per_category", None, "category", "per-category cap")
    for needs in ("product_line", "tier", "price"):
        off("upsell_band", None, needs, "upsell (no item is classified upsell)")
    if cfg.drop_already_bought and "kind" not in has and not has_replenish_stats:
        lost.setdefault("kind", []).append("replenishment (no re-buy statistics either: bought items never return)")
    notes = [f"items.json has no {col} column, so these rules are off: {'; '.join(what)}" for col, what in lost.items()]
    if "margin_weight" not in changes and cfg.margin_weight > 0 and margin_ref is None:
        notes.append("no in-stock item has a positive mean margin: margin_weight is treated as 0")
        changes["margin_weight"] = 0.0
    if cfg.allow_other is None:
        # Without ladders or complement links almost nothing could be called upsell or cross-sell; real data
        # of that shape must still get suggestions, ranked by the model.
        changes["allow_other"] = not ({"product_line", "complement_of"} & has)
    return replace(cfg, **changes), notes
