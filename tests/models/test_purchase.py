import numpy as np
import pytest
import torch

from neurec.cooccurrence import item_neighbours
from neurec.history_summary import stack_summaries, summarize_history
from neurec.models.components import NeighbourMatch, causal_padding_mask
from neurec.models.purchase import PurchaseModel, PurchaseModelConfig

SUMMARY = 32  # PurchaseModelConfig's default summary_size
DAY = 86_400.0


def _summaries(batch, n_items, seed, size=SUMMARY):
    """Whole-history summaries of long random histories with repeats, as training and serving compute them."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(batch):
        n = int(rng.integers(0, 80))
        ts = np.cumsum(rng.exponential(DAY, n))
        rows.append(summarize_history(rng.integers(2, min(n_items, 12), n), rng.integers(1, 4, n), ts,
                                      float(ts[-1]) + 3600 if n else 0.0, size))
    items, feats = stack_summaries(rows, size)
    return torch.as_tensor(items), torch.as_tensor(feats)


def _inputs(batch=3, length=6, n_items=50, n_cand=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(2, n_items, (batch, length), generator=g)
    types = torch.randint(1, 4, (batch, length), generator=g)
    gaps = torch.randint(1, 20, (batch, length), generator=g)
    cand = torch.randint(2, n_items, (batch, n_cand), generator=g)
    return items, types, gaps, *_summaries(batch, n_items, seed), cand


def test_mask_lets_padding_attend_to_itself_only():
    valid = torch.tensor([[False, False, True, True]])
    m = causal_padding_mask(valid)[0, 0]
    assert m[0].tolist() == [True, False, False, False]
    assert m[3].tolist() == [False, False, True, True]


def test_forward_shapes_and_agreement_with_score_all():
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8)).eval()
    items, types, gaps, sum_items, sum_feats, cand = _inputs()
    with torch.inference_mode():
        logits = model(items, types, gaps, sum_items, sum_feats, cand)
        full = model.score_all(items, types, gaps, sum_items, sum_feats)
    assert logits.shape == (3, 4)
    torch.testing.assert_close(logits, full.gather(1, cand))


def test_padded_and_empty_histories_stay_finite_in_eval():
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8)).eval()
    items, types, gaps, sum_items, sum_feats, cand = _inputs()
    for t in (items, types, gaps):
        t[0, :5] = 0  # long padded prefix
        t[1, :] = 0  # no history at all
    sum_items[1], sum_feats[1] = 0, 0  # and no summary
    with torch.inference_mode():
        out = model(items, types, gaps, sum_items, sum_feats, cand)
    assert torch.isfinite(out).all()


def test_padding_does_not_change_the_score():
    """Left padding is invisible: the same events give the same logits with or without pad positions."""
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8)).eval()
    items, types, gaps, sum_items, sum_feats, cand = _inputs(batch=1, length=3)
    pad = lambda t: torch.cat([torch.zeros(1, 4, dtype=t.dtype), t], dim=1)
    with torch.inference_mode():
        a = model(items, types, gaps, sum_items, sum_feats, cand)
        b = model(pad(items), pad(types), pad(gaps), sum_items, sum_feats, cand)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_checkpoint_rebuilds_the_model(tmp_path):
    model = PurchaseModel(PurchaseModelConfig(n_items=30, dim=16, n_layers=1, max_history=5)).eval()
    model.set_item_intervals(torch.arange(30, dtype=torch.float32))  # a buffer: it must travel in the checkpoint
    torch.save(model.checkpoint(epoch=1), tmp_path / "m.pt")
    again = PurchaseModel.from_checkpoint(tmp_path / "m.pt").eval()
    assert again.cfg == model.cfg
    inputs = _inputs(n_items=30, length=5)
    with torch.inference_mode():
        torch.testing.assert_close(model(*inputs), again(*inputs))


def test_the_summary_starts_as_the_counting_rule_and_can_be_switched_off():
    """At initialisation the repeat part is the month's decayed own-event weight (x summary_prior, gate 1): a
    candidate the customer bought often lately outscores the same candidate for a customer who never touched it.
    With use_summary false the summary changes nothing (the window-only model)."""
    torch.manual_seed(0)
    cfg = PurchaseModelConfig(n_items=20, max_history=4, dim=16, n_layers=1, n_heads=1)
    model = PurchaseModel(cfg).eval()
    window = [torch.zeros(2, 4, dtype=torch.long)] * 3  # no window: only the summary differs between the rows
    bought = summarize_history(np.array([7, 7, 7]), np.array([3, 3, 3]), np.array([0.0, DAY, 2 * DAY]), 3 * DAY, SUMMARY)
    sum_items, sum_feats = (torch.as_tensor(a) for a in stack_summaries([bought, summarize_history(
        np.array([], int), np.array([], int), np.array([]), 0.0, SUMMARY)], SUMMARY))
    cand = torch.tensor([[7, 8], [7, 8]])
    with torch.inference_mode():
        logits = model(*window, sum_items, sum_feats, cand)
    weight = float(sum_feats[0, 0, 6])  # decayed_30d of item 7
    assert float(logits[0, 0] - logits[1, 0]) == pytest.approx(cfg.summary_prior * np.log1p(weight), rel=1e-5)
    assert float(logits[0, 1] - logits[1, 1]) == 0.0  # item 8 was never touched
    off = PurchaseModel(PurchaseModelConfig(**{**cfg.__dict__, "use_summary": False})).eval()
    off.load_state_dict(model.state_dict())
    with torch.inference_mode():
        plain = off(*window, sum_items, sum_feats, cand)
    assert torch.equal(plain[0], plain[1])


def test_neighbour_score_by_hand():
    """Each history event spreads its weight (prior 1 per type, recency 0 at the start) over its item's
    neighbours times their similarity; padding and unknown candidates score nothing."""
    # Items 2 and 3 share both customers (cosine 1); 4 shares one of two with each (0.5).
    ids, sim = (torch.as_tensor(a) for a in item_neighbours(np.array([0, 0, 1, 1, 1, 2]), np.array([2, 3, 2, 3, 4, 4]), 6, 2))
    match = NeighbourMatch(n_event_types=4, max_history=3, prior=1.0)
    hist, types = torch.tensor([[0, 2, 4]]), torch.tensor([[0, 1, 3]])
    with torch.no_grad():
        score = match(types, ids[hist], sim[hist], torch.tensor([[3, 4, 2, 5, 0]]), 6)
    # 3: 1.0 from item 2 + 0.5 from item 4; 4: 0.5 from 2; 2: 0.5 from 4; 5: no neighbour; 0: padding.
    torch.testing.assert_close(score, torch.tensor([[1.5, 0.5, 0.5, 0.0, 0.0]]))


def test_neighbour_table_enters_forward_and_score_all_alike_and_can_be_switched_off():
    torch.manual_seed(0)
    cfg = PurchaseModelConfig(n_items=50, max_history=8, neighbours=3)
    model = PurchaseModel(cfg).eval()
    g = torch.Generator().manual_seed(1)
    model.set_item_neighbours(torch.randint(2, 50, (50, 3), generator=g), torch.rand(50, 3, generator=g))
    items, types, gaps, sum_items, sum_feats, cand = _inputs()
    with torch.inference_mode():
        logits = model(items, types, gaps, sum_items, sum_feats, cand)
        full = model.score_all(items, types, gaps, sum_items, sum_feats)
    torch.testing.assert_close(logits, full.gather(1, cand))
    off = {k: v for k, v in model.state_dict().items() if not k.startswith(("nbr_", "nbr_match."))}
    plain = PurchaseModel(PurchaseModelConfig(**{**cfg.__dict__, "neighbours": 0})).eval()
    plain.load_state_dict({**plain.state_dict(), **off})
    with torch.inference_mode():
        without = plain(items, types, gaps, sum_items, sum_feats, cand)
        expected = logits - model.nbr_match(types, model.nbr_ids[items], model.nbr_sim[items], cand, 50)
    torch.testing.assert_close(without, expected)


def test_training_reads_each_rows_out_of_fold_table():
    """With `folds`, row b's neighbour score comes from table folds[b]; without, from the full table (serving)."""
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=8, neighbours=3)).eval()
    g = torch.Generator().manual_seed(1)
    full = (torch.randint(2, 50, (50, 3), generator=g), torch.rand(50, 3, generator=g))
    folds = (torch.randint(2, 50, (4, 50, 3), generator=g), torch.rand(4, 50, 3, generator=g))
    model.set_item_neighbours(*full, *folds)
    items, types, gaps, sum_items, sum_feats, cand = _inputs()
    row_folds = torch.tensor([2, 0, 3])
    with torch.inference_mode():
        served = model(items, types, gaps, sum_items, sum_feats, cand)
        trained = model(items, types, gaps, sum_items, sum_feats, cand, folds=row_folds)
        for b, f in enumerate(row_folds.tolist()):
            ids, sim = folds[0][f][items[b : b + 1]], folds[1][f][items[b : b + 1]]
            own = model.nbr_match(types[b : b + 1], ids, sim, cand[b : b + 1], 50)
            full_part = model.nbr_match(types[b : b + 1], full[0][items[b : b + 1]], full[1][items[b : b + 1]], cand[b : b + 1], 50)
            torch.testing.assert_close(trained[b : b + 1], served[b : b + 1] - full_part + own)
    assert "nbr_fold_ids" not in model.state_dict()  # training-only: never saved nor exported


def test_match_weights_start_with_the_configured_decay_per_step_back():
    """An event p steps back starts at prior * decay**p for every event type; padding weighs nothing."""
    match = NeighbourMatch(n_event_types=4, max_history=4, prior=2.0, decay=0.5)
    with torch.no_grad():
        w = match.weights(torch.tensor([[0, 1, 2, 3]]))
    torch.testing.assert_close(w, torch.tensor([[0.0, 2.0 * 0.25, 2.0 * 0.5, 2.0]]))


def test_zero_embedding_std_leaves_only_the_counting_terms_at_init():
    """embedding_std 0: the dot product and item bias are 0, so the untrained score of a candidate the customer
    never touched, and that is nobody's neighbour, is exactly 0 whatever the history; a touched one is not."""
    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=6, dim=16, n_layers=1, n_heads=1, match_prior=2.0,
                                              embedding_std=0.0)).eval()
    items, types, gaps, sum_items, sum_feats, _ = _inputs(n_items=40)
    cand = torch.cat([torch.full((3, 1), 45), items[:, -1:]], dim=1)  # 45: never in a history (ids < 40)
    with torch.inference_mode():
        logits = model(items, types, gaps, sum_items, sum_feats, cand)
    assert torch.equal(logits[:, 0], torch.zeros(3))
    assert bool((logits[:, 1] > 0).all())


def test_popularity_prior_sets_the_item_bias_from_training_counts_and_breaks_ties():
    """popularity_prior p: item i starts with bias p * log(1 + its training events); reserved ids stay 0, and of two
    candidates no counting term reaches, the one more customers touched ranks first."""
    model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=6, dim=16, n_layers=1, n_heads=1, match_prior=2.0,
                                              embedding_std=0.0, popularity_prior=0.02)).eval()
    counts = torch.zeros(50, dtype=torch.long)
    counts[0], counts[1], counts[45], counts[46] = 99, 99, 3, 30
    model.set_item_popularity(counts)
    bias = model.item_bias.weight[:, 0]
    assert bias[0] == 0.0 and bias[1] == 0.0
    torch.testing.assert_close(bias[45:47], 0.02 * torch.log1p(torch.tensor([3.0, 30.0])))
    assert bias[47] == 0.0  # never touched in training
    items, types, gaps, sum_items, sum_feats, _ = _inputs(n_items=40)
    with torch.inference_mode():
        logits = model(items, types, gaps, sum_items, sum_feats, torch.tensor([[45, 46]] * 3))
    assert bool((logits[:, 1] > logits[:, 0]).all())


def test_attr_prior_scores_untouched_items_that_share_a_category_with_the_window():
    """With attr_prior > 0 the untrained model reaches a candidate the customer never touched through its category
    (with the item match's recency decay); at 0 the category says nothing until training."""
    def untrained(prior):
        model = PurchaseModel(PurchaseModelConfig(n_items=50, max_history=6, dim=16, n_layers=1, n_heads=1,
                                                  match_prior=2.0, embedding_std=0.0, side_names=("category",),
                                                  side_sizes=(4,), match_pairs=((0, 0),), attr_prior=prior)).eval()
        cats = torch.ones(1, 50, dtype=torch.long)  # every item in category 1 but 45 (category 2)
        cats[0, 45] = 2
        model.set_item_attributes(cats)
        return model

    items, types, gaps, sum_items, sum_feats, _ = _inputs(n_items=40)
    cand = torch.tensor([[44, 45]] * 3)  # neither in any history (ids < 40); 44 shares the window's category
    with torch.inference_mode():
        off = untrained(0.0)(items, types, gaps, sum_items, sum_feats, cand)
        on = untrained(0.3)(items, types, gaps, sum_items, sum_feats, cand)
    assert torch.equal(off, torch.zeros(3, 2))
    assert bool((on[:, 0] > 0).all()) and torch.equal(on[:, 1], torch.zeros(3))
    weights = untrained(0.3).attr_match[0].weights(types)
    assert bool(torch.all(weights[:, -1] == 0.3 * (types[:, -1] != 0)))  # the newest event: the prior itself
