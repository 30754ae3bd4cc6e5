"""neurec-simulate: write the shop simulator's tables to files, e.g. to try the file-based data path."""

from __future__ import annotations

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from neurec.cli.config import config_dir


@hydra.main(config_path=config_dir(), config_name="simulate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from neurec.data.simulate import simulate, write_shop

    shop = simulate(instantiate(cfg.data.simulator))
    paths = write_shop(shop, cfg.out_dir, cfg.format)
    counts = shop.events["event_type"].value_counts().to_dict()
    print(f"simulated {len(shop.events):,} events {counts}, {len(shop.catalog):,} items, {len(shop.customers):,} customers")
    for name, path in paths.items():
        print(f"  {name:<11} {path}")


if __name__ == "__main__":
    main()
