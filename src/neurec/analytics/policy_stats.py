"""The figures of a policy simulation, with confidence intervals, and the A/B kit checked on simulated traffic.

Policy figures (from `policy_sim.replay` outcomes over the same sessions):

- conversion = orders / sessions, with a Wilson interval. Orders lost to the suggestions: the replay's draw
  (`orders_lost`) and its expectation (`orders_lost_expected`, the summed chance of each order being lost), which
  says whether a policy costs more orders than another without the noise of a few dozen draws.
- AOV = order value / orders; margin per order likewise; lifts = AOV of a policy / AOV of the reference - 1.
- revenue and margin per session = order value (margin) / sessions: what a visit earns. Without a choice cost
  (`choice_cost.ChoiceCost`) conversion is the same under every policy and the revenue lift equals the AOV lift;
  with one, orders lost to the suggestions count here and not in AOV, so this is the lift to read.
- acceptance = impressions credited with a purchase (last touch, as a shop's log counts them) / impressions;
  acceptance in orders: the same over impressions shown in sessions that ended in an order (the only ones the
  simulator's customers can take anything in); incremental acceptance counts only the purchases the offer
  caused; attach rate = orders with a credited impression / orders.

Their intervals come from one bootstrap shared by every policy (over customers with all their sessions, when the
caller passes them; else over sessions): the replay uses common random numbers, so the policies' outcomes are
paired per session and the lift's interval must keep that pairing.
`stats.bootstrap_lift_ci` resamples the two arms independently, which is right for an A/B test's disjoint arms
and far too wide here, so it is not used for the replay.

A/B kit check: each repetition simulates a fresh shop (a new seed) and, from the same seed, a treatment world in
which the simulator's `buy_rate` is multiplied by 1 + lift: the effect lives inside the simulation, not in the
metric. Customers who visited are split by `experiment.assign_variants` with a fresh salt per test. A/A tests split
the control world; A/B tests take arm A from the control world and arm B from the treatment world. Both are read
with the kit's vectorised tests (`stats.two_proportion_ztest`, `stats.welch_ttest_stats`, and for AOV over
customers `stats.ratio_ztest_stats`, the kit's default), and the power the
planner (`planning.sample_size_proportions`, inverted) predicts for the true rates and the arm sizes is set beside
the share of A/B tests that came out significant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from neurec.analytics.experiment import assign_variants
from neurec.analytics.planning import sample_size_proportions
from neurec.analytics.policy_sim import KINDS, PLACEMENTS, Outcome
from neurec.analytics.stats import norm_ppf, ratio_stats, ratio_ztest_stats, two_proportion_ztest, welch_ttest_stats


def wilson(x: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    if n <= 0:
        return (math.nan, math.nan)
    z = float(norm_ppf(1 - alpha / 2))
    p = x / n
    mid, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n))


def percentile_ci(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.nanquantile(samples, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def policy_table(outcomes: Sequence[Outcome], none: str = "none", fbt: str = "fbt", n_boot: int = 2000,
                 alpha: float = 0.05, seed: int = 0, customers: Sequence | None = None) -> dict[str, dict]:
    """Per policy: the headline figures, each with its interval ([low, high] under `<name>_ci`).

    `customers` (one id per session): resample customers with all their sessions, the unit an A/B test would
    randomise, so a customer's similar sessions don't narrow the intervals; None resamples sessions.
    """
    n = len(outcomes[0].value)
    weights = bootstrap_weights(n, n_boot, seed, customers)  # (B, S)
    boot, point = {}, {}
    for o in outcomes:
        imp = np.bincount(o.imp_session, minlength=n).astype(np.float64)
        sums = {"value": o.value, "margin": o.margin, "orders": o.converted.astype(np.float64), "imp": imp,
                "sessions": np.ones(n), "lost": o.lost.astype(np.float64), "at_risk": o.at_risk,
                "imp_ordering": imp * o.converted,
                "acc": np.bincount(o.imp_session, weights=o.imp_attributed, minlength=n),
                "inc": np.bincount(o.imp_session, weights=o.imp_incremental, minlength=n),
                "attached": (np.bincount(o.imp_session, weights=o.imp_attributed, minlength=n) > 0) & o.converted}
        stacked = np.stack([np.asarray(v, np.float64) for v in sums.values()])  # (M, S)
        point[o.policy] = dict(zip(sums, stacked.sum(axis=1)))
        boot[o.policy] = dict(zip(sums, stacked @ weights.T))  # each (B,): the sums in every resample
    out = {}
    for o in outcomes:
        out[o.policy] = _figures(point, boot, o.policy, none, fbt, n, alpha)
    return out


def bootstrap_weights(n: int, n_boot: int, seed: int, customers: Sequence | None) -> np.ndarray:
    """How often each session is drawn in each resample: (n_boot, n). One draw for all policies keeps them paired."""
    rng = np.random.default_rng(seed)
    if customers is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    _, cluster = np.unique(np.asarray(customers).astype(str), return_inverse=True)
    k = int(cluster.max()) + 1 if n else 0
    return rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(np.float64)[:, cluster]


def _figures(point: dict, boot: dict, name: str, none: str, fbt: str, n: int, alpha: float) -> dict:
    p, b = point[name], boot[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = {"aov": ("value", "orders"), "margin_per_order": ("margin", "orders"),
                 "revenue_per_session": ("value", "sessions"), "margin_per_session": ("margin", "sessions"),
                 "acceptance": ("acc", "imp"),
                 "acceptance_in_orders": ("acc", "imp_ordering"),
                 "acceptance_incremental": ("inc", "imp"), "attach_rate": ("attached", "orders")}
        out: dict = {"sessions": n, "orders": int(p["orders"]), "impressions": int(p["imp"]), "orders_lost": int(p["lost"]),
                     "orders_lost_expected": float(p["at_risk"])}
        out["conversion"], out["conversion_ci"] = p["orders"] / n, wilson(p["orders"], n, alpha)
        for key, (num, den) in ratio.items():
            if not p[den]:  # no orders, or nothing shown (policy "none"): nothing to accept, so 0 rather than NaN
                out[key], out[f"{key}_ci"] = (0.0, (0.0, 0.0)) if den.startswith("imp") else (math.nan, (math.nan, math.nan))
                continue
            out[key] = float(p[num] / p[den])
            out[f"{key}_ci"] = percentile_ci(b[num] / b[den], alpha)
        for ref, label in ((none, "none"), (fbt, "fbt")):
            if ref in point:
                r, rb = point[ref], boot[ref]
                out[f"aov_lift_vs_{label}"] = float((p["value"] / p["orders"]) / (r["value"] / r["orders"]) - 1)
                out[f"aov_lift_vs_{label}_ci"] = percentile_ci((b["value"] / b["orders"]) / (rb["value"] / rb["orders"]) - 1, alpha)
                for key in ("value", "margin"):  # per session: the sessions are the same, so their sums' ratio
                    name = "revenue" if key == "value" else "margin"
                    out[f"{name}_lift_vs_{label}"] = float(p[key] / r[key] - 1)
                    out[f"{name}_lift_vs_{label}_ci"] = percentile_ci(b[key] / rb[key] - 1, alpha)
                conv = (b["orders"] - rb["orders"]) / n
                out[f"conversion_diff_vs_{label}_ci"] = percentile_ci(conv, alpha)
                out[f"orders_lost_expected_diff_vs_{label}"] = float(p["at_risk"] - r["at_risk"])
                out[f"orders_lost_expected_diff_vs_{label}_ci"] = percentile_ci(b["at_risk"] - rb["at_risk"], alpha)
    return out


def by_offer(o: Outcome) -> list[dict]:
    """Impressions and acceptance per placement and kind (the ground truth's kind of each shown item)."""
    rows = []
    for pi, placement in enumerate(PLACEMENTS):
        for ki, kind in enumerate(KINDS):
            m = (o.imp_placement == pi) & (o.imp_kind == ki)
            if m.any():
                rows.append({"placement": placement, "kind": kind, "impressions": int(m.sum()),
                             "acceptance": float(o.imp_attributed[m].mean()),
                             "acceptance_incremental": float(o.imp_incremental[m].mean()),
                             "mean_truth_p": float(o.imp_p[m].mean())})
    return rows


@dataclass(frozen=True)
class AbSimConfig:
    reps: int = 400  # A/A tests, and as many A/B tests
    lift: float = 0.10  # relative change of the simulator's buy_rate in the treatment world
    alpha: float = 0.05
    n_customers: int = 3000
    days: int = 28  # an A/B test's usual length: four weekly cycles
    seed: int = 10_000  # repetition r simulates with seed + r


@dataclass(frozen=True)
class AbSimResult:
    reps: int
    alpha: float
    lift: float
    false_positive: dict[str, float]  # A/A test -> share with p < alpha
    rates: tuple[float, float]  # share of visiting customers who ordered: control world, treatment world
    n_per_arm: tuple[float, float]  # mean visiting customers per arm in the A/B tests
    power_predicted: float
    power_observed: float

    def se(self, share: float) -> float:
        """Binomial standard error of a share over the repetitions."""
        return math.sqrt(share * (1 - share) / self.reps)


@dataclass(frozen=True)
class _Traffic:
    users: np.ndarray  # (U,) visiting customers
    sessions: np.ndarray  # (U,) sessions per customer
    ordered: np.ndarray  # (U,) sessions with an order per customer
    order_user: np.ndarray  # (O,) customer position of each order
    order_value: np.ndarray  # (O,)


def _traffic(sim_cfg) -> _Traffic:
    from neurec.data.simulate import simulate

    ev = simulate(sim_cfg).events
    buy = (ev["event_type"] == "purchase").to_numpy()
    sessions, s_idx = np.unique(ev["session_id"].to_numpy(), return_inverse=True)
    s_user = np.zeros(len(sessions), np.int64)
    s_user[s_idx] = ev["user_id"].to_numpy()
    s_order = np.bincount(s_idx, weights=buy) > 0
    s_value = np.bincount(s_idx, weights=buy * ev["price"].to_numpy())
    users, u_idx = np.unique(s_user, return_inverse=True)
    return _Traffic(users, np.bincount(u_idx), np.bincount(u_idx, weights=s_order), u_idx[s_order], s_value[s_order])


def _arm(t: _Traffic, in_arm: np.ndarray) -> dict[str, float]:
    """One arm's summaries: customer and session conversion counts, order values, and revenue per customer."""
    values = t.order_value[in_arm[t.order_user]]
    revenue = np.bincount(t.order_user, weights=t.order_value, minlength=len(t.users))[in_arm]
    buyers = t.ordered[in_arm] > 0  # AOV over customers: revenue / orders of those who ordered (the kit's default)
    ratio = dict(zip(("cl_mx", "cl_my", "cl_vx", "cl_vy", "cl_cov", "cl_n"),
                     ratio_stats(revenue[buyers], t.ordered[in_arm][buyers])))
    return {"cust_x": (t.ordered[in_arm] > 0).sum(), "cust_n": in_arm.sum(), "sess_x": t.ordered[in_arm].sum(),
            "sess_n": t.sessions[in_arm].sum(), "aov_mean": values.mean(), "aov_var": values.var(ddof=1),
            "aov_n": len(values), "rev_mean": revenue.mean(), "rev_var": revenue.var(ddof=1), "rev_n": len(revenue),
            **ratio}


def _stack(rows: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.array([r[k] for r in rows], np.float64) for k in rows[0]}


def planned_power(p_a: float, p_b: float, n_a: float, ratio: float = 1.0, alpha: float = 0.05) -> float:
    """The power at which the planner asks for n_a control units: `sample_size_proportions` inverted by bisection
    (its sample size grows with the power, so the largest power it grants n_a is well defined)."""
    lo, hi = alpha, 1 - 1e-9
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if sample_size_proportions(p_a, p_b - p_a, alpha=alpha, power=mid, ratio=ratio)[0] <= n_a:
            lo = mid
        else:
            hi = mid
    return lo


def simulate_ab(base, cfg: AbSimConfig = AbSimConfig(), progress: Callable[[int], None] | None = None) -> AbSimResult:
    """A/A and A/B tests on simulated shops (`base`: the SimulatorConfig they vary); see the module docstring."""
    splits = {"A": 1.0, "B": 1.0}
    arms: dict[str, list[dict]] = {"aa_a": [], "aa_b": [], "ab_a": [], "ab_b": []}
    pop = []
    for r in range(cfg.reps):
        world = replace(base, n_customers=cfg.n_customers, days=cfg.days, seed=cfg.seed + r)
        control = _traffic(world)
        treated = _traffic(replace(world, buy_rate=tuple(b * (1 + cfg.lift) for b in world.buy_rate)))
        in_b = assign_variants(control.users.tolist(), f"aa-{r}", splits) == "B"
        arms["aa_a"].append(_arm(control, ~in_b))
        arms["aa_b"].append(_arm(control, in_b))
        in_b = assign_variants(control.users.tolist(), f"ab-{r}", splits) == "B"
        arms["ab_a"].append(_arm(control, ~in_b))
        arms["ab_b"].append(_arm(treated, assign_variants(treated.users.tolist(), f"ab-{r}", splits) == "B"))
        pop.append(((control.ordered > 0).mean(), (treated.ordered > 0).mean()))
        if progress is not None:
            progress(r + 1)
    a, b, c, d = (_stack(arms[k]) for k in ("aa_a", "aa_b", "ab_a", "ab_b"))
    rates = np.mean(pop, axis=0)
    significant = lambda t: float(np.mean(t.p_value < cfg.alpha))  # noqa: E731
    rate = lambda u: two_proportion_ztest(a[f"{u}_x"], a[f"{u}_n"], b[f"{u}_x"], b[f"{u}_n"], cfg.alpha)  # noqa: E731
    mean = lambda m: welch_ttest_stats(*(arm[f"{m}_{s}"] for arm in (a, b) for s in ("mean", "var", "n")), cfg.alpha)  # noqa: E731
    fpr = {"conversion_customer": significant(rate("cust")), "conversion_session": significant(rate("sess")),
           "aov_order": significant(mean("aov")), "revenue_customer": significant(mean("rev")),
           "aov_customer": significant(ratio_ztest_stats(*(tuple(arm[f"cl_{k}"] for k in ("mx", "my", "vx", "vy", "cov", "n"))
                                                             for arm in (a, b)), alpha=cfg.alpha))}
    n_a, n_b = float(c["cust_n"].mean()), float(d["cust_n"].mean())
    predicted = planned_power(float(rates[0]), float(rates[1]), n_a, n_b / n_a, cfg.alpha)
    observed = significant(two_proportion_ztest(c["cust_x"], c["cust_n"], d["cust_x"], d["cust_n"], cfg.alpha))
    return AbSimResult(cfg.reps, cfg.alpha, cfg.lift, fpr, (float(rates[0]), float(rates[1])), (n_a, n_b), predicted,
                       observed)
