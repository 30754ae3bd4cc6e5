"""The Scorer: request → encoded history → candidates → rules → one onnxruntime call → top-K with reasons.

Everything that does not depend on the request (lookups, stock mask, item score factors, candidate indexes) is
computed once at load, so the per-request path is array work plus one model call. `prepare` and `score_batch`
are separate so that a service can batch the model calls of concurrent requests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from neurec.features import History, pad_histories
from neurec.history_summary import empty_summary, stack_summaries
from neurec.schema import PAD_ID, EventType
from neurec.serving import rules
from neurec.serving import rules_business as rb
from neurec.serving.bundle import Bundle, BundleError, open_bundle
from neurec.serving.catalog import Catalog
from neurec.serving.copurchase import COPURCHASE_FILE
from neurec.serving.model_io import encode_customer, probabilities, run_model
from neurec.serving.policy import Context, Policy, Verdict
from neurec.serving.request import ParsedRequest, RequestError, parse_request, positioned
from neurec.serving.rules_config import KINDS, PLACEMENTS, RulesConfig

if TYPE_CHECKING:
    from neurec.serving.ranker import Ranker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A validated request, encoded and judged by the rules that need no probability, waiting for its model call."""

    history: History
    summary: tuple[np.ndarray, np.ndarray]  # the whole history's (K,) items and (K, F) features, as of `now`
    unknown_history_items: int
    candidates: list[str]  # as requested (deduplicated) or generated: dropped ones are reported by position
    rows: np.ndarray  # (N,) item-table row per candidate, -1 when not in the table
    verdict: Verdict  # hard-drop codes, kinds, score factors and soft reasons per candidate
    k: int
    explain: bool
    placement: str
    segment: str | None
    anchor: str | None  # the resolved anchor id (the request's, else the newest history item)
    stake: float | None = None  # the price at stake, for the slot_cost rule (None: the rule is off)

    @property
    def codes(self) -> np.ndarray:
        return self.verdict.codes


class Scorer:
    def __init__(self, bundle: Bundle, session: ort.InferenceSession):
        self.bundle = bundle
        self._session = session
        self.catalog = cat = Catalog.from_items(bundle.items)
        co = bundle.copurchase
        has_stats = co is not None and bool(np.isfinite(co.replenish_days).any())
        ref = None
        if "margin" in cat.columns:
            ref = rules.margin_reference(cat.margin, cat.stock if "stock" in cat.columns else None)
        self.rules, notes = rules.effective_rules(bundle.rules, cat.columns, ref, has_stats)
        if notes:  # one line per bundle: a deploy log should not open with a screenful
            log.warning("bundle %s: %s", bundle.path, " | ".join(notes))
        if co is None:  # an older bundle, not a fault
            log.info("bundle %s: no %s: candidates leave out bought-together complements",
                     bundle.path, COPURCHASE_FILE)
        self.margin_ref = ref
        self._threshold = np.array(self.rules.thresholds(), dtype=np.float64)  # indexed by kind code
        self._free_slots = self.rules.free_slots()  # slot_cost exemptions by kind code, or None: per placement
        self._reoffers_free = np.array(self.rules.reoffers_free(), dtype=bool)  # by kind code
        self._slot_cost = {where: self.rules.slot_cost_at(where) for where in PLACEMENTS}  # None: off there
        # What an item is worth to the slot_cost rule, and the stake when a request has nothing priced in focus.
        self._slot_value = cat.margin if self.rules.slot_value == "margin" else cat.price
        known = self._slot_value[np.isfinite(self._slot_value)]
        self._typical_stake = float(known.mean()) if known.size else None
        self.policy = Policy(cat, co, self.rules, ref)
        self.registry: dict[str, str | None] | None = None  # name, version, alias when loaded from models:/
        # Candidates dropped so far, by reason code (0 = kept): the service's /metrics reads it.
        self.drop_counts = np.zeros(len(rules.REASONS) + 1, dtype=np.int64)
        self._warm_up()

    def drops(self) -> dict[str, int]:
        """Candidates dropped since loading, by the rule's reason; reasons that never fired are left out."""
        return {reason: int(n) for reason, n in zip(rules.REASONS, self.drop_counts[1:].tolist()) if n}

    @classmethod
    def from_bundle(cls, path: str | Path, threads: int = 1, tracking_uri: str | None = None,
                    require_signature: bool | None = None) -> "Scorer":
        """`path`: a bundle folder, or a registered model as models:/NAME@ALIAS or models:/NAME/VERSION (fetched
        from `tracking_uri`, default $MLFLOW_TRACKING_URI, into a local cache). `require_signature`: refuse a
        bundle without a valid manifest.sig (None: $NEUREC_REQUIRE_SIGNATURE; see neurec.serving.signing)."""
        from neurec.serving.registry import registry_source, resolve_bundle

        resolved = resolve_bundle(path, tracking_uri)
        bundle, session = open_bundle(resolved, threads=threads, require_signature=require_signature)
        scorer = cls(bundle, session)
        scorer.registry = registry_source(path, resolved)
        return scorer

    @property
    def ranker(self) -> "Ranker":
        """The pure model behind this Scorer (same bundle and session): ranks without rules."""
        from neurec.serving.ranker import Ranker

        return Ranker(self.bundle, self._session)

    def with_rules(self, rules: RulesConfig) -> "Scorer":
        """The same model and onnxruntime session under other rules: a variant or a what-if costs no second load."""
        other = Scorer(replace(self.bundle, rules=rules), self._session)
        other.registry = self.registry
        return other

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.score_batch([self.prepare(request)])[0]

    def recommend_batch(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several requests, one model call. An invalid one raises RequestError prefixed with its position."""
        prepared = []
        for i, request in enumerate(requests):
            try:
                prepared.append(self.prepare(request))
            except RequestError as e:
                raise positioned(i, e) from None
        return self.score_batch(prepared)

    def prepare(self, request: dict[str, Any]) -> Prepared:
        """Validate and encode one request, pick its candidates and apply the rules that need no probability."""
        req = parse_request(request)
        history, summary, unknown = encode_customer(self.bundle, req.history_items, req.history_types,
                                                    req.history_ts, req.now)
        ctx = self._context(req)
        if req.candidates is None:
            rows = self.policy.source.generate(ctx.anchors)
            candidates = self.catalog.ids[rows].tolist()
        else:
            candidates, rows = req.candidates, self.catalog.rows(req.candidates)
        verdict = self.policy.judge(ctx, rows)
        k = req.k if req.k is not None else self.rules.top_k
        return Prepared(history, summary, unknown, candidates, rows, verdict, k, req.explain, req.placement,
                        req.segment, ctx.anchor_id, self._stake(ctx, req.cart))

    def _context(self, req: ParsedRequest) -> Context:
        purchase = int(EventType.PURCHASE)
        # History is time-ordered, so the last assignment per item is its newest purchase.
        bought = req.history_types == purchase
        rows = self.catalog.rows([item for item, b in zip(req.history_items, bought) if b])
        last_bought = {r: float(t) for r, t in zip(rows.tolist(), req.history_ts[bought].tolist()) if r >= 0}
        now = req.now if req.now is not None else (float(req.history_ts[-1]) if req.history_ts.size else None)
        # The item on the page; without one, what the customer touched last is what they are looking at.
        anchor = req.anchor if req.anchor is not None else (req.history_items[-1] if req.history_items else None)
        return Context(
            placement=req.placement,
            anchor_id=anchor,
            anchors=self.policy.source.anchors(anchor, req.cart),
            cart_rows=self._known_rows(req.cart),
            declined_rows=self._known_rows(req.declined),
            shown_rows=self._known_rows(req.shown),
            last_bought=last_bought,
            cart_value=req.cart_value if req.cart_value is not None else self._cart_value(req.cart),
            now=now,
        )

    def _stake(self, ctx: Context, cart: list[str]) -> float | None:
        """What a surplus suggestion puts at risk: the decision in focus, the item on the page or just carted (the
        anchor), not the whole cart. A wholesale cart of forty cheap lines is not abandoned over one more
        suggestion, and weighing each suggestion against it would keep every add-on out. Without a priced anchor,
        the cart's mean item, else a typical item."""
        if self._slot_cost[ctx.placement] is None:
            return None
        row = self.catalog.rows([ctx.anchor_id])[0] if ctx.anchor_id is not None else -1
        if row >= 0 and np.isfinite(self._slot_value[row]):
            return float(self._slot_value[row])
        values = self._slot_value[self._known_rows(cart)]
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else self._typical_stake

    def _known_rows(self, ids: list[str]) -> np.ndarray:
        rows = self.catalog.rows(ids)
        return rows[rows >= 0]

    def _cart_value(self, cart: list[str]) -> float | None:
        """Sum of the cart's prices, or None when one of them is unknown: a partial sum would overstate the gap."""
        rows = self.catalog.rows(cart)
        if (rows < 0).any():
            return None
        prices = self.catalog.price[rows]
        return float(prices.sum()) if np.isfinite(prices).all() else None

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
        sum_items, sum_feats = stack_summaries([prepared[i].summary for i in batch], self.bundle.summary_size)
        width = max(alive[i].size for i in batch)
        cands = np.full((len(batch), width), PAD_ID, dtype=np.int64)
        for row, i in enumerate(batch):
            cands[row, : alive[i].size] = self.catalog.model_idx[prepared[i].rows[alive[i]]]
        logits = self._run(hist_items, hist_types, hist_gaps, sum_items, sum_feats, cands)
        for row, i in enumerate(batch):
            out[i] = self._calibrate(logits[row, : alive[i].size])
        return out

    def _run(self, *arrays: np.ndarray) -> np.ndarray:
        """arrays in MODEL_INPUTS order (see model_io.run_model)."""
        return run_model(self._session, arrays)

    def _calibrate(self, logits: np.ndarray) -> np.ndarray:
        return probabilities(logits, self.bundle.manifest["calibration"])

    def _respond(self, p: Prepared, alive: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
        keep = rules.drop_below(prob, self._threshold[p.verdict.kinds[alive]])
        codes = p.codes.copy()
        codes[alive] = rules.record_drops(codes[alive], keep, rules.BELOW_THRESHOLD)
        slot_cost = self._slot_cost[p.placement]
        if slot_cost is not None:
            pays = self._pays_for_slot(p, alive, prob, keep, slot_cost)
            codes[alive] = rules.record_drops(codes[alive], pays, rules.BELOW_SLOT_COST)
            keep = keep & pays
        pos, kept = alive[keep], prob[keep]  # candidate positions still in the race, and their probabilities
        score = kept * p.verdict.factor[pos]
        category = self.catalog.category[np.where(p.rows[pos] >= 0, p.rows[pos], 0)]
        chosen, capped = rb.top_k_capped(score, category, p.k, self.rules.max_per_category)
        codes[pos[capped]] = rules.REASONS.index(rules.CATEGORY_CAP) + 1
        items = [self._item(p, int(pos[j]), rank, float(kept[j]), float(score[j]))
                 for rank, j in enumerate(chosen.tolist(), start=1)]
        self.drop_counts += np.bincount(codes, minlength=self.drop_counts.size)
        response: dict[str, Any] = {
            "items": items,
            "placement": p.placement,
            "segment": p.segment,
            "anchor": p.anchor,
            "model_version": self.bundle.model_version,
            "training_run_id": self.bundle.training_run_id,
            "unknown_history_items": p.unknown_history_items,
        }
        if p.explain:
            response["dropped"] = self._explain(p, codes, alive, prob)
        return response

    def _pays_for_slot(self, p: Prepared, alive: np.ndarray, prob: np.ndarray, above: np.ndarray,
                       slot_cost: float) -> np.ndarray:
        """Keep mask over `alive`: the slot cost rule at the placement's `slot_cost`, with the best `slot_cost_free`
        of those `above` the probability threshold exempt (by score, as they would be ranked), or that many of each
        kind (`slot_cost_free_by_kind`). A re-offer pays with p x shown_factor, the rules' own estimate of its
        chance, and is exempt only where its kind is in `slot_cost_free_reoffers`."""
        value = rb.added_value(self._slot_value, p.rows[alive], p.verdict.upgrade_of[alive])
        reoffer, kinds = p.verdict.reoffer[alive], p.verdict.kinds[alive]
        pays = rules.pays_for_slot(np.where(reoffer, prob * self.rules.shown_factor, prob), value, p.stake, slot_cost)
        score = prob * p.verdict.factor[alive]
        may_be_free = above & (~reoffer | self._reoffers_free[kinds])
        by_kind = self._free_slots
        groups = [(may_be_free, self.rules.slot_cost_free)] if by_kind is None else [
            (may_be_free & (kinds == k), n) for k, n in enumerate(by_kind) if n]
        for group, n in groups:
            idx = np.flatnonzero(group)
            pays[idx[rules.top_k(score[idx], n)]] = True
        return pays

    @staticmethod
    def _item(p: Prepared, i: int, rank: int, probability: float, score: float) -> dict[str, Any]:
        return {
            "item_id": p.candidates[i], "rank": rank, "probability": probability, "score": score,
            "kind": KINDS[p.verdict.kinds[i]], "reasons": rules.soft_reasons(int(p.verdict.bits[i])),
        }

    @staticmethod
    def _explain(p: Prepared, codes: np.ndarray, alive: np.ndarray, prob: np.ndarray) -> list[dict[str, Any]]:
        # Drops after scoring carry their probability, so a person can see what the rule cost.
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
        sum_items, sum_feats = empty_summary(self.bundle.summary_size)
        try:
            self._run(z, z, z, sum_items[None], sum_feats[None], np.zeros((1, 2), dtype=np.int64))
        except Exception as e:  # onnxruntime's own exception types
            raise BundleError(
                f"bundle {self.bundle.path}: model.onnx failed a test run ({e}); re-export the bundle"
            ) from None
