"""The model a run trains is the class its config group names: a second architecture is a config value."""

from __future__ import annotations

import textwrap

import pytest
import torch
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.cli.config_checks import check_train_config
from neurec.data.simulate import SimulatorConfig
from neurec.errors import ConfigError
from neurec.models.build import DEFAULT_MODEL, load_model, model_class
from neurec.models.purchase import model_inputs
from neurec.pipeline import run

# A bag-of-items encoder in place of self-attention: the mean of the window's item vectors. Mean over real events
# only, so padding never changes it (serving pads to the longest history of a request, training to the window).
POOLED = textwrap.dedent('''
    import torch
    from neurec.models.purchase import PurchaseModel

    class PooledModel(PurchaseModel):
        def encode(self, hist_items, hist_types, hist_gaps):
            x = self.embed(self.item_vectors(hist_items), hist_types, hist_gaps)
            real = (hist_types != 0).unsqueeze(-1).to(x.dtype)
            return self.norm((x * real).sum(1) / real.sum(1).clamp(min=1.0))
''')


@pytest.fixture()
def pooled_module(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(POOLED)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_models.PooledModel"


def test_the_default_config_names_the_purchase_model(tmp_path, compose_train):
    from neurec.models.purchase import PurchaseModel

    assert check_train_config(compose_train([], tmp_path))["model"]["_target_"] == DEFAULT_MODEL
    assert model_class(DEFAULT_MODEL) is PurchaseModel


def test_a_second_architecture_trains_exports_and_reloads_from_config_alone(tmp_path, compose_train, pooled_module):
    cfg = compose_train([f"model._target_={pooled_module}", "tracking=none", "trainer.epochs=1", "model.dim=16"], tmp_path)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    result = run(*run_config(cfg))
    assert type(result.model).__name__ == "PooledModel" and result.model.blocks is not None
    ckpt = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert ckpt["model_class"] == pooled_module
    again = load_model(result.checkpoint).eval()
    assert type(again).__name__ == "PooledModel"
    _, batch = next(iter(result.data.test.batches(8)))
    inputs = model_inputs(batch)
    with torch.no_grad():
        torch.testing.assert_close(again.score_all(*inputs), result.model.cpu().eval().score_all(*inputs))
    # The exported graph is this class's forward: export checks ONNX against torch and refuses a mismatch.
    assert (result.bundle_dir / "model.onnx").is_file()


@pytest.mark.parametrize("target, message", [
    ("neurec.models.nope.Model", "no such class"),
    ("collections.OrderedDict", "not a neurec model"),
    ("torch.nn.Linear", "not a neurec model"),
])
def test_a_target_that_is_not_a_model_is_refused_by_name(tmp_path, compose_train, target, message):
    with pytest.raises(ConfigError) as err:
        check_train_config(compose_train([f"model._target_={target}"], tmp_path))
    assert f"model._target_={target}" in str(err.value) and message in str(err.value)


def test_the_target_class_decides_which_model_keys_are_known(tmp_path, compose_train, pooled_module):
    # The subclass takes the same config: a misspelt key is still named, a data-derived one still refused.
    with pytest.raises(ConfigError) as err:
        check_train_config(compose_train([f"model._target_={pooled_module}", "+model.dimm=3", "+model.n_items=4"], tmp_path))
    assert "model.dimm=3: unknown key" in str(err.value) and "model.n_items=4: set from the data" in str(err.value)


def test_the_popularity_prior_counts_training_events_only(tmp_path):
    """from_data's item bias reads the training period's events: a validation or test period's events must not
    leak into a prior that the untrained model (epoch 0) is validated and tested with."""
    import numpy as np

    from neurec.data.config import DataConfig
    from neurec.data.prepare import prepare
    from neurec.models.build import build_model
    from neurec.schema import N_RESERVED_IDS

    data = prepare(DataConfig(simulator=SimulatorConfig(seed=3, n_customers=300, days=60)), tmp_path / "data")
    model = build_model({"dim": 8, "n_layers": 1, "n_heads": 1, "popularity_prior": 0.5}, data)
    train = data.events["ts"].to_numpy() < data.boundaries.valid_start
    counts = np.bincount(data.item_idx[train], minlength=len(data.vocab)).astype(np.float32)
    expected = 0.5 * np.log1p(counts)
    expected[:N_RESERVED_IDS] = 0.0
    np.testing.assert_allclose(model.item_bias.weight[:, 0].detach().numpy(), expected, rtol=1e-6)
    everything = np.bincount(data.item_idx, minlength=len(data.vocab))
    assert (everything > counts).any()  # the later periods do touch items: the test can tell the two apart
    assert torch.count_nonzero(build_model({"dim": 8, "n_layers": 1, "n_heads": 1}, data).item_bias.weight) == 0
