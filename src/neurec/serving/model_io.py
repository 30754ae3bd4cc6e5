"""What the model reads of one customer, and one checked model call: shared by the Scorer (a page's offers under
the rules) and the Ranker (the model alone), so both feed the graph the same numbers.

numpy + onnxruntime only, like the rest of `neurec.serving`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from neurec.features import History, encode_history
from neurec.history_summary import summarize_history
from neurec.probability import calibrated_probability
from neurec.schema import MODEL_INPUTS, MODEL_OUTPUT
from neurec.serving.rules import drop_unknown


def encode_customer(bundle: Any, item_ids: Sequence[Any], types: np.ndarray, ts: np.ndarray,
                    now: float | None) -> tuple[History, tuple[np.ndarray, np.ndarray], int]:
    """Events in time order -> the newest-L window, the whole-history summary as of `now` (None: the newest event)
    and how many events were left out because the model does not know their item."""
    idx = bundle.vocab.encode(item_ids)
    known = drop_unknown(idx)
    items, types, ts = idx[known], np.asarray(types)[known], np.asarray(ts, dtype=np.float64)[known]
    history = encode_history(items, types, ts, max_len=bundle.max_history)
    now = now if now is not None else (float(ts[-1]) if ts.size else 0.0)
    return history, summarize_history(items, types, ts, now, bundle.summary_size), int((~known).sum())


def run_model(session: ort.InferenceSession, arrays: Sequence[np.ndarray]) -> np.ndarray:
    """arrays: hist_items, hist_types, hist_gaps (B, L), sum_items (B, K), sum_feats (B, K, F) and candidates
    (B, C), in MODEL_INPUTS order -> (B, C) logits."""
    cands = arrays[-1]
    logits = session.run([MODEL_OUTPUT], dict(zip(MODEL_INPUTS, arrays)))[0]
    if logits.shape != cands.shape:
        raise RuntimeError(f"model returned logits of shape {logits.shape} for candidates {cands.shape}")
    return logits


def probabilities(logits: np.ndarray, calibration: dict) -> np.ndarray:
    if not np.isfinite(logits).all():
        # A model bug (e.g. a fully masked attention row), not a bad request: fail loudly.
        raise RuntimeError(f"model returned {int((~np.isfinite(logits)).sum())} non-finite logits")
    return calibrated_probability(logits, calibration)
