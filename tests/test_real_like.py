"""The ReaL-like grids: 0.8 / 0.15 / 0.05 grids of 1 / 2 / 3 filled cells give about 1.22 distinct
labels per image, as ImageNet ReaL's 1.23; bad weights fail with one line; `describe` reports the
labels per image and the F1 of the two label-free predictions, checked against hand formulas."""
from __future__ import annotations

import numpy as np
import pytest

from milelib import data as datasets, experiments
from milelib.data import digit_splits, make_grids
from milelib.experiments import real_like

WEIGHTS = [0.8, 0.15, 0.05]

# Hand reasoning, classes taken as uniform over 10 (the embedded digits are close to it):
#   E[filled] = 1 * 0.8 + 2 * 0.15 + 3 * 0.05 = 1.25; repeated classes lower the distinct count:
#   2 cells: 2 - P(same) = 2 - 0.1 = 1.9; 3 cells: 10 (1 - 0.9^3) = 2.71 distinct on average, so
#   E|T| = 0.8 + 0.15 * 1.9 + 0.05 * 2.71 = 1.2205.
#   P(|T| = 1) = 0.8 + 0.15 * 0.1 + 0.05 * 0.01 = 0.8155, P(|T| = 3) = 0.05 * 0.9 * 0.8 = 0.036,
#   P(|T| = 2) = 1 - 0.8155 - 0.036 = 0.1485.
#   F1 of predicting all 10 classes: 2|T| / (10 + |T|), i.e. 2/11, 4/12, 6/13:
#       0.8155 * 0.1818 + 0.1485 * 0.3333 + 0.036 * 0.4615 = 0.2144 (2 * 1.23 / 11.23 = 0.219 by Jensen)
#   F1 of predicting the single label (always in T): 2 / (1 + |T|), i.e. 1, 2/3, 1/2:
#       0.8155 + 0.1485 * 2 / 3 + 0.036 / 2 = 0.9325
EXPECTED_SIZE, EXPECTED_ALL_F1, EXPECTED_SINGLE_F1 = 1.2205, 0.2144, 0.9325


@pytest.fixture(scope="module")
def digits():
    return digit_splits("embedded")["train"].resized(7)


@pytest.fixture(scope="module")
def grids(digits):
    return make_grids(digits, 20_000, seed=3, filled_cells=(1, 3), filled_weights=WEIGHTS)


def test_real_like_grids_have_about_1_22_labels_per_image(grids):
    filled = (grids.cells >= 0).sum(axis=1)
    sizes = grids.true_sets.sum(axis=1)
    # 20,000 grids: the standard error of a share near 0.8 is sqrt(0.16 / 20000) = 0.0028
    assert abs((filled == 1).mean() - 0.8) < 0.012
    assert abs((filled == 2).mean() - 0.15) < 0.01 and abs((filled == 3).mean() - 0.05) < 0.006
    assert filled.min() == 1 and filled.max() == 3  # never more than 3 filled cells
    assert (grids.cells[:, 4] >= 0).all()  # the centre is always filled
    assert 1.2 < sizes.mean() < 1.26 and abs(sizes.mean() - EXPECTED_SIZE) < 0.015
    assert (sizes <= filled).all() and (sizes >= 1).all()
    # the true set is exactly the classes of the filled cells, and the single label is one of them
    for i in range(200):
        assert set(np.flatnonzero(grids.true_sets[i])) == set(grids.cells[i][grids.cells[i] >= 0])
    assert grids.true_sets[np.arange(len(grids)), grids.labels].all()
    # blank cells are black: a 1-cell grid has pixels only in its centre (7x7 digits, 21x21 grids)
    one = np.flatnonzero(filled == 1)[:50]
    outside = grids.images[one].copy()
    outside[:, 7:14, 7:14] = 0
    assert outside.max() == 0
    # with 2 or 3 cells, the label is the centre's with probability 0.6, else another cell's
    many = filled > 1
    centre_share = (grids.cells[many, 4] == grids.labels[many]).mean()
    assert 0.6 - 0.03 < centre_share < 0.6 + 0.1 + 0.03  # 0.6, plus a repeat of the centre's class


@pytest.mark.parametrize("weights", [[0.8, 0.2], [0.8, 0.15, 0.05, 0.0], [0.9, 0.2, -0.1], [0, 0, 0]])
def test_bad_weights_fail_with_one_line(digits, weights):
    with pytest.raises(ValueError, match=r"filled_weights must hold 3 weights >= 0") as err:
        make_grids(digits, 10, seed=0, filled_cells=(1, 3), filled_weights=weights)
    assert "\n" not in str(err.value)


def test_a_scalar_weight_fails_with_one_line_value_error(digits):
    # one number instead of a list: the same ValueError, not a crash while formatting it
    with pytest.raises(ValueError, match=r"filled_weights must hold 3 weights >= 0") as err:
        make_grids(digits, 10, seed=0, filled_cells=(1, 3), filled_weights=0.5)
    assert "\n" not in str(err.value)


def test_weights_are_used():
    # weights [0, 0, 1]: every grid has all 3 cells filled
    small = digit_splits("embedded")["val"].resized(7)
    g = make_grids(small, 300, seed=0, filled_cells=(1, 3), filled_weights=[0, 0, 1])
    assert ((g.cells >= 0).sum(axis=1) == 3).all()


def test_describe_matches_hand_formulas_on_the_test_grids():
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {"data.test": 4_000})
    table = real_like.describe(cfg)
    test = datasets.build(cfg.data).splits["test"]
    sizes = test.true_sets.sum(axis=1).astype(float)
    assert test.true_sets[np.arange(len(sizes)), test.labels].all()  # the single label is in its set
    every_class = np.mean(2 * sizes / (10 + sizes))  # |pred| = 10, TP = |T|
    single = np.mean(2 / (1 + sizes))                 # |pred| = 1, TP = 1
    value = table["value"]
    assert value["distinct labels per image"] == pytest.approx(sizes.mean(), abs=5e-4)
    assert value["share of images with 2 or more labels"] == pytest.approx((sizes > 1).mean(), abs=5e-4)
    assert value["ReaL-F1 of predicting every class"] == pytest.approx(every_class, abs=5e-4)
    assert value["ReaL-F1 of predicting only the single label"] == pytest.approx(single, abs=5e-4)
    # and near the expectations worked out above (4,000 grids)
    assert abs(sizes.mean() - EXPECTED_SIZE) < 0.03
    assert abs(every_class - EXPECTED_ALL_F1) < 0.01 and abs(single - EXPECTED_SINGLE_F1) < 0.015
