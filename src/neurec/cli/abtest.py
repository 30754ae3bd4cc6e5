"""neurec-abtest: plan an A/B test, or read one from a recommendation log.

  neurec-abtest plan --baseline-rate 0.05 --mde 0.1 --relative --daily-traffic 5000 [--aov-mean 80 --aov-std 95]
  neurec-abtest analyze LOG [--control A --treatment B] [--experiment exp.yaml] [--json]

`plan` prints the sessions (and orders, for AOV) each variant needs and the days of traffic that takes.
`analyze` prints conversion, AOV, margin per order and per visitor (when the log has a margin column) and
guardrails, with tests and confidence intervals, and a verdict.
"""

from __future__ import annotations

import argparse
import json
import sys

from neurec.cli.config import friendly_errors


@friendly_errors("neurec-abtest")
def _plan(args: argparse.Namespace) -> int:
    from neurec.analytics.planning import PlanInput, format_plan, plan_experiment

    plan = plan_experiment(PlanInput(
        baseline_rate=args.baseline_rate, mde=args.mde, relative=args.relative, alpha=args.alpha, power=args.power,
        daily_traffic=args.daily_traffic, treatment_share=args.treatment_share, aov_mean=args.aov_mean,
        aov_std=args.aov_std, aov_mde=args.aov_mde, continuity=args.continuity,
    ))
    print(json.dumps(plan.to_dict(), indent=2) if args.json else format_plan(plan))
    return 0


@friendly_errors("neurec-abtest")
def _analyze(args: argparse.Namespace) -> int:
    from neurec.analytics.abtest import AnalysisConfig, analyze_log, format_result
    from neurec.analytics.reclog import read_reclog

    cfg = AnalysisConfig(alpha=args.alpha, primary=args.primary, guardrail_tolerance=args.tolerance,
                         n_boot=args.n_boot, seed=args.seed, unit=args.unit)
    control, shares = args.control, None
    if args.experiment:
        from neurec.analytics.experiment import load_experiment

        exp = load_experiment(args.experiment)
        control, shares = control or exp.control, exp.shares()
    results = analyze_log(read_reclog(args.log, args.timestamp_unit), control, args.treatment, cfg, shares)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print("\n\n".join(format_result(r) for r in results))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurec-abtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="sample size per variant and days of traffic")
    p.add_argument("--baseline-rate", type=float, required=True, help="current conversion rate, e.g. 0.05")
    p.add_argument("--mde", type=float, required=True,
                   help="minimum detectable effect on conversion: rate points, or a share of the baseline with --relative")
    p.add_argument("--relative", action="store_true", help="--mde is relative to the baseline (0.1 = +10 %%)")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)")
    p.add_argument("--power", type=float, default=0.8, help="chance to detect the MDE when it is real (default 0.8)")
    p.add_argument("--daily-traffic", type=float, help="sessions (or visitors) a day entering the test, all variants")
    p.add_argument("--treatment-share", type=float, default=0.5, help="share of traffic in the treatment (default 0.5)")
    p.add_argument("--aov-mean", type=float, help="current average order value")
    p.add_argument("--aov-std", type=float, help="standard deviation of order values")
    p.add_argument("--aov-mde", type=float, help="relative AOV change to detect (default: --mde when --relative)")
    p.add_argument("--continuity", action="store_true", help="Fleiss' continuity correction for conversion")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("analyze", help="test conversion, AOV, margin and guardrails from a recommendation log")
    p.add_argument("log", help="recommendation log with a variant column, optionally margin (CSV, Parquet, JSON-lines)")
    p.add_argument("--control", help="control variant (default: the experiment's, else the first in sorted order)")
    p.add_argument("--treatment", help="treatment variant (default: every other variant)")
    p.add_argument("--experiment", help="experiment config (JSON/YAML): control and expected shares for the ratio check")
    p.add_argument("--primary", choices=("aov", "conversion"), default="aov", help="the metric the verdict is about")
    p.add_argument("--unit", choices=("user", "session"), default="user",
                   help="what conversion counts: customers (default; what is randomised) or sessions")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--tolerance", type=float, default=0.0, help="relative harm a guardrail tolerates (0.02 = 2 %%)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the AOV and margin CIs (0: delta-method CI)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timestamp-unit", choices=("s", "ms"), default="s")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _plan(args) if args.command == "plan" else _analyze(args)


if __name__ == "__main__":
    sys.exit(main())
