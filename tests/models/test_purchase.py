import torch

from neurec.models.components import causal_padding_mask
from neurec.models.purchase import PurchaseModel, PurchaseModelConfig


def _inputs(batch=3, length=6, n_items=50, n_cand=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(2, n_items, (batch, length), generator=g)
    types = torch.randint(1, 4, (batch, length), generator=g)
    gaps = torch.randint(1, 20, (batch, length), generator=g)
    cand = torch.randint(2, n_items, (batch, n_cand), generator=g)
    return items, types, gaps, cand


def test_mask_lets_padding_attend_to_itself_only():
    valid = torch.tensor([[False, False, True, True]])
    m = causal_padding_mask(valid)[0, 0]
    assert m[0].tolist() == [True, False, False, False]
    assert m[3].tolist() == [False, False, True, True]


def test_forward_shapes_and_agreement_with_score_all():
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8)).eval()
    items, types, gaps, cand = _inputs()
    with torch.inference_mode():
        logits = model(items, types, gaps, cand)
        full = model.score_all(items, types, gaps)
    assert logits.shape == (3, 4)
    torch.testing.assert_close(logits, full.gather(1, cand))


def test_padded_and_empty_histories_stay_finite_in_eval():
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8)).eval()
    items, types, gaps, cand = _inputs()
    for t in (items, types, gaps):
        t[0, :5] = 0  # long padded prefix
        t[1, :] = 0  # no history at all
    with torch.inference_mode():
        out = model(items, types, gaps, cand)
    assert torch.isfinite(out).all()


def test_padding_does_not_change_the_score():
    """Left padding is invisible: the same events give the same logits with or without pad positions."""
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8)).eval()
    items, types, gaps, cand = _inputs(batch=1, length=3)
    pad = lambda t: torch.cat([torch.zeros(1, 4, dtype=t.dtype), t], dim=1)
    with torch.inference_mode():
        a = model(items, types, gaps, cand)
        b = model(pad(items), pad(types), pad(gaps), cand)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_checkpoint_rebuilds_the_model(tmp_path):
    model = PurchaseModel(PurchaseModelConfig(n_items=30, dim=16, n_layers=1, max_history=5)).eval()
    torch.save(model.checkpoint(epoch=1), tmp_path / "m.pt")
    again = PurchaseModel.from_checkpoint(tmp_path / "m.pt").eval()
    assert again.cfg == model.cfg
    items, types, gaps, cand = _inputs(n_items=30, length=5)
    with torch.inference_mode():
        torch.testing.assert_close(model(items, types, gaps, cand), again(items, types, gaps, cand))
