"""A tiny hand-built bundle (no torch): an ONNX graph whose logits are easy to recompute in numpy.

logit(c) = bias[c] + sum over history positions of item_w[item] * type_w[type] + gap_w[gap]
Padding (item 0, type 0, gap 0) contributes nothing, so left-padding must not change any logit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from neurec.schema import (
    BUNDLE_ITEMS,
    BUNDLE_MANIFEST,
    BUNDLE_MODEL,
    BUNDLE_RULES,
    BUNDLE_VOCAB,
    MODEL_INPUTS,
    MODEL_OUTPUT,
    N_GAP_BUCKETS,
    N_EVENT_TYPES,
    SCHEMA_VERSION,
)
from neurec.vocab import ItemVocab

KNOWN = [f"10000{i}" for i in range(1, 9)]  # model ids 2..9 in this order
UNSEEN = "200001"  # in the catalog, but the model never saw it (index 1)
# Per model id: 0 pad, 1 unknown, then KNOWN in order. 100004 sits below the 0.02 threshold without history;
# 100006 has the largest logit but no stock, so the stock rule is visible in every ranking.
BIAS = np.array([0.0, 0.0, 0.0, -1.0, 1.0, -5.0, 0.5, 2.0, 0.2, -0.5], dtype=np.float32)
ITEM_W = np.array([0.0, 0.0] + [0.1] * 8, dtype=np.float32)
TYPE_W = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
GAP_W = np.array([0.0] + [0.01 * b for b in range(1, N_GAP_BUCKETS)], dtype=np.float32)

ITEMS = {
    "item_id": KNOWN + [UNSEEN],
    "index": list(range(2, 10)) + [1],
    "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0],
    "margin": [2.0, 4.0, 6.0, 8.0, 1.0, 12.0, 3.0, 5.0, 9.0],
    "stock": [5, 3, 6, 1, 10, 0, 7, 2, 4],
    "category": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
}
RULES = {"top_k": 4, "min_probability": 0.02, "margin_weight": 0.5, "drop_out_of_stock": True, "drop_in_cart": True}


def write_model(path: Path, bias: np.ndarray = BIAS) -> None:
    dims = {"hist": ["batch", "history"], "cand": ["batch", "n_candidates"]}
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims["hist"]) for n in MODEL_INPUTS[:3]]
    inputs.append(helper.make_tensor_value_info(MODEL_INPUTS[3], TensorProto.INT64, dims["cand"]))
    output = helper.make_tensor_value_info(MODEL_OUTPUT, TensorProto.FLOAT, dims["cand"])
    hist_items, hist_types, hist_gaps, candidates = MODEL_INPUTS
    nodes = [
        helper.make_node("Gather", ["bias", candidates], ["cand_bias"], axis=0),  # (B, C)
        helper.make_node("Gather", ["item_w", hist_items], ["iw"], axis=0),  # (B, L)
        helper.make_node("Gather", ["type_w", hist_types], ["tw"], axis=0),  # (B, L)
        helper.make_node("Gather", ["gap_w", hist_gaps], ["gw"], axis=0),  # (B, L)
        helper.make_node("Mul", ["iw", "tw"], ["itw"]),
        helper.make_node("Add", ["itw", "gw"], ["per_event"]),
        helper.make_node("ReduceSum", ["per_event", "axis1"], ["hist_term"], keepdims=1),  # (B, 1)
        helper.make_node("Add", ["cand_bias", "hist_term"], [MODEL_OUTPUT]),  # (B, C)
    ]
    weights = [
        numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "bias"),
        numpy_helper.from_array(ITEM_W, "item_w"),
        numpy_helper.from_array(TYPE_W, "type_w"),
        numpy_helper.from_array(GAP_W, "gap_w"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    graph = helper.make_graph(nodes, "neurec_fixture", inputs, [output], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def reference_logits(hist_items: np.ndarray, hist_types: np.ndarray, hist_gaps: np.ndarray, cands: np.ndarray):
    """The fixture graph in numpy, for one unpadded history and a 1-D candidate array."""
    hist = float((ITEM_W[hist_items] * TYPE_W[hist_types] + GAP_W[hist_gaps]).sum())
    return BIAS[cands].astype(np.float64) + hist


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rehash(root: Path) -> None:
    """Recompute the manifest's file hashes, to test checks that come after the hash check."""
    manifest = json.loads((root / BUNDLE_MANIFEST).read_text())
    manifest["files"] = {name: sha256(root / name) for name in manifest["files"]}
    (root / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2))


def write_bundle(root: Path, items: dict | None = None, rules: dict | None = None, **manifest_overrides) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    vocab = ItemVocab(KNOWN)
    vocab.save(root / BUNDLE_VOCAB)
    write_model(root / BUNDLE_MODEL)
    (root / BUNDLE_ITEMS).write_text(json.dumps(ITEMS if items is None else items))
    (root / BUNDLE_RULES).write_text(json.dumps(RULES if rules is None else rules))
    spec = lambda name, dtype, shape: {"name": name, "dtype": dtype, "shape": shape}  # noqa: E731
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "neurec_version": "0.1.0",
        "created_at": "2026-03-01T12:00:00+00:00",
        "training_run_id": "run-123",
        "model_version": "fixture-1",
        "model": {
            "inputs": [spec(n, "int64", ["batch", "history"]) for n in MODEL_INPUTS[:3]]
            + [spec(MODEL_INPUTS[3], "int64", ["batch", "candidates"])],
            "outputs": [spec(MODEL_OUTPUT, "float32", ["batch", "candidates"])],
            "max_history": 5,
            "config": {"dim": 1},
        },
        "calibration": {"temperature": 1.0, "bias": 0.0},
        "vocab_sha256": vocab.sha256(),
        "n_items": len(vocab),
        "files": {},
        "libraries": {"onnx": onnx.__version__},
    }
    manifest.update(manifest_overrides)
    manifest["files"] = {n: sha256(root / n) for n in (BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES)}
    (root / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return root


@pytest.fixture(scope="session")
def template_bundle(tmp_path_factory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture
def bundle_copy(template_bundle, tmp_path) -> Path:
    """A private copy that a test may tamper with."""
    return Path(shutil.copytree(template_bundle, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def scorer(template_bundle):
    from neurec.serving import Scorer

    return Scorer.from_bundle(template_bundle)


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    return SimpleNamespace(
        KNOWN=KNOWN, UNSEEN=UNSEEN, ITEMS=ITEMS, RULES=RULES, BIAS=BIAS, N_EVENT_TYPES=N_EVENT_TYPES,
        write_bundle=write_bundle, write_model=write_model, rehash=rehash, reference_logits=reference_logits,
    )
