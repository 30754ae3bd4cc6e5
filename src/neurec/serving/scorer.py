"""The Scorer: request → encoded history → one onnxruntime call → business rules → top-K with reasons.

Everything that does not depend on the request (lookups, stock mask, margin factors, the default candidate set)
is computed once at load, so the per-request path is array work plus one model call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from neurec.probability import calibrated_probability
from neurec.features import History, encode_history, pad_histories
from neurec.schema import MODEL_INPUTS, MODEL_OUTPUT, PAD_ID
from neurec.serving import rules
from neurec.serving.bundle import Bundle, BundleError, open_bundle
from neurec.serving.request import RequestError, parse_request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A validated request, encoded and pre-filtered, waiting for its model call."""

    history: History
    unknown_history_items: int
    candidates: list[str]  # as requested (deduplicated): dropped ones are reported by position
    rows: np.ndarray  # (N,) item-table row per candidate, -1 when not in the table
    codes: np.ndarray  # (N,) int8 reason code per candidate, rules.KEPT while it survives
    k: int
    explain: bool


class Scorer:
    def __init__(self, bundle: Bundle, session: ort.InferenceSession):
        self.bundle = bundle
        self._session = session
        items = bundle.items
        self._ids = items["item_id"]
        self._row_of = {item_id: row for row, item_id in enumerate(self._ids.tolist())}
        self._model_idx = items["index"]
        stock, margin = items.get("stock"), items.get("margin")
        ref = rules.margin_reference(margin, stock) if margin is not None else None
        self.rules, notes = rules.effective_rules(bundle.rules, stock is not None, margin is not None, ref)
        for note in notes:
            log.warning("bundle %s: %s", bundle.path, note)
        self.margin_ref = ref
        n = len(self._ids)
        self._in_stock = rules.drop_out_of_stock(stock) if self.rules.drop_out_of_stock else np.ones(n, dtype=bool)
        self._factor = rules.margin_factor(margin if margin is not None else np.ones(n), self.rules.margin_weight, ref)
        self._default_rows = np.flatnonzero(rules.drop_unknown(self._model_idx))
        self._default_ids = self._ids[self._default_rows].tolist()
        self._warm_up()

    @classmethod
    def from_bundle(cls, path: str | Path, threads: int = 1) -> "Scorer":
        bundle, session = open_bundle(path, threads=threads)
        return cls(bundle, session)

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.score_batch([self.prepare(request)])[0]

    def recommend_batch(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several requests, one model call. An invalid one raises RequestError prefixed with its position."""
        prepared = []
        for i, request in enumerate(requests):
            try:
                prepared.append(self.prepare(request))
            except RequestError as e:
                # Field paths join with a dot; a whole-request error ("request: ...") takes the position's place.
                message = str(e)
                joined = message.replace("request:", ":", 1) if message.startswith("request:") else "." + message
                raise RequestError(f"requests[{i}]{joined}") from None
        return self.score_batch(prepared)

    def prepare(self, request: dict[str, Any]) -> Prepared:
        """Validate and encode one request and apply the rules that need no probability."""
        req = parse_request(request)
        idx = self.bundle.vocab.encode(req.history_items)
        known = rules.drop_unknown(idx)
        history = encode_history(
            idx[known], req.history_types[known], req.history_ts[known], max_len=self.bundle.max_history
        )
        candidates, rows = self._candidates(req.candidates)
        codes = self._prefilter(rows, req.cart)
        k = req.k if req.k is not None else self.rules.top_k
        return Prepared(history, int((~known).sum()), candidates, rows, codes, k, req.explain)

    def _candidates(self, requested: list[str] | None) -> tuple[list[str], np.ndarray]:
        """Candidate ids and their item-table rows (-1: not in the table)."""
        if requested is None:
            return self._default_ids, self._default_rows
        rows = np.fromiter((self._row_of.get(c, -1) for c in requested), dtype=np.int64, count=len(requested))
        return requested, rows

    def _prefilter(self, rows: np.ndarray, cart: list[str]) -> np.ndarray:
        """Reason codes from the rules that need no model call, so dropped candidates are never scored."""
        codes = np.zeros(rows.shape, dtype=np.int8)
        known = (rows >= 0) & rules.drop_unknown(self._model_idx[rows])  # row -1 reads a real row; masked here
        codes = rules.record_drops(codes, known, rules.UNKNOWN_ITEM)
        codes = rules.record_drops(codes, self._in_stock[rows], rules.OUT_OF_STOCK)
        if self.rules.drop_in_cart and cart:
            cart_rows = np.array([self._row_of[c] for c in cart if c in self._row_of], dtype=np.int64)
            codes = rules.record_drops(codes, rules.drop_in_cart(rows, cart_rows), rules.IN_CART)
        return codes

    def score_batch(self, prepared: Sequence[Prepared]) -> list[dict[str, Any]]:
        """One model call for all requests: histories left-padded to the longest, candidates padded and masked."""
        alive = [np.flatnonzero(p.codes == rules.KEPT) for p in prepared]
        probs = self._probabilities(prepared, alive)
        return [self._respond(p, a, pr) for p, a, pr in zip(prepared, alive, probs)]

    def _probabilities(self, prepared: Sequence[Prepared], alive: list[np.ndarray]) -> list[np.ndarray]:
        out = [np.empty(0, dtype=np.float64) for _ in prepared]
        batch = [i for i, a in enumerate(alive) if a.size]
        if not batch:
            return out  # nothing left to score: skip the model call
        hist_items, hist_types, hist_gaps = pad_histories([prepared[i].history for i in batch])
        width = max(alive[i].size for i in batch)
        cands = np.full((len(batch), width), PAD_ID, dtype=np.int64)
        for row, i in enumerate(batch):
            cands[row, : alive[i].size] = self._model_idx[prepared[i].rows[alive[i]]]
        logits = self._run(hist_items, hist_types, hist_gaps, cands)
        for row, i in enumerate(batch):
            out[i] = self._calibrate(logits[row, : alive[i].size])
        return out

    def _run(self, *arrays: np.ndarray) -> np.ndarray:
        """arrays: hist_items, hist_types, hist_gaps (B, L) and candidates (B, C), in MODEL_INPUTS order."""
        feeds = dict(zip(MODEL_INPUTS, arrays))
        cands = arrays[-1]
        logits = self._session.run([MODEL_OUTPUT], feeds)[0]
        if logits.shape != cands.shape:
            raise RuntimeError(f"model returned logits of shape {logits.shape} for candidates {cands.shape}")
        return logits

    def _calibrate(self, logits: np.ndarray) -> np.ndarray:
        if not np.isfinite(logits).all():
            # A model bug (e.g. a fully masked attention row), not a bad request: fail loudly.
            raise RuntimeError(f"model returned {int((~np.isfinite(logits)).sum())} non-finite logits")
        return calibrated_probability(logits, self.bundle.manifest["calibration"])

    def _respond(self, p: Prepared, alive: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
        keep = rules.drop_below(prob, self.rules.min_probability)
        codes = p.codes.copy()
        codes[alive] = rules.record_drops(codes[alive], keep, rules.BELOW_THRESHOLD)
        rows, kept = p.rows[alive][keep], prob[keep]
        score = kept * self._factor[rows]
        items = [
            {"item_id": self._ids[rows[j]], "rank": rank, "probability": float(kept[j]), "score": float(score[j])}
            for rank, j in enumerate(rules.top_k(score, p.k).tolist(), start=1)
        ]
        response: dict[str, Any] = {
            "items": items,
            "model_version": self.bundle.model_version,
            "training_run_id": self.bundle.training_run_id,
            "unknown_history_items": p.unknown_history_items,
        }
        if p.explain:
            response["dropped"] = self._explain(p, codes, alive, prob)
        return response

    @staticmethod
    def _explain(p: Prepared, codes: np.ndarray, alive: np.ndarray, prob: np.ndarray) -> list[dict[str, Any]]:
        # Threshold drops carry their probability, so a person can see how far below the bar they were.
        prob_at = dict(zip(alive.tolist(), prob.tolist()))
        out = []
        for i in np.flatnonzero(codes != rules.KEPT).tolist():
            entry: dict[str, Any] = {"item_id": p.candidates[i], "reason": rules.REASONS[codes[i] - 1]}
            if i in prob_at:
                entry["probability"] = prob_at[i]
            out.append(entry)
        return out

    def _warm_up(self) -> None:
        """One tiny call at load: the first onnxruntime run is slow, and a graph that cannot run fails here."""
        z = np.zeros((1, 1), dtype=np.int64)
        try:
            self._run(z, z, z, np.zeros((1, 2), dtype=np.int64))
        except Exception as e:  # onnxruntime's own exception types
            raise BundleError(
                f"bundle {self.bundle.path}: model.onnx failed a test run ({e}); re-export the bundle"
            ) from None
