"""neurec-simulate writes the files a shop would bring; training reads them back through data=files."""

import subprocess
import sys

from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.pipeline import run


def test_simulated_files_train_through_the_files_path(tmp_path, compose_train, mlflow_store):
    out = tmp_path / "shop"
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.simulate", "data.simulator.n_customers=300", "data.simulator.days=60",
         f"out_dir={out}", "format=csv", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} >= {"events.csv", "catalog.csv", "propensity.csv", "customers.csv"}
    with open(out / "events.csv") as fh:  # double-log one event: cleaning must count it, in the run too
        second = fh.readlines()[1]
    with open(out / "events.csv", "a") as fh:
        fh.write(second)
    cfg = compose_train(
        ["data=files", f"data.events_path={out / 'events.csv'}", f"data.catalog_path={out / 'catalog.csv'}",
         f"tracking.uri={mlflow_store['uri']}", "tracking.experiment=files", "export.enabled=false", "trainer.epochs=1"],
        tmp_path,
    )
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, resolved = run_config(cfg)
    result = run(run_cfg, resolved)
    assert "oracle" not in result.metrics and {"model", "popularity", "fbt"} <= set(result.metrics)  # files carry no ground truth
    assert result.stats["events"] > 5000
    assert {"margin", "stock", "tier"} <= set(result.data.catalog.columns)
    assert result.data.report.dropped == {"duplicate": 1}
    from mlflow.tracking import MlflowClient

    assert MlflowClient(mlflow_store["uri"]).get_run(result.run_id).data.metrics["data_dropped_duplicate"] == 1
