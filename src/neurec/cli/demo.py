"""neurec-demo (`make demo`): simulate -> train -> evaluate -> export -> score a sample cart, then a short report.

Same Hydra config as neurec-train, so every override works here too.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from neurec.cli.config import hydra_app, run_config
from neurec.cli.report import print_report
from neurec.schema import EVENT_TYPE, ITEM_ID, SESSION_ID, EventType


def sample_request(data, max_history: int) -> tuple[dict, str]:
    """A test-period customer caught with something in the cart, as a scorer request; and what they bought next."""
    events = data.events
    types = events[EVENT_TYPE].to_numpy()
    sessions = events[SESSION_ID].to_numpy()
    items = events[ITEM_ID].to_numpy()
    starts = np.searchsorted(events["user_id"].to_numpy(), events["user_id"].to_numpy()[data.test.targets.position], side="left")
    chosen = None
    for row, (pos, start) in enumerate(zip(data.test.targets.position, starts)):
        in_session = np.arange(start, pos)[sessions[start:pos] == sessions[pos]]
        carted = [items[i] for i in in_session if types[i] == EventType.ADD_TO_CART]
        bought = {items[i] for i in in_session if types[i] == EventType.PURCHASE}
        cart = [i for i in dict.fromkeys(carted) if i not in bought]
        if cart:
            chosen = (row, pos, start, cart)
            break
    if chosen is None:
        row, pos = 0, int(data.test.targets.position[0])
        chosen = (row, pos, int(starts[0]), [])
    row, pos, start, cart = chosen
    lo = max(start, pos - max_history)
    history = [
        {"item_id": str(items[i]), "event_type": EventType(int(types[i])).label, "timestamp": float(events["ts"].iat[i])}
        for i in range(lo, pos)
    ]
    return {"history": history, "cart": [str(c) for c in cart]}, str(data.test.targets.item[row])


def print_recommendation(bundle_dir, request: dict, bought: str, catalog) -> None:
    from neurec.serving import Scorer

    response = Scorer.from_bundle(bundle_dir).recommend(request)
    info = catalog.set_index(ITEM_ID)
    print()
    print(f"sample customer: {len(request['history'])} recent events, cart {request['cart'] or '(empty)'}; bought next: {bought}")
    cols = [c for c in ("category", "product_line", "tier", "price", "margin", "stock") if c in info.columns]
    print(f"{'rank':>4} {'item':>8} {'prob':>7} {'score':>7}  " + " ".join(f"{c:>14}" for c in cols))
    for rec in response["items"]:
        row = info.loc[rec["item_id"]] if rec["item_id"] in info.index else {}
        cells = " ".join(f"{row[c]:>14.2f}" if isinstance(row[c], float) else f"{str(row[c]):>14}" for c in cols) if len(row) else ""
        print(f"{rec['rank']:>4} {rec['item_id']:>8} {rec['probability']:>7.3f} {rec['score']:>7.3f}  {cells}")
    if not response["items"]:
        print("  (no item passed the rules: no suggestion beats a bad one)")


@hydra_app("neurec-demo", "train")
def main(cfg: DictConfig) -> None:
    from omegaconf import OmegaConf

    from neurec.cli.config import task_overrides
    from neurec.pipeline import run

    if not any(o.split("=", 1)[0].lstrip("+~") == "export.register" for o in task_overrides()):
        OmegaConf.update(cfg, "export.register", True)  # the demo ends with a registered version to promote
    run_cfg, resolved = run_config(cfg)
    result = run(run_cfg, resolved)
    print_report(result)
    if result.bundle_dir is not None:
        request, bought = sample_request(result.data, run_cfg.data.max_history)
        print_recommendation(result.bundle_dir, request, bought, result.data.catalog)


if __name__ == "__main__":
    main()
