"""neurec-simulate: write the shop simulator's tables to files, e.g. to try the file-based data path."""

from __future__ import annotations

from omegaconf import DictConfig

from neurec.cli.config import build, hydra_app
from neurec.cli.config_checks import check_simulate_config


@hydra_app("neurec-simulate", "simulate")
def main(cfg: DictConfig) -> None:
    from neurec.data.simulate import simulate, write_shop

    check_simulate_config(cfg)  # every problem at once, before anything is simulated or written
    shop = simulate(build(cfg.data.simulator))
    paths = write_shop(shop, cfg.out_dir, cfg.format)
    counts = shop.events["event_type"].value_counts().to_dict()
    print(f"simulated {len(shop.events):,} events {counts}, {len(shop.catalog):,} items, {len(shop.customers):,} customers")
    for name, path in paths.items():
        print(f"  {name:<11} {path}")


if __name__ == "__main__":
    main()
