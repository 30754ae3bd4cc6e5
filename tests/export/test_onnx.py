import numpy as np
import onnxruntime as ort
import pytest
import torch

from neurec.history_summary import N_SUMMARY_FIELDS
from neurec.export.onnx import ParityError, check_parity, export_onnx
from neurec.models.purchase import PurchaseModel, PurchaseModelConfig


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=120, max_history=10, dim=32)).eval()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


def test_parity_on_edge_shapes(exported):
    model, path = exported
    assert check_parity(model, path, tol=1e-4) <= 1e-4


def test_dynamic_dims_and_fully_padded_history(exported):
    model, path = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b, length, c in [(1, 1, 1), (7, 10, 33), (2, 3, 1000)]:
        feeds = {n: np.zeros((b, length), dtype=np.int64) for n in ("hist_items", "hist_types", "hist_gaps")}
        feeds["sum_items"] = np.zeros((b, model.cfg.summary_size), dtype=np.int64)  # no summary either
        feeds["sum_feats"] = np.zeros((b, model.cfg.summary_size, N_SUMMARY_FIELDS), dtype=np.float32)
        feeds["candidates"] = np.full((b, c), 5, dtype=np.int64)
        out = sess.run(["logits"], feeds)[0]
        assert out.shape == (b, c) and np.isfinite(out).all()


def test_parity_failure_is_refused(exported):
    model, path = exported
    other = PurchaseModel(model.cfg).eval()  # different weights, same shapes
    with pytest.raises(ParityError, match="differ"):
        check_parity(other, path, tol=1e-4)
