"""The pure model: rank candidates, or the whole catalogue, for customer histories, with no business rules.

The Scorer answers a shop page (candidates generated per placement, stock, margin, thresholds, at most k offers).
Campaign e-mails, offline evaluation and "what does the model itself think" want the model's own ranking instead:
P(buy) for every item, sorted. This module gives that, batched, through the same encoding (window and whole-history
summary) and the same calibration as the Scorer. numpy + onnxruntime only, like the rest of `neurec.serving`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from neurec.features import pad_histories
from neurec.history_summary import stack_summaries
from neurec.schema import N_RESERVED_IDS
from neurec.serving.bundle import Bundle, open_bundle
from neurec.serving.model_io import encode_customer, probabilities, run_model
from neurec.serving.request import parse_request

MAX_BATCH_CELLS = 4_000_000  # histories x candidates per onnxruntime call: bounds memory on a large catalogue


@dataclass(frozen=True)
class CustomerHistory:
    """One customer's events as arrays: item ids (any spelling normalize_id accepts), EventType values, unix seconds."""

    item_ids: Sequence[str]
    types: np.ndarray
    ts: np.ndarray
    now: float | None = None  # the moment to rank for; None: the newest event


@dataclass(frozen=True)
class Ranking:
    item_ids: list[str]  # best first
    probability: np.ndarray  # (k,) calibrated P(buy), float64
    unknown_history_items: int  # history events whose item the model does not know (left out)


class Ranker:
    def __init__(self, bundle: Bundle, session: ort.InferenceSession):
        self.bundle, self._session = bundle, session
        vocab = bundle.vocab
        # Every item with a model id: trained ones and catalogue-only ones (scored by their side features).
        self.catalogue = np.arange(N_RESERVED_IDS, len(vocab), dtype=np.int64)

    @classmethod
    def from_bundle(cls, path: str | Path, threads: int = 1, tracking_uri: str | None = None,
                    require_signature: bool | None = None) -> "Ranker":
        """`path` as for Scorer.from_bundle: a bundle folder or a registered models:/ URI."""
        from neurec.serving.registry import resolve_bundle

        bundle, session = open_bundle(resolve_bundle(path, tracking_uri), threads=threads,
                                      require_signature=require_signature)
        return cls(bundle, session)

    def rank(self, history: list[dict[str, Any]], k: int = 10, candidates: Sequence[Any] | None = None,
             now: Any = None) -> dict[str, Any]:
        """One customer, request-style events (as the HTTP API takes them): the top k by the model alone.

        `candidates`: ids to rank (unknown ones are listed, not scored); None ranks the whole catalogue."""
        fields: dict[str, Any] = {"history": history, "k": k}  # checked like a request's, with the same messages
        if candidates is not None:
            fields["candidates"] = list(candidates)
        if now is not None:
            fields["now"] = now
        req = parse_request(fields)
        cand_idx, unknown = None, []
        if req.candidates is not None:
            idx = self.bundle.vocab.encode(req.candidates)
            unknown = [c for c, i in zip(req.candidates, idx) if i < N_RESERVED_IDS]
            cand_idx = idx[idx >= N_RESERVED_IDS]
        customer = CustomerHistory(req.history_items, req.history_types, req.history_ts, req.now)
        ranking = self.rank_many([customer], req.k, cand_idx)[0]
        items = [{"item_id": item, "rank": r, "probability": float(p)}
                 for r, (item, p) in enumerate(zip(ranking.item_ids, ranking.probability), start=1)]
        return {"items": items, "unknown_candidates": unknown, "unknown_history_items": ranking.unknown_history_items,
                "model_version": self.bundle.model_version}

    def rank_many(self, customers: Sequence[CustomerHistory], k: int = 10,
                  candidates: np.ndarray | None = None) -> list[Ranking]:
        """Many customers against one candidate set (model ids; None: the whole catalogue), in batched model calls."""
        cands = self.catalogue if candidates is None else np.asarray(candidates, dtype=np.int64)
        k = min(k, len(cands))
        step = max(1, MAX_BATCH_CELLS // max(len(cands), 1))
        out: list[Ranking] = []
        for lo in range(0, len(customers), step):
            out.extend(self._rank_chunk(customers[lo : lo + step], cands, k))
        return out

    def _rank_chunk(self, customers: Sequence[CustomerHistory], cands: np.ndarray, k: int) -> list[Ranking]:
        histories, summaries, unknown = [], [], []
        for c in customers:
            order = np.argsort(np.asarray(c.ts, dtype=np.float64), kind="stable")  # encode_customer wants time order
            history, summary, n_unknown = encode_customer(self.bundle, [c.item_ids[i] for i in order],
                                                          np.asarray(c.types)[order], np.asarray(c.ts)[order], c.now)
            histories.append(history)
            summaries.append(summary)
            unknown.append(n_unknown)
        if not len(cands):
            return [Ranking([], np.zeros(0), u) for u in unknown]
        sum_items, sum_feats = stack_summaries(summaries, self.bundle.summary_size)
        batch = np.broadcast_to(cands, (len(customers), len(cands))).copy()
        logits = run_model(self._session, (*pad_histories(histories), sum_items, sum_feats, batch))
        top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        out = []
        for row, u in enumerate(unknown):
            prob = probabilities(logits[row, top[row]], self.bundle.manifest["calibration"])
            out.append(Ranking(self.bundle.vocab.decode(cands[top[row]]), np.asarray(prob, dtype=np.float64), u))
        return out
