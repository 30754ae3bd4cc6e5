"""Every bad config value is refused before any work, all at once, each as "key=value: what is allowed"."""

import subprocess
import sys

import pytest

from neurec.cli.config_checks import check_train_config
from neurec.errors import ConfigError

BAD = [
    ("trainer.epochs=abc", "trainer.epochs=abc: expected an integer"),
    ("trainer.epochs=0", "trainer.epochs=0: at least 1"),
    ("trainer.epochs=-1", "trainer.epochs=-1: at least 1"),
    ("trainer.batch_size=0", "trainer.batch_size=0: at least 1"),
    ("trainer.device=cuda:99", "trainer.device=cuda:99"),
    ("trainer.device=tpu", "trainer.device=tpu: one of auto, cpu, cuda, cuda:N"),
    ("model.dropout=2", "model.dropout=2: a number in [0, 1)"),
    ("trainer.n_negatives=-5", "trainer.n_negatives=-5: at least 1"),
    ("trainer.batch_negatives=0", "trainer.batch_negatives=0: at least 1"),
    ("model.dim=33", "model.dim=33: a multiple of model.n_heads=2"),
    ("optim.schedule=cosinee", "optim.schedule=cosinee: one of constant, cosine"),
    ("optim.lr=0", "optim.lr=0: a number > 0"),
    ("trainer.progress=yes", "trainer.progress=yes: expected true or false"),
    ("trainer.loss=hinge", "trainer.loss=hinge: one of bce, softmax"),
    ("trainer.monitor=logloss", "trainer.monitor=logloss: one of"),
    ("+trainer.epoch=3", "trainer.epoch=3: unknown key; did you mean trainer.epochs?"),
    ("+data.max_history=20", "data.max_history=20: not a data key"),
    ("data.test_frac=0.95", "data.test_frac=0.95: with data.valid_frac=0.1"),
    ("+data.policies.duplicate=zap", "data.policies.duplicate=zap: one of drop, error, keep"),
    ("baselines=[fbt,pop]", "baselines=pop: names from"),
    ("+model.n_items=5", "model.n_items=5: set from the data"),
    ("data.simulator.n_customers=0", "data.simulator.n_customers=0: at least 1"),
    ("model.popularity_prior=nan", "model.popularity_prior=nan: a finite number"),
    ("model.attr_prior=inf", "model.attr_prior=inf: a finite number"),
]


@pytest.mark.parametrize("override, message", BAD, ids=[o for o, _ in BAD])
def test_validator_names_key_value_and_what_is_allowed(tmp_path, compose_train, override, message):
    with pytest.raises(ConfigError) as err:
        check_train_config(compose_train([override], tmp_path))
    assert message in str(err.value)


def test_all_problems_are_reported_at_once(tmp_path, compose_train):
    with pytest.raises(ConfigError, match="3 bad config values") as err:
        check_train_config(compose_train(["trainer.epochs=0", "model.dropout=2", "optim.schedule=x"], tmp_path))
    assert all(k in str(err.value) for k in ("trainer.epochs=0", "model.dropout=2", "optim.schedule=x"))


def test_the_default_config_passes(tmp_path, compose_train):
    assert check_train_config(compose_train([], tmp_path))["model"]["max_history"] == 50


CLI = [
    ("trainer.epochs=abc", "trainer.epochs=abc"),
    ("trainer.epoch=3", "trainer.epoch=3: unknown key; did you mean trainer.epochs?"),
    ("optim.schedule=cosinee", "optim.schedule=cosinee"),
    ("data.max_history=20", "data.max_history=20: not a data key"),
    ("optim=sgd", "Could not find 'optim/sgd'"),
    ("nosuch.key=1", "nosuch.key=1: unknown key 'nosuch'"),
    ("trainer.device=cuda:99", "bad config value: trainer.device=cuda:99: "),  # no CUDA, or past the GPUs
    ("trainer.epochs=[1,2", "trainer.epochs=[1,2: not a valid override"),
]


@pytest.mark.parametrize("override, message", CLI, ids=[o for o, _ in CLI])
def test_train_cli_exits_2_before_any_data_work(tmp_path, override, message):
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "neurec.cli.train", "debug=fast", "tracking=none", override,
         f"hydra.run.dir={run}", f"paths.root_dir={tmp_path}"], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (run / "data").exists() and not (run / "config.yaml").exists()  # nothing prepared or saved


def test_unknown_extra_negatives_are_named(tmp_path, compose_train):
    from omegaconf import OmegaConf

    from neurec.cli.config import run_config

    cfg = compose_train(["trainer.extra_negatives=[history,cart]"], tmp_path)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    with pytest.raises(ConfigError, match=r"trainer.extra_negatives: unknown \['cart'\]; choose from history, batch"):
        run_config(cfg)
