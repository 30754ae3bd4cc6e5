"""Candidate generation and kind classification on a tiny catalogue (no model involved)."""

import numpy as np

from neurec.serving.candidates import CandidateSource
from neurec.serving.catalog import Catalog
from neurec.serving.copurchase import parse_copurchase
from neurec.serving.rules_business import KIND_CROSS_SELL, KIND_OTHER, KIND_UPSELL

NUMERIC = ("price", "margin", "stock", "tier")


def table(**cols):
    """Column arrays typed the way the bundle reader types them."""
    out = {"item_id": np.array(cols.pop("item_id"), dtype=object), "index": np.array(cols.pop("index"), np.int64)}
    for name, values in cols.items():
        if name in NUMERIC:
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            out[name] = np.array(values, dtype=object)
    return out


# rows: 0-2 laptop ladder, 3 bag, 4 mouse (both complement "laptop/x"), 5 another laptop line, 6 mouse the model
# cannot score, 7 a printer (co-purchase partner of the laptop), 8 the cheap laptop's tier 2 at 2x (outside band)
ITEMS = table(
    item_id=["L1", "L2", "L3", "BAG", "MOUSE", "Y1", "OLD", "PRN", "Z2"],
    index=[2, 3, 4, 5, 6, 7, 1, 8, 9],
    product_line=["laptop/x", "laptop/x", "laptop/x", "", "", "laptop/y", "", "printer/p", "laptop/z"],
    tier=[1, 2, 3, None, None, 1, None, 1, 2],
    complement_of=["", "", "", "laptop/x", "laptop/x", "", "laptop/x", "", ""],
    category=["laptops", "laptops", "laptops", "bags", "mice", "laptops", "mice", "printers", "laptops"],
    price=[500.0, 650.0, 850.0, 40.0, 20.0, 480.0, 15.0, 120.0, 1000.0],
)
IDS = ITEMS["item_id"].tolist()


def source(similar=False, copurchase=True, items=ITEMS):
    cat = Catalog.from_items(items)
    co = None
    if copurchase:
        raw = {"format": 1, "partners": {"L1": {"item_id": ["PRN", "GONE"], "lift": [3.0, 2.0], "support": [4, 2]}}}
        co = parse_copurchase(raw, cat.row_of, len(cat))
    return CandidateSource(cat, co, (1.2, 1.4), similar=similar)


def ids(src, rows):
    return [IDS[r] for r in rows.tolist()]


def test_catalog_encodes_lines_and_complements_in_one_code_space():
    cat = Catalog.from_items(ITEMS)
    assert cat.complement_of[3] == cat.line[0] and cat.line[3] == -1
    assert cat.by_complement[int(cat.line[0])].tolist() == [3, 4, 6]
    assert set(cat.columns) >= {"product_line", "tier", "complement_of", "category", "price"}
    assert "stock" not in cat.columns and np.isnan(cat.stock).all()


def test_generate_upgrades_complements_and_partners():
    src = source()
    anchors = src.anchors("L1", cart=[])
    # The anchor itself first (the rules drop it by name); L2 is the upgrade (1.3 x); BAG and MOUSE complete it
    # (OLD cannot be scored); PRN is bought with it.
    assert ids(src, src.generate(anchors)) == ["L1", "L2", "BAG", "MOUSE", "PRN"]


def test_generate_adds_same_category_items_when_other_is_allowed():
    src = source(similar=True)
    got = ids(src, src.generate(src.anchors("L1", cart=[])))
    assert got == ["L1", "L2", "BAG", "MOUSE", "PRN", "L3", "Y1", "Z2"]


def test_generate_from_the_cart():
    src = source()
    anchors = src.anchors(None, cart=["L2", "BAG", "not-in-table"])
    assert anchors.main == -1 and ids(src, anchors.rows) == ["L2", "BAG"]
    assert ids(src, src.generate(anchors)) == ["L2", "BAG", "L3", "MOUSE"]  # L3 is L2's upgrade (850 / 650 = 1.31)


def test_without_copurchase_only_catalogue_links():
    src = source(copurchase=False)
    assert ids(src, src.generate(src.anchors("L1", cart=[]))) == ["L1", "L2", "BAG", "MOUSE"]


def test_fall_back_to_every_known_item():
    src = source()
    everything = ["L1", "L2", "L3", "BAG", "MOUSE", "Y1", "PRN", "Z2"]  # OLD has no model id
    assert ids(src, src.generate(src.anchors(None, cart=[]))) == everything  # nothing to relate to
    plain = table(item_id=IDS, index=ITEMS["index"].tolist(), price=ITEMS["price"].tolist())
    bare = source(copurchase=False, items=plain)
    assert ids(bare, bare.generate(bare.anchors("L1", cart=[]))) == everything  # no links in the catalogue


def test_classify_kinds():
    src = source()
    anchors = src.anchors("L1", cart=[])
    rows = src.catalog.rows(["L2", "L3", "BAG", "PRN", "Y1", "Z2", "nope"])
    want = [KIND_UPSELL, KIND_OTHER, KIND_CROSS_SELL, KIND_CROSS_SELL, KIND_OTHER, KIND_OTHER, KIND_OTHER]
    assert src.classify(rows, anchors).tolist() == want
    # An accessory anchor has no upsell, but its line's other accessories are no cross-sell either.
    assert src.classify(src.catalog.rows(["L2", "MOUSE"]), src.anchors("BAG", [])).tolist() == [KIND_OTHER] * 2
