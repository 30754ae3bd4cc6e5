"""The data contracts shared by training and serving: column names, event types, reserved ids.

Standard library only, because `neurec.serving` imports it and must stay light.
"""

from __future__ import annotations

from enum import IntEnum

# Bumped when the bundle layout or the meaning of a model input changes; the scorer refuses other versions.
SCHEMA_VERSION = "2"  # 2: the model takes the whole-history summary (sum_items, sum_feats)

# Reserved vocabulary ids. 0 pads left-aligned histories; 1 stands for any item not seen in training.
PAD_ID = 0
OOV_ID = 1
N_RESERVED_IDS = 2


class EventType(IntEnum):
    """Event kinds as model inputs. 0 is padding so that a padded position carries no event."""

    PAD = 0
    VIEW = 1
    ADD_TO_CART = 2
    PURCHASE = 3

    @classmethod
    def names(cls) -> list[str]:
        return [e.label for e in cls if e is not cls.PAD]

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> "EventType":
        try:
            value = cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown event type {label!r}; expected one of {cls.names()}") from None
        if value is cls.PAD:
            raise ValueError("'pad' is not an event type")
        return value


N_EVENT_TYPES = len(EventType)

# Event table: one row per event. `price` is optional (some shops log it per event, some don't).
USER_ID = "user_id"
SESSION_ID = "session_id"
ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
TIMESTAMP = "timestamp"
PRICE = "price"
QUANTITY = "quantity"  # optional: order lines; zero or negative ones are returns and cancellations
EVENT_REQUIRED = (USER_ID, SESSION_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP)
EVENT_OPTIONAL = (PRICE,)

# Catalog table: one row per item. Only item_id is required; rules that need a missing column switch off.
CATALOG_REQUIRED = (ITEM_ID,)
CATALOG_OPTIONAL = (
    "category",
    "brand",
    "price",
    "margin",  # absolute margin per unit, in the shop's currency (not a rate)
    "stock",  # units on hand
    "product_line",  # items of one line differ only by tier (8 GB / 16 GB / 32 GB)
    "tier",  # 1 = good, 2 = better, 3 = best
    "kind",  # main | accessory | consumable
    "complement_of",  # for accessories and consumables: the product line they complement
    "strategic",  # bool: the shop wants this item pushed
)

# Time since the previous history event, bucketed on a log2 scale in seconds. 0 = padding,
# 1 = first event of the history (no previous event); 2 + floor(log2(1 + gap)) afterwards.
GAP_PAD = 0
GAP_FIRST = 1
N_GAP_BUCKETS = 2 + 26  # log2(1 + gap) < 26 covers gaps up to two years

# The deployable bundle: a folder with these files plus manifest.json, which lists every other file's sha256.
BUNDLE_MANIFEST = "manifest.json"
BUNDLE_MODEL = "model.onnx"
BUNDLE_ITEMS = "items.json"  # column arrays: item_id, index (model id; OOV_ID if unseen in training), catalog columns
BUNDLE_VOCAB = "vocab.json"
BUNDLE_RULES = "rules.json"
# ONNX graph names: the newest-L window (B, L) x 3, the whole-history summary (B, K) ids and (B, K, F) float32
# features, the candidates (B, C); float32 output (B, C) of logits.
MODEL_INPUTS = ("hist_items", "hist_types", "hist_gaps", "sum_items", "sum_feats", "candidates")
FLOAT_INPUTS = ("sum_feats",)  # every other input is int64
# What a decision's history is, by the same names everywhere: the example shards and the training and evaluation
# batches (neurec.data.examples) store these arrays, the serving scorer builds them per request, and the graph takes
# them with the candidates. One set of names, so nothing maps one onto another.
HISTORY_INPUTS = MODEL_INPUTS[:-1]


def input_shapes(summary_size: int, summary_fields: int) -> dict[str, list]:
    """Each model input's shape, symbolic axes named: what the manifest and the registry signature declare."""
    hist = ["batch", "history"]
    return {"hist_items": hist, "hist_types": hist, "hist_gaps": hist, "sum_items": ["batch", summary_size],
            "sum_feats": ["batch", summary_size, summary_fields], "candidates": ["batch", "candidates"]}
MODEL_OUTPUT = "logits"
