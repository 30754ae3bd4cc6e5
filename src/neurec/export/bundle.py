"""Write the deployable bundle: model.onnx, vocab, item table, rules and a manifest with every file's sha256."""

from __future__ import annotations

import json
import math
import platform
import shutil
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from neurec import __version__
from neurec.fsutil import sha256_file, swap_in_dir
from neurec.models.purchase import PurchaseModelConfig
from neurec.schema import (
    BUNDLE_ITEMS,
    BUNDLE_MANIFEST,
    BUNDLE_MODEL,
    BUNDLE_RULES,
    BUNDLE_VOCAB,
    CATALOG_OPTIONAL,
    ITEM_ID,
    MODEL_INPUTS,
    MODEL_OUTPUT,
    SCHEMA_VERSION,
)
from neurec.serving.copurchase import COPURCHASE_FILE
from neurec.vocab import ItemVocab


def item_table(catalog: pd.DataFrame, vocab: ItemVocab) -> dict[str, list]:
    """Column arrays for the scorer. Missing values become null, never an invented number."""

    def clean(v: object) -> object:
        if isinstance(v, float) and math.isnan(v):
            return None
        return v.item() if hasattr(v, "item") else v

    table: dict[str, list] = {ITEM_ID: [str(x) for x in catalog[ITEM_ID]]}
    table["index"] = [int(i) for i in vocab.encode(catalog[ITEM_ID].to_numpy())]
    for col in CATALOG_OPTIONAL:
        if col in catalog.columns:
            table[col] = [clean(v) for v in catalog[col].to_numpy(dtype=object)]
    return table


def _libraries() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "onnx", "onnxruntime", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # not installed here (onnx in a slim image): nothing to record
            continue
    return out


def write_bundle(
    out_dir: Path,
    onnx_path: Path,
    vocab: ItemVocab,
    catalog: pd.DataFrame,
    rules: dict,
    model_cfg: PurchaseModelConfig,
    training_run_id: str | None,
    calibration: dict | None = None,
    copurchase: dict | None = None,
) -> Path:
    """Build the bundle in a temporary folder next to `out_dir`, then swap it in: readers never see half a bundle.

    `copurchase`: training-period statistics from `neurec.export.copurchase`; listed and hashed like every file.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        shutil.copyfile(onnx_path, tmp / BUNDLE_MODEL)
        vocab.save(tmp / BUNDLE_VOCAB)
        (tmp / BUNDLE_ITEMS).write_text(json.dumps(item_table(catalog, vocab)), encoding="utf-8")
        (tmp / BUNDLE_RULES).write_text(json.dumps(rules, indent=2, sort_keys=True), encoding="utf-8")
        names = [BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES]
        if copurchase is not None:
            (tmp / COPURCHASE_FILE).write_text(json.dumps(copurchase, separators=(",", ":")), encoding="utf-8")
            names.append(COPURCHASE_FILE)
        files = {name: sha256_file(tmp / name) for name in names}
        batch_hist = ["batch", "history"]
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "neurec_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "training_run_id": training_run_id,
            "model_version": files[BUNDLE_MODEL][:12],
            "model": {
                "inputs": [{"name": n, "dtype": "int64", "shape": batch_hist if n != "candidates" else ["batch", "candidates"]} for n in MODEL_INPUTS],
                "outputs": [{"name": MODEL_OUTPUT, "dtype": "float32", "shape": ["batch", "candidates"]}],
                "max_history": model_cfg.max_history,
                "config": asdict(model_cfg),
            },
            "calibration": calibration or {"temperature": 1.0, "bias": 0.0},
            "vocab_sha256": vocab.sha256(),
            "n_items": len(vocab),
            "files": files,
            "libraries": _libraries(),
        }
        (tmp / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        swap_in_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
