"""Hand-computed checks for milelib.metrics."""

import math

import numpy as np
import pytest

from milelib.metrics import (
    best_threshold,
    scores,
    mean_average_precision,
    predicted_sets,
    real_accuracy,
    real_f1,
    set_scores,
    top1_accuracy,
    topk_accuracy,
)


def sets(n_classes, *members):
    """Bool [N, C] array from per-image lists of class indices."""
    out = np.zeros((len(members), n_classes), dtype=bool)
    for i, m in enumerate(members):
        out[i, list(m)] = True
    return out


# ---------------------------------------------------------------- predicted_sets

def test_predicted_sets_always_contains_argmax():
    # Image 0: max 0.4 is below t=0.6, but the argmax (class 0) is still predicted.
    # Image 1: 0.7 > 0.6 -> {1}; 0.2 is not -> nothing else.
    probs = [[0.4, 0.3, 0.3], [0.1, 0.7, 0.2]]
    np.testing.assert_array_equal(predicted_sets(probs, 0.6), sets(3, [0], [1]))


def test_predicted_sets_strictly_greater_and_first_argmax_on_ties():
    probs = [[0.5, 0.5, 0.0], [0.1, 0.7, 0.2]]
    # t=0.5: image 0 ties -> argmax is class 0; class 1 (0.5) is not > 0.5.
    #        image 1: only the argmax.
    np.testing.assert_array_equal(predicted_sets(probs, 0.5), sets(3, [0], [1]))
    # t=0.2: 0.2 is not > 0.2, so image 1 stays {1}; image 0 gets both 0.5s.
    np.testing.assert_array_equal(predicted_sets(probs, 0.2), sets(3, [0, 1], [1]))
    # t=0.19: now 0.2 > 0.19.
    np.testing.assert_array_equal(predicted_sets(probs, 0.19), sets(3, [0, 1], [1, 2]))


# ------------------------------------------------------ top-1 vs ReaL accuracy

# argmax per image: 0, 1, 2, 0
ACC_PROBS = np.array([
    [0.6, 0.3, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.3, 0.6],
    [0.5, 0.4, 0.1],
])
ACC_LABELS = np.array([0, 0, 2, 1])
ACC_TRUE = sets(3, [0, 1], [0, 1], [1], [0])


def test_top1_and_real_accuracy_differ():
    # top-1: argmax == label -> yes, no, yes, no = 2/4
    assert top1_accuracy(ACC_PROBS, ACC_LABELS) == pytest.approx(2 / 4)
    # ReaL: argmax in true set -> 0 in {0,1} yes, 1 in {0,1} yes, 2 in {1} no, 0 in {0} yes = 3/4
    assert real_accuracy(ACC_PROBS, ACC_TRUE) == pytest.approx(3 / 4)


def test_empty_true_set_excluded_from_real_but_counted_by_top1():
    # Add image 4: argmax 2, label 2 (a top-1 hit), empty true set.
    probs = np.vstack([ACC_PROBS, [0.1, 0.2, 0.7]])
    labels = np.r_[ACC_LABELS, 2]
    true = np.vstack([ACC_TRUE, np.zeros(3, dtype=bool)])
    # top-1 counts it: 3/5 (not 2/4).
    assert top1_accuracy(probs, labels) == pytest.approx(3 / 5)
    # ReaL leaves it out: still 3/4 (a miss in the denominator would give 3/5).
    assert real_accuracy(probs, true) == pytest.approx(3 / 4)
    assert real_accuracy(probs, true) == real_accuracy(ACC_PROBS, ACC_TRUE)


# ------------------------------------------------------------------ set_scores

SET_PRED = sets(4, [0], [0, 1, 2], [3])
SET_TRUE = sets(4, [0, 1], [1], [2])
# image 0: pred {0},     true {0,1}: TP1 FP0 FN1 -> P 1,   R 1/2, F1 2/3,       |pred| 1
# image 1: pred {0,1,2}, true {1}:   TP1 FP2 FN0 -> P 1/3, R 1,   F1 2/4 = 1/2, |pred| 3
# image 2: pred {3},     true {2}:   TP0 FP1 FN1 -> P 0,   R 0,   F1 0,         |pred| 1
# means: P (1 + 1/3 + 0)/3 = 4/9, R (1/2 + 1 + 0)/3 = 1/2,
#        F1 (2/3 + 1/2 + 0)/3 = 7/18, coverage 5/3
SET_EXPECTED = {"precision": 4 / 9, "recall": 1 / 2, "f1": 7 / 18, "coverage": 5 / 3}


def test_set_scores_per_image_average():
    scores = set_scores(SET_PRED, SET_TRUE)
    assert scores == pytest.approx(SET_EXPECTED)
    # Mean of per-image F1 is not the F1 of the means: 2*(4/9)*(1/2)/(4/9+1/2) = 8/17.
    p, r = scores["precision"], scores["recall"]
    assert 2 * p * r / (p + r) == pytest.approx(8 / 17)
    assert scores["f1"] != pytest.approx(8 / 17)


def test_set_scores_ignore_image_with_empty_true_set():
    # An extra image predicting 4 labels with no truth would change every score if counted.
    pred = np.vstack([SET_PRED, np.ones(4, dtype=bool)])
    true = np.vstack([SET_TRUE, np.zeros(4, dtype=bool)])
    assert set_scores(pred, true) == pytest.approx(SET_EXPECTED)


def test_real_f1_via_thresholds():
    # probs chosen so that predicted_sets(probs, 0.5) == SET_PRED above.
    probs = np.array([
        [0.9, 0.1, 0.1, 0.1],
        [0.9, 0.8, 0.6, 0.1],
        [0.1, 0.2, 0.3, 0.4],  # argmax 3, below threshold
    ])
    np.testing.assert_array_equal(predicted_sets(probs, 0.5), SET_PRED)
    assert real_f1(probs, SET_TRUE, 0.5) == pytest.approx(7 / 18)
    # Empty-true-set image left out: same value with and without it.
    probs5 = np.vstack([probs, [0.9, 0.9, 0.9, 0.9]])
    true5 = np.vstack([SET_TRUE, np.zeros(4, dtype=bool)])
    assert real_f1(probs5, true5, 0.5) == pytest.approx(7 / 18)


def test_multi_mnist_predicting_everything_games_f1():
    # Every image has 6 of 10 digits; predicting all 10 classes:
    # TP 6, FP 4, FN 0 -> P 6/10, R 1, F1 12/(12+4) = 0.75, coverage 10.
    true = sets(10, range(6), range(4, 10), [0, 2, 4, 5, 7, 9])
    everything = np.full((3, 10), 0.9)
    scores = set_scores(predicted_sets(everything, 0.5), true)
    assert scores == pytest.approx({"precision": 0.6, "recall": 1.0, "f1": 0.75, "coverage": 10})
    # A cautious model predicting one correct digit per image has perfect precision
    # but F1 2/(2+0+5) = 2/7: F1 alone rewards the useless all-classes answer,
    # which is why coverage is reported next to it.
    one_right = sets(10, [0], [4], [0])
    cautious = set_scores(one_right, true)
    assert cautious == pytest.approx({"precision": 1.0, "recall": 1 / 6, "f1": 2 / 7, "coverage": 1})
    assert scores["f1"] > cautious["f1"]


# ---------------------------------------------------------------------- mAP

MAP_PROBS = np.array([
    # class 0  class 1  class 2
    [0.9, 0.3, 0.5],
    [0.8, 0.6, 0.5],
    [0.8, 0.2, 0.5],
    [0.1, 0.7, 0.5],
])
MAP_TRUE = sets(3, [0], [0], [1], [1])
# Class 0: scores 0.9(+) 0.8(+) 0.8(-) 0.1(-). The two 0.8s are one threshold:
#   t=0.9: TP1 FP0 -> P 1,   R 1/2
#   t=0.8: TP2 FP1 -> P 2/3, R 1
#   AP = 1/2*1 + 1/2*2/3 = 5/6   (breaking the tie "positive first" would give 1)
# Class 1: scores 0.7(+) 0.6(-) 0.3(-) 0.2(+):
#   t=0.7: P 1, R 1/2;  t=0.6: P 1/2, R 1/2;  t=0.3: P 1/3, R 1/2;  t=0.2: P 2/4, R 1
#   AP = 1/2*1 + 1/2*1/2 = 3/4
# Class 2: no positive -> excluded.
# mAP = (5/6 + 3/4)/2 = 19/24
MAP_EXPECTED = 19 / 24


def test_mean_average_precision_hand_case():
    assert mean_average_precision(MAP_PROBS, MAP_TRUE) == pytest.approx(MAP_EXPECTED)


def test_mean_average_precision_ignores_empty_true_set_images():
    # This image would be a top-scored negative for class 0 and class 1 if counted.
    probs = np.vstack([MAP_PROBS, [0.95, 0.95, 0.5]])
    true = np.vstack([MAP_TRUE, np.zeros(3, dtype=bool)])
    assert mean_average_precision(probs, true) == pytest.approx(MAP_EXPECTED)


def test_mean_average_precision_perfect_ranking():
    true = sets(3, [0], [0, 1], [2], [1])
    probs = np.where(true, 0.9, 0.1) + np.linspace(0, 0.05, 12).reshape(4, 3)
    assert mean_average_precision(probs, true) == pytest.approx(1.0)


def test_mean_average_precision_matches_sklearn():
    from sklearn import metrics as sklearn_metrics  # installed with mlxtend; the library does not use it
    rng = np.random.default_rng(0)
    probs = np.round(rng.random((40, 5)), 1)  # rounding creates many ties
    true = rng.random((40, 5)) < 0.3
    true[:, 0] = False  # a class with no positive
    keep = true.any(axis=1)
    expected = np.mean([sklearn_metrics.average_precision_score(true[keep, c], probs[keep, c])
                        for c in range(1, 5)])
    assert mean_average_precision(probs, true) == pytest.approx(expected)


# ------------------------------------------------------------ best_threshold

BT_PROBS = [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1]]
BT_TRUE = sets(3, [0, 1], [0])
# t=0.2:  image 0 pred {0,1} F1 1;   image 1 pred {0,1} F1 2/3 -> mean 5/6
# t=0.35: image 0 pred {0}   F1 2/3; image 1 pred {0,1} F1 2/3 -> mean 2/3
# t=0.5:  image 0 pred {0}   F1 2/3; image 1 pred {0} (0.5 not > 0.5) F1 1 -> mean 5/6


def test_best_threshold_picks_best_candidate():
    assert best_threshold(BT_PROBS, BT_TRUE, [0.35, 0.5]) == pytest.approx((0.5, 5 / 6))


def test_best_threshold_ties_go_to_smallest():
    # 0.2 and 0.5 both give 5/6; the smaller wins whatever the candidate order.
    assert best_threshold(BT_PROBS, BT_TRUE, [0.2, 0.35, 0.5]) == pytest.approx((0.2, 5 / 6))
    assert best_threshold(BT_PROBS, BT_TRUE, [0.5, 0.35, 0.2]) == pytest.approx((0.2, 5 / 6))


def test_best_threshold_default_candidates():
    # t in [0.01, 0.09]: 0.1 > t, so both images predict {0,1,2}:
    #   image 0 TP2 FP1 -> F1 4/5; image 1 TP1 FP2 -> F1 2/4 -> mean 13/20.
    # t in [0.10, 0.29]: same sets as t=0.2 -> 5/6 (best; 0.5-0.59 ties but is larger).
    assert best_threshold(BT_PROBS, BT_TRUE) == pytest.approx((0.1, 5 / 6))
    assert real_f1(BT_PROBS, BT_TRUE, 0.05) == pytest.approx(13 / 20)


# ------------------------------------------------------------------ scores

def test_topk_accuracy_by_hand():
    probs = np.array([[0.10, 0.20, 0.30, 0.40],   # ranks 3, 2, 1, 0
                      [0.40, 0.30, 0.20, 0.10],   # ranks 0, 1, 2, 3
                      [0.25, 0.25, 0.25, 0.25]])  # a tie: the first k by index
    labels = np.array([1, 3, 1])
    # k=2: image 0's top two are {3, 2}: label 1 out; image 1's {0, 1}: 3 out; image 2's {0, 1}: 1 in -> 1/3
    assert topk_accuracy(probs, labels, 2) == pytest.approx(1 / 3)
    # k=3: {3, 2, 1} holds 1; {0, 1, 2} lacks 3; {0, 1, 2} holds 1 -> 2/3
    assert topk_accuracy(probs, labels, 3) == pytest.approx(2 / 3)
    assert topk_accuracy(probs, labels, 4) == 1.0 and topk_accuracy(probs, labels, 9) == 1.0  # k beyond C: all
    assert topk_accuracy(probs, labels, 1) == top1_accuracy(probs, labels)


def test_scores_keys_and_values():
    result = scores(ACC_PROBS, ACC_LABELS, ACC_TRUE)
    per_t = [f"{m}@{t}" for t in ("0.25", "0.5") for m in ("f1", "precision", "recall", "coverage")]
    assert set(result) == {"accuracy", "top5_accuracy", "real_accuracy", "map", *per_t}
    assert result["accuracy"] == pytest.approx(1 / 2)
    assert result["real_accuracy"] == pytest.approx(3 / 4)
    # t=0.5: predicted sets are the argmaxes {0},{1},{2},{0}; true {0,1},{0,1},{1},{0}
    #   per-image F1 2/3, 2/3, 0, 1 -> 7/12; coverage 1.
    assert result["f1@0.5"] == pytest.approx(7 / 12)
    assert result["coverage@0.5"] == pytest.approx(1.0)
    # t=0.25: sets {0,1},{0,1},{1,2},{0,1}: F1 1, 1, 2/3, 2/3 -> 5/6; coverage 2.
    assert result["f1@0.25"] == pytest.approx(5 / 6)
    assert result["coverage@0.25"] == pytest.approx(2.0)


def test_scores_extra_threshold():
    result = scores(ACC_PROBS, ACC_LABELS, ACC_TRUE, thresholds=(0.5,), extra_threshold=0.25)
    assert set(result) == {"accuracy", "top5_accuracy", "real_accuracy", "map", "best_threshold",
                           "f1@0.5", "precision@0.5", "recall@0.5", "coverage@0.5",
                           "f1@best", "precision@best", "recall@best", "coverage@best"}
    assert result["best_threshold"] == 0.25
    assert result["f1@best"] == pytest.approx(5 / 6)


def test_scores_shape_errors_are_one_clear_line():
    probs = np.full((4, 10), 0.1)
    with pytest.raises(ValueError) as err:
        scores(probs, np.zeros(4, dtype=int), np.zeros((4, 9), dtype=bool))
    message = str(err.value)
    assert "\n" not in message
    assert "(4, 9)" in message and "(4, 10)" in message
    with pytest.raises(ValueError, match=r"labels has shape \(3,\).*\(4, 10\)"):
        scores(probs, np.zeros(3, dtype=int), np.zeros((4, 10), dtype=bool))
    with pytest.raises(ValueError, match=r"probs must be 2-D.*\(10,\)"):
        scores(np.full(10, 0.1), np.zeros(1, dtype=int), np.zeros((1, 10), dtype=bool))


# ------------------------------------------------------------ all-empty truth

def test_all_empty_true_sets_give_nan():
    probs = ACC_PROBS
    empty = np.zeros_like(ACC_TRUE)
    assert math.isnan(real_accuracy(probs, empty))
    assert math.isnan(real_f1(probs, empty, 0.5))
    assert math.isnan(mean_average_precision(probs, empty))
    assert all(math.isnan(v) for v in set_scores(predicted_sets(probs, 0.5), empty).values())
    result = scores(probs, ACC_LABELS, empty)
    assert result["accuracy"] == pytest.approx(1 / 2)  # still defined
    assert math.isnan(result["map"]) and math.isnan(result["f1@0.25"])
