"""neurec-rank: a trained bundle's own top K for every customer of an events file, written to Parquet."""

from __future__ import annotations

import pandas as pd
import pytest

from neurec.cli.rank import main
from neurec.serving import CustomerHistory, Ranker


SHOP = ["data=simulator", "data.simulator.n_customers=400", "data.simulator.days=60"]  # compose_train's own shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory, compose_train):
    """A bundle trained on a small simulated shop, and that shop's cleaned events."""
    from omegaconf import OmegaConf

    from neurec.cli.analyze import data_config
    from neurec.cli.config import run_config
    from neurec.data.prepare import load
    from neurec.pipeline import run

    tmp = tmp_path_factory.mktemp("rank")
    cfg = compose_train(["tracking=none", "trainer.epochs=1", "model.dim=16"], tmp)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    result = run(*run_config(cfg))
    return tmp, load(data_config(SHOP)).events, result.bundle_dir


def test_top_k_for_every_customer_matches_the_ranker(shop, capsys):
    tmp, events, bundle = shop
    out = tmp / "top.parquet"
    assert main(["--bundle", str(bundle), "--out", str(out), "--k", "5", *SHOP]) == 0
    top = pd.read_parquet(out)
    assert list(top.columns) == ["user_id", "rank", "item_id", "probability"]
    counts = top.groupby("user_id").size()
    assert (counts == 5).all()
    assert (top.groupby("user_id")["probability"].apply(lambda p: p.is_monotonic_decreasing)).all()
    assert "customers x top 5" in capsys.readouterr().out
    # One customer by hand through the Ranker: the same five items.
    assert counts.size == events["user_id"].nunique()
    user = str(top["user_id"].iloc[0])
    mine = events[events["user_id"].astype(str) == user]
    ranking = Ranker.from_bundle(bundle).rank_many(
        [CustomerHistory(mine["item_id"].tolist(), mine["event_type"].to_numpy(), mine["ts"].to_numpy())], k=5)[0]
    assert top[top["user_id"] == user]["item_id"].tolist() == ranking.item_ids


def test_customers_and_now_select_and_a_failed_run_keeps_the_earlier_file(shop, capsys):
    tmp, events, bundle = shop
    out = tmp / "some.parquet"
    wanted = tmp / "wanted.txt"
    users = events["user_id"].astype(str).unique()[:3].tolist()
    wanted.write_text("\n".join(users + ["nobody"]) + "\n")
    args = ["--bundle", str(bundle), "--out", str(out), "--customers", str(wanted), *SHOP]
    assert main([*args, "--now", "2099-01-01T00:00:00Z"]) == 0
    first = out.read_bytes()
    assert set(pd.read_parquet(out)["user_id"]) == set(users)
    assert "1 requested customers have no events" in capsys.readouterr().out
    # Before any event: nothing to rank, exit 2 with a message, and the earlier file untouched.
    assert main([*args, "--now", "2000-01-01T00:00:00Z"]) == 2
    assert "no events of the requested customers before --now" in capsys.readouterr().err
    assert main([*args, "--now", "yesterday"]) == 2
    assert "--now: 'yesterday' is not an ISO-8601 timestamp" in capsys.readouterr().err
    assert main(["--bundle", str(tmp / "missing"), "--out", str(out), *SHOP]) == 2
    assert out.read_bytes() == first
