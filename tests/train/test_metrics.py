import math

import numpy as np
import pytest
import torch

from neurec.train.loss import candidate_loss, catalogue_loss, sample_negatives
from neurec.train.metrics import log_loss, ranking_metrics, standard_errors, target_ranks


def test_ranks_ignore_reserved_columns_and_split_ties():
    scores = np.array(
        [
            [9.0, 9.0, 0.5, 0.9, 0.1, 0.3],  # target id 2 (0.5): only 0.9 is above -> rank 2
            [0.0, 0.0, 1.0, 1.0, 1.0, 1.0],  # all tied: rank 1 + 3/2
            [0.0, 0.0, 0.2, 0.4, 0.6, 0.8],  # target unseen in training (OOV id 1): a miss
        ]
    )
    ranks = target_ranks(scores, np.array([2, 5, 1]))
    assert ranks[0] == 2.0 and ranks[1] == 2.5 and np.isinf(ranks[2])


def test_ranking_metrics_hand_computed():
    ranks = np.array([1.0, 2.0, 11.0, np.inf])
    m = ranking_metrics(ranks, n_items=21, ks=(10,))
    assert m["hr_at_10"] == pytest.approx(0.5)
    assert m["ndcg_at_10"] == pytest.approx((1.0 + 1.0 / math.log2(3)) / 4)
    assert m["mrr_at_10"] == pytest.approx((1.0 + 0.5) / 4)
    # AUC: rank r among 21 items beats 21 - r of the 20 others; unknown target counts 0.5
    assert m["auc"] == pytest.approx((1.0 + 19 / 20 + 10 / 20 + 0.5) / 4)


def test_standard_errors_hand_computed():
    ranks = np.array([1.0, 3.0, 11.0, np.inf])  # hits: 1, 1, 0, 0
    se = standard_errors(ranks, ks=(10,))
    assert se["decisions"] == 4
    assert se["hr_at_10_se"] == pytest.approx(np.std([1, 1, 0, 0], ddof=1) / 2)
    assert se["ndcg_at_10_se"] == pytest.approx(np.std([1.0, 0.5, 0, 0], ddof=1) / 2)  # 1/log2(4) = 0.5
    assert se["mrr_at_10_se"] == pytest.approx(np.std([1.0, 1 / 3, 0, 0], ddof=1) / 2)
    assert math.isnan(standard_errors(np.array([1.0]))["ndcg_at_10_se"])  # one decision: no spread to measure
    assert "ndcg_at_10_se" not in ranking_metrics(ranks, 21)  # not a metric early stopping could monitor


def test_log_loss_known_value():
    assert log_loss(np.array([0.8, 0.3]), np.array([1, 0])) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)


def test_negatives_never_hit_the_target_and_stay_in_range():
    g = torch.Generator().manual_seed(0)
    target = torch.tensor([2, 3, 4] * 50)
    neg = sample_negatives(target, n_items=5, n_negatives=20, generator=g)
    assert neg.min() >= 2 and neg.max() <= 4
    assert not (neg == target[:, None]).any()


def test_losses_prefer_the_positive():
    good = torch.tensor([[5.0, -5.0, -5.0]])
    bad = torch.tensor([[-5.0, 5.0, 5.0]])
    for kind in ("bce", "softmax"):
        assert candidate_loss(good, kind) < candidate_loss(bad, kind)
    with pytest.raises(ValueError):
        candidate_loss(good, "hinge")


def test_log_loss_of_nothing_is_nan():
    assert math.isnan(log_loss(np.array([]), np.array([])))


def test_catalogue_loss_is_cross_entropy_over_trained_items_only():
    # Ids 0, 1 reserved; 2..4 trained; 5 catalogue-only (never a competitor, however high its logit).
    logits = torch.tensor([[9.0, 9.0, 1.0, 2.0, 0.0, 50.0], [9.0, 9.0, 0.0, 0.0, 3.0, 50.0]])
    target = torch.tensor([3, 4])
    got = catalogue_loss(logits, target, negatives_end=5)
    by_hand = [-(2.0 - math.log(math.exp(1) + math.exp(2) + 1)), -(3.0 - math.log(2 + math.exp(3)))]
    assert float(got) == pytest.approx(sum(by_hand) / 2, rel=1e-6)
    assert logits[0, 0] == 9.0  # the caller's logits are not changed


def test_extra_negatives_take_own_items_and_other_rows_targets_but_never_the_target():
    from neurec.train.loss import extra_negatives

    target = torch.tensor([5, 6, 7])
    sum_items = torch.tensor([[5, 9, 0], [8, 0, 0], [7, 7, 3]])  # 0 padding; the row's own target is no negative
    neg = extra_negatives(("history", "batch"), target, sum_items, n_batch=2)
    # history part, then the targets of the rows 1 and 2 before (cyclically)
    assert neg.tolist() == [[0, 9, 0, 7, 6], [8, 0, 0, 5, 7], [0, 0, 3, 6, 5]]
    assert extra_negatives(("batch",), target[:1], sum_items[:1], n_batch=4).shape == (1, 0)  # one row: no others
    with pytest.raises(ValueError, match="unknown extra negatives"):
        extra_negatives(("cart",), target, sum_items, 2)


def test_masked_columns_do_not_count_in_either_loss():
    logits = torch.tensor([[2.0, -1.0, 9.0, 0.5]])
    valid = torch.tensor([[True, True, False, True]])
    for kind in ("bce", "softmax"):
        assert candidate_loss(logits, kind, valid) == pytest.approx(candidate_loss(logits[:, [0, 1, 3]], kind).item())


def test_objective_with_extra_negatives_scores_them_and_trains(tmp_path):
    from neurec.models.purchase import PurchaseModel, PurchaseModelConfig
    from neurec.train.loss import Objective

    torch.manual_seed(0)
    model = PurchaseModel(PurchaseModelConfig(n_items=20, max_history=4, dim=8, n_heads=1, summary_size=3))
    inputs = [torch.tensor([[0, 2, 3, 4]] * 2), torch.tensor([[0, 1, 1, 3]] * 2), torch.tensor([[0, 1, 3, 3]] * 2),
              torch.tensor([[4, 3, 0]] * 2), torch.zeros(2, 3, 7)]
    target, neg = torch.tensor([4, 9]), torch.tensor([[10, 11], [12, 13]])
    plain = Objective(model, "bce", 20)(inputs, target, neg)
    both = Objective(model, "bce", 20, ("history", "batch"), n_batch=1)(inputs, target, neg)
    assert torch.isfinite(both) and both.item() != pytest.approx(plain.item())
    both.backward()
    assert model.item_emb.weight.grad[3].abs().sum() > 0  # the own item 3 was scored as a negative


def test_expected_bce_is_what_the_sampled_training_loss_averages_to():
    from neurec.train.evaluate import ExpectedBCE

    rng = np.random.default_rng(0)
    scores = np.zeros((1, 7))
    scores[0, 2:] = [1.5, -0.5, 0.3, 2.0, -1.0]  # ids 0, 1 reserved
    target = np.array([4])
    bce = ExpectedBCE(n_negatives=3)
    bce(scores, target)
    others = np.array([2, 3, 5, 6])
    draws = []
    for _ in range(4000):
        neg = rng.choice(others, size=3)
        logits = torch.tensor(scores[0, np.concatenate([target, neg])])[None]
        draws.append(candidate_loss(logits, "bce").item())
    assert bce.result() == pytest.approx(np.mean(draws), abs=0.01)
