"""Read a deployable bundle and verify it before anything is served from it.

Every check fails with a BundleError that names the bundle, the file and what to do, because the person who
reads it is deploying, not debugging: a bundle is either exactly what the export wrote or it is refused.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from neurec.probability import check_calibration
from neurec.schema import (
    BUNDLE_ITEMS,
    BUNDLE_MANIFEST,
    BUNDLE_MODEL,
    BUNDLE_RULES,
    BUNDLE_VOCAB,
    FLOAT_INPUTS,
    MODEL_INPUTS,
    MODEL_OUTPUT,
    OOV_ID,
    SCHEMA_VERSION,
)
from neurec.serving.bundle_files import PLAIN_NAME as _PLAIN_NAME
from neurec.serving.bundle_files import REEXPORT as _REEXPORT
from neurec.serving.bundle_files import BundleError, read_bytes, read_json, refuse_links, verify_file
from neurec.serving.copurchase import COPURCHASE_FILE, CoPurchase, parse_copurchase
from neurec.serving.rules import RulesConfig
from neurec.serving.signing import SIGNATURE_FILE, SignatureError
from neurec.serving.signing import verify as verify_signature
from neurec.vocab import ItemVocab

# Everything the export writes: a manifest that drops one (copurchase.json included) is refused, so a feature
# cannot vanish silently.
REQUIRED_FILES = (BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES, COPURCHASE_FILE)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
NUMERIC_COLUMNS = ("price", "margin", "stock", "tier")  # read by rules, so they must be numbers (null = unknown)


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]
    vocab: ItemVocab
    items: dict[str, np.ndarray]  # column arrays; item_id as str objects, index int64, NUMERIC_COLUMNS float64
    rules: RulesConfig
    model_path: Path
    copurchase: CoPurchase | None = None  # None: copurchase.json holds no statistics (e.g. too little data)
    # sha256 of the manifest as loaded. The manifest lists every file's sha256, so this names the whole bundle.
    manifest_sha256: str = ""

    @property
    def model_version(self) -> str:
        return self.manifest["model_version"]

    @property
    def training_run_id(self) -> str | None:
        return self.manifest.get("training_run_id")

    @property
    def max_history(self) -> int:
        return self.manifest["model"]["max_history"]

    @property
    def summary_size(self) -> int:
        return self.manifest["model"]["summary_size"]

    @property
    def temperature(self) -> float:
        return float(self.manifest["calibration"]["temperature"])

    @property
    def bias(self) -> float:
        return float(self.manifest["calibration"]["bias"])


def load_bundle(path: str | Path, require_signature: bool | None = None) -> Bundle:
    """Read and verify a bundle folder (files, hashes, signature, vocab, item table, rules, ONNX graph names)."""
    bundle, _ = open_bundle(path, require_signature=require_signature)
    return bundle


def open_bundle(path: str | Path, threads: int = 1,
                require_signature: bool | None = None) -> tuple[Bundle, ort.InferenceSession]:
    """load_bundle, also returning the onnxruntime session it verified, so a scorer builds only one.

    `require_signature`: refuse a bundle without a valid manifest.sig (neurec.serving.signing); None reads
    NEUREC_REQUIRE_SIGNATURE. A signature that is present is checked whenever NEUREC_BUNDLE_KEY is set.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"bundle {root}: not a folder; pass the folder the export wrote")
    refuse_links(root)
    raw = read_bytes(root, BUNDLE_MANIFEST)
    try:
        verify_signature(root, raw, require_signature)
    except SignatureError as e:
        raise BundleError(f"bundle {root}: {e}") from None
    manifest = _read_manifest(root, raw)
    for name, expected in manifest["files"].items():
        verify_file(root, name, expected)
    vocab = _read_vocab(root, manifest)
    items = _read_items(root, vocab, manifest["n_items"])
    rules = _read_rules(root)
    copurchase = _read_copurchase(root, items)
    session = _open_session(root, manifest, threads)
    model_path = root / BUNDLE_MODEL
    digest = hashlib.sha256(raw).hexdigest()
    return Bundle(root, manifest, vocab, items, rules, model_path, copurchase, digest), session


def _read_manifest(root: Path, raw: bytes) -> dict[str, Any]:
    m = read_json(root, BUNDLE_MANIFEST, raw)
    where = f"bundle {root}: {BUNDLE_MANIFEST}"
    if not isinstance(m, dict):
        raise BundleError(f"{where} is not a JSON object; {_REEXPORT}")
    if m.get("schema_version") != SCHEMA_VERSION:
        raise BundleError(
            f"{where}: schema_version {m.get('schema_version')!r} is not supported (this neurec reads "
            f"{SCHEMA_VERSION!r}); {_REEXPORT} with a matching neurec version"
        )
    files = m.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"{where}: 'files' must map file names to sha256 hex strings; {_REEXPORT}")
    for name, digest in files.items():
        # Only plain names: a manifest must not make the loader hash files outside the bundle.
        if not _PLAIN_NAME.match(name) or name in (BUNDLE_MANIFEST, SIGNATURE_FILE):
            raise BundleError(f"{where}: file name {name!r} is not a plain file name (letters, digits, '._-'); "
                              f"{_REEXPORT}")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise BundleError(f"{where}: files.{name} must be a sha256 of 64 hex characters, got {digest!r:.80}; "
                              f"{_REEXPORT}")
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"{where} does not list {name}, which every bundle has; {_REEXPORT}")
    _check_manifest_fields(m, where)
    return m


def _check_manifest_fields(m: dict[str, Any], where: str) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise BundleError(f"{where}: {what}; {_REEXPORT}")

    need(isinstance(m.get("model_version"), str), "'model_version' must be a string")
    run_id = m.get("training_run_id")
    need(run_id is None or isinstance(run_id, str), "'training_run_id' must be a string or null")
    need(isinstance(m.get("vocab_sha256"), str), "'vocab_sha256' must be a string")
    need(_is_int(m.get("n_items")) and m["n_items"] > OOV_ID, "'n_items' must be an integer > 1")
    model = m.get("model")
    need(isinstance(model, dict), "'model' must be an object")
    need(_is_int(model.get("max_history")) and model["max_history"] >= 1, "'model.max_history' must be an integer >= 1")
    need(_is_int(model.get("summary_size")) and model["summary_size"] >= 1, "'model.summary_size' must be an integer >= 1")
    for key in ("inputs", "outputs"):
        specs = model.get(key)
        need(isinstance(specs, list) and all(isinstance(s, dict) and "name" in s for s in specs),
             f"'model.{key}' must be a list of objects with a 'name'")
    names = [str(s["name"]) for s in model["inputs"]]
    need(sorted(names) == sorted(MODEL_INPUTS), f"'model.inputs' are {names}, expected {list(MODEL_INPUTS)}")
    outs = [str(s["name"]) for s in model["outputs"]]
    need(outs == [MODEL_OUTPUT], f"'model.outputs' are {outs}, expected [{MODEL_OUTPUT!r}]")
    cal = m.get("calibration")
    need(isinstance(cal, dict), "'calibration' must be an object")
    problem = check_calibration(cal)
    need(problem is None, problem or "")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _read_vocab(root: Path, manifest: dict[str, Any]) -> ItemVocab:
    try:
        vocab = ItemVocab.load(root / BUNDLE_VOCAB)
    except (ValueError, OSError) as e:  # JSONDecodeError is a ValueError
        raise BundleError(f"bundle {root}: {BUNDLE_VOCAB} cannot be read ({e}); {_REEXPORT}") from None
    if vocab.sha256() != manifest["vocab_sha256"]:
        raise BundleError(
            f"bundle {root}: {BUNDLE_VOCAB} does not match the vocabulary the model was trained with "
            f"(vocab_sha256 {manifest['vocab_sha256'][:12]}…, file gives {vocab.sha256()[:12]}…); {_REEXPORT}"
        )
    if len(vocab) != manifest["n_items"]:
        raise BundleError(
            f"bundle {root}: {BUNDLE_VOCAB} has {len(vocab)} ids but the manifest says n_items="
            f"{manifest['n_items']}; {_REEXPORT}"
        )
    return vocab


def _read_items(root: Path, vocab: ItemVocab, n_items: int) -> dict[str, np.ndarray]:
    raw = read_json(root, BUNDLE_ITEMS)
    where = f"bundle {root}: {BUNDLE_ITEMS}"
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise BundleError(f"{where} must be an object of column arrays; {_REEXPORT}")
    for col in ("item_id", "index"):
        if col not in raw:
            raise BundleError(f"{where} has no {col!r} column; {_REEXPORT}")
    lengths = {col: len(values) for col, values in raw.items()}
    if len(set(lengths.values())) > 1:
        raise BundleError(f"{where}: columns differ in length ({lengths}); {_REEXPORT}")
    if not lengths["item_id"]:
        raise BundleError(f"{where} has no items; {_REEXPORT}")
    items = {col: _column(where, col, values) for col, values in raw.items()}
    ids, index = items["item_id"], items["index"]
    if len(set(ids.tolist())) != len(ids):
        raise BundleError(f"{where}: item_id has duplicates; {_REEXPORT}")
    bad = np.flatnonzero((index < OOV_ID) | (index >= n_items))
    if bad.size:
        raise BundleError(
            f"{where}: {bad.size} index values outside [{OOV_ID}, {n_items}), e.g. item {ids[bad[0]]!r} has "
            f"index {index[bad[0]]}; {_REEXPORT}"
        )
    wrong = np.flatnonzero(vocab.encode(ids) != index)
    if wrong.size:
        i = wrong[0]
        raise BundleError(
            f"{where}: index disagrees with {BUNDLE_VOCAB} for {wrong.size} items, e.g. item {ids[i]!r} has "
            f"index {index[i]} but the vocabulary says {vocab.encode([ids[i]])[0]}; {_REEXPORT}"
        )
    return items


def _column(where: str, col: str, values: list) -> np.ndarray:
    if col == "item_id":
        if not all(isinstance(v, str) for v in values):
            raise BundleError(f"{where}: item_id values must be strings; {_REEXPORT}")
        return np.array(values, dtype=object)
    if col == "index":
        if not all(_is_int(v) for v in values):
            raise BundleError(f"{where}: index values must be integers; {_REEXPORT}")
        return np.array(values, dtype=np.int64).reshape(-1)
    if col in NUMERIC_COLUMNS:
        bad = [i for i, v in enumerate(values) if v is not None and not _is_number(v)]
        if bad:
            raise BundleError(
                f"{where}: {col} must hold numbers or null; row {bad[0]} has {values[bad[0]]!r}; {_REEXPORT}"
            )
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)
    return np.array(values, dtype=object)  # catalog attributes the current rules do not read


def _read_rules(root: Path) -> RulesConfig:
    try:
        return RulesConfig.from_dict(read_json(root, BUNDLE_RULES))
    except ValueError as e:
        if isinstance(e, BundleError):
            raise
        raise BundleError(f"bundle {root}: {BUNDLE_RULES}: {e}; fix the rules config and {_REEXPORT}") from None


def _read_copurchase(root: Path, items: dict[str, np.ndarray]) -> CoPurchase | None:
    """Required and hash-checked like every file; None when it holds no statistics at all (what the export writes
    when it was given none), which the scorer treats as 'no bought-together links', as before the file existed."""
    raw = read_json(root, COPURCHASE_FILE)
    row_of = {item_id: row for row, item_id in enumerate(items["item_id"].tolist())}
    try:
        co = parse_copurchase(raw, row_of, len(row_of))
        return None if not raw.get("partners") and not raw.get("replenish_days") else co
    except ValueError as e:
        if isinstance(e, BundleError):
            raise
        raise BundleError(f"bundle {root}: {COPURCHASE_FILE}: {e}; {_REEXPORT}") from None


def _open_session(root: Path, manifest: dict[str, Any], threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    # One thread per session: extra threads inflated p99 on small machines; scale by processes instead.
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(str(root / BUNDLE_MODEL), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
        raise BundleError(
            f"bundle {root}: onnxruntime {ort.__version__} cannot load {BUNDLE_MODEL} ({e}); {_REEXPORT}"
        ) from None
    _check_graph(root, session)
    return session


def _check_graph(root: Path, session: ort.InferenceSession) -> None:
    """The manifest already names MODEL_INPUTS/MODEL_OUTPUT; the graph must agree, or feeds fail per request."""
    got_in = sorted(a.name for a in session.get_inputs())
    got_out = [a.name for a in session.get_outputs()]
    if got_in != sorted(MODEL_INPUTS) or got_out != [MODEL_OUTPUT]:
        raise BundleError(
            f"bundle {root}: {BUNDLE_MODEL} has inputs {got_in} and outputs {got_out}, but the manifest "
            f"declares {sorted(MODEL_INPUTS)} and [{MODEL_OUTPUT!r}]; {_REEXPORT}"
        )
    args = [("input", a, ("tensor(float)", 3) if a.name in FLOAT_INPUTS else ("tensor(int64)", 2)) for a in session.get_inputs()]
    args += [("output", a, ("tensor(float)", 2)) for a in session.get_outputs()]
    for kind, arg, (want, rank) in args:
        if arg.type != want or len(arg.shape) != rank:
            raise BundleError(
                f"bundle {root}: {BUNDLE_MODEL} {kind} {arg.name!r} is {arg.type} of rank {len(arg.shape)}, "
                f"expected {want} of rank {rank}; {_REEXPORT}"
            )
