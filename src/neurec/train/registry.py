"""The MLflow model registry: register a bundle as a model version, move aliases, fetch a version's bundle.

A version is logged in MLflow's ONNX flavour with a signature, so MLflow's own tools can load it; the complete
bundle (manifest, vocabulary, item table, rules, co-purchase statistics) travels with it under `bundle/`, and
the torch checkpoint under `checkpoint/`, so that the scorer and neurec-evaluate can start from the registry.
Like tracking.py, this module imports mlflow; the serving side reaches a tracking server over plain HTTP instead
(neurec.serving.registry).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from neurec.errors import ConfigError
from neurec.fsutil import replacing_dir
from neurec.history_summary import N_SUMMARY_FIELDS
from neurec.schema import FLOAT_INPUTS, MODEL_INPUTS, MODEL_OUTPUT, input_shapes

log = logging.getLogger(__name__)

BUNDLE_DIR = "bundle"  # inside the model version's artifacts
CHECKPOINT_DIR = "checkpoint"


def _signature(summary_size: int):
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    # The manifest's shapes, with -1 for each symbolic axis.
    shapes = input_shapes(summary_size, N_SUMMARY_FIELDS)
    inputs = Schema([TensorSpec(np.dtype("float32" if name in FLOAT_INPUTS else "int64"),
                                tuple(d if isinstance(d, int) else -1 for d in shapes[name]), name) for name in MODEL_INPUTS])
    return ModelSignature(inputs=inputs, outputs=Schema([TensorSpec(np.dtype("float32"), (-1, -1), MODEL_OUTPUT)]))


def _input_example(summary_size: int) -> dict[str, np.ndarray]:
    """One customer, three events (view, cart, view of item 2..4), an empty summary and two candidates: the shapes
    and dtypes a caller sends, shown on the model's MLflow page."""
    from neurec.schema import GAP_FIRST

    example = {
        "hist_items": np.array([[2, 3, 4]], dtype=np.int64), "hist_types": np.array([[1, 2, 1]], dtype=np.int64),
        "hist_gaps": np.array([[GAP_FIRST, 8, 6]], dtype=np.int64),
        "sum_items": np.zeros((1, summary_size), dtype=np.int64),
        "sum_feats": np.zeros((1, summary_size, N_SUMMARY_FIELDS), dtype=np.float32),
        "candidates": np.array([[5, 6]], dtype=np.int64),
    }
    return {name: example[name] for name in MODEL_INPUTS}


def register_bundle(uri: str, run_id: str, bundle_dir: Path, checkpoint: Path | None, name: str,
                    tags: dict[str, str] | None = None) -> str:
    """Log the bundle as an ONNX-flavour model of run `run_id`, register it under `name`; return the version."""
    import mlflow
    import onnx
    from mlflow.tracking import MlflowClient

    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    client = MlflowClient(uri)
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    # The flavour API only works through the fluent client's global URI; this context sets it for these calls and
    # puts back whatever was there (including "nothing set", which set_tracking_uri cannot restore).
    with _use_tracking_uri(uri), mlflow.start_run(run_id=run_id):
        info = mlflow.onnx.log_model(
            onnx.load(str(bundle_dir / "model.onnx")), name="model", signature=_signature(int(manifest["model"]["summary_size"])),
            input_example=_input_example(int(manifest["model"]["summary_size"])),
            save_as_external_data=False, pip_requirements=["onnxruntime", "numpy"],
            metadata={"neurec_bundle": BUNDLE_DIR},
        )
        with tempfile.TemporaryDirectory() as tmp:
            # log_model_artifacts uploads a folder's contents: stage each part in a folder of its own name.
            shutil.copytree(bundle_dir, Path(tmp) / "b" / BUNDLE_DIR)
            client.log_model_artifacts(info.model_id, str(Path(tmp) / "b"))
            if checkpoint is not None and checkpoint.is_file():
                (Path(tmp) / "c" / CHECKPOINT_DIR).mkdir(parents=True)
                shutil.copy2(checkpoint, Path(tmp) / "c" / CHECKPOINT_DIR / checkpoint.name)
                client.log_model_artifacts(info.model_id, str(Path(tmp) / "c"))
        version = mlflow.register_model(info.model_uri, name, tags=tags or {})
    log.info("registered %s version %s (run %s)", name, version.version, run_id)
    return str(version.version)


def promote(uri: str, name: str, version: str, alias: str) -> str | None:
    """Point `alias` at `version`; return the version it pointed at before (None if it was unset)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    try:
        client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise ConfigError(f"{name} version {version}: not in the registry at {uri} ({exc.message})") from None
    try:
        before = client.get_model_version_by_alias(name, alias).version
    except MlflowException:
        before = None
    client.set_registered_model_alias(name, alias, str(version))
    return None if before is None else str(before)


def resolve_version(uri: str, name: str, ref: str, by_alias: bool) -> str:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    try:
        mv = client.get_model_version_by_alias(name, ref) if by_alias else client.get_model_version(name, ref)
    except MlflowException as exc:
        what = f"alias @{ref}" if by_alias else f"version {ref}"
        raise ConfigError(f"models:/{name}: no {what} in the registry at {uri} ({exc.message})") from None
    return str(mv.version)


def download_version(uri: str, name: str, version: str, dest: Path, part: str = BUNDLE_DIR) -> Path:
    """Copy one part (`bundle` or `checkpoint`) of a registered version into `dest`; returns dest.

    The files land in a staging folder that replaces `dest` in one step: a failed or killed download leaves
    whatever `dest` held before."""
    import mlflow.artifacts
    from mlflow.tracking import MlflowClient

    base = MlflowClient(uri).get_model_version_download_uri(name, version)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with replacing_dir(Path(dest)) as tmp:
        got = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{base}/{part}", dst_path=str(tmp),
                                                       tracking_uri=uri))
        # mlflow writes tmp/<part>/...; lift the contents one level, via a name no artifact can have.
        holder = Path(tempfile.mkdtemp(dir=tmp, prefix=".lift-"))
        got.rename(holder / "x")
        for child in (holder / "x").iterdir():
            child.rename(tmp / child.name)
        shutil.rmtree(holder)
    return Path(dest)
