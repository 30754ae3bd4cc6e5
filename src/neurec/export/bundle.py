"""Write the deployable bundle: model.onnx, vocab, item table, rules and a manifest with every file's sha256."""

from __future__ import annotations

import json
import math
import platform
import shutil
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from neurec import __version__
from neurec.errors import ConfigError
from neurec.fsutil import replacing_dir, sha256_file
from neurec.models.purchase import PurchaseModelConfig
from neurec.schema import (
    BUNDLE_ITEMS,
    BUNDLE_MANIFEST,
    BUNDLE_MODEL,
    BUNDLE_RULES,
    BUNDLE_VOCAB,
    CATALOG_OPTIONAL,
    FLOAT_INPUTS,
    ITEM_ID,
    MODEL_INPUTS,
    MODEL_OUTPUT,
    SCHEMA_VERSION,
    input_shapes,
)
from neurec.history_summary import N_SUMMARY_FIELDS
from neurec.serving.copurchase import COPURCHASE_FILE, COPURCHASE_FORMAT
from neurec.serving.signing import KEY_ENV, SignatureError, key_from_env, write_signature
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


def _signing_key() -> bytes | None:
    try:
        return key_from_env()
    except SignatureError as e:  # before any work, so a bad key costs nothing
        raise ConfigError(f"{e} (or unset {KEY_ENV} to export unsigned)") from None


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
    """Build the bundle in a staging folder next to `out_dir`, then swap it in: readers never see half a bundle,
    and a failure or a kill leaves the previous bundle as it was.

    `copurchase`: training-period statistics from `neurec.export.copurchase`; None writes a file without any
    (the reader requires every file, so a missing one is a damaged bundle, never an older feature set).
    With NEUREC_BUNDLE_KEY set, manifest.sig signs the manifest (neurec.serving.signing).
    """
    out_dir = Path(out_dir)
    key = _signing_key()
    with replacing_dir(out_dir) as tmp:
        _write_files(tmp, onnx_path, vocab, catalog, rules, copurchase)
        names = [BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES, COPURCHASE_FILE]
        files = {name: sha256_file(tmp / name) for name in names}
        manifest = _manifest(files, vocab, model_cfg, training_run_id, calibration)
        raw = json.dumps(manifest, indent=2).encode("utf-8")
        (tmp / BUNDLE_MANIFEST).write_bytes(raw)
        if key is not None:
            write_signature(tmp, raw, key)
    return out_dir


def _write_files(tmp: Path, onnx_path: Path, vocab: ItemVocab, catalog: pd.DataFrame, rules: dict,
                 copurchase: dict | None) -> None:
    shutil.copyfile(onnx_path, tmp / BUNDLE_MODEL)
    vocab.save(tmp / BUNDLE_VOCAB)
    (tmp / BUNDLE_ITEMS).write_text(json.dumps(item_table(catalog, vocab)), encoding="utf-8")
    (tmp / BUNDLE_RULES).write_text(json.dumps(rules, indent=2, sort_keys=True), encoding="utf-8")
    stats = copurchase if copurchase is not None else {"format": COPURCHASE_FORMAT, "partners": {}, "replenish_days": {}}
    (tmp / COPURCHASE_FILE).write_text(json.dumps(stats, separators=(",", ":")), encoding="utf-8")


def _manifest(files: dict[str, str], vocab: ItemVocab, model_cfg: PurchaseModelConfig,
              training_run_id: str | None, calibration: dict | None) -> dict:
    shapes = input_shapes(model_cfg.summary_size, N_SUMMARY_FIELDS)
    return {
        "schema_version": SCHEMA_VERSION,
        "neurec_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_run_id": training_run_id,
        "model_version": files[BUNDLE_MODEL][:12],
        "model": {
            "inputs": [{"name": n, "dtype": "float32" if n in FLOAT_INPUTS else "int64", "shape": shapes[n]}
                       for n in MODEL_INPUTS],
            "outputs": [{"name": MODEL_OUTPUT, "dtype": "float32", "shape": ["batch", "candidates"]}],
            "max_history": model_cfg.max_history,
            "summary_size": model_cfg.summary_size,
            "config": asdict(model_cfg),
        },
        "calibration": calibration or {"temperature": 1.0, "bias": 0.0},
        "vocab_sha256": vocab.sha256(),
        "n_items": len(vocab),
        "files": files,
        "libraries": _libraries(),
    }
