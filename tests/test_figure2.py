"""Figure 2's rule: the test grids where Sigmoid's and MILe's predicted sets differ most."""
import numpy as np

from milelib import experiments
from milelib.experiments import multi_mnist

EXP = experiments.get("imagenet_fractions").EXPERIMENT


def test_figure2_shows_the_grids_where_the_two_sets_differ_most(monkeypatch):
    base = EXP.config("smoke")
    n = len(multi_mnist.datasets.build(base.data).raw["test"])
    a = np.full((n, 10), 0.1)
    a[:, 0] = 0.9  # run a: {0} everywhere
    b = a.copy()
    b[[5, 9], 1:4] = 0.8   # three classes apart on grids 5 and 9
    b[[2, 7, 11], 4] = 0.8  # one class apart on grids 2, 7 and 11
    probs = {"a": a, "b": b}
    monkeypatch.setattr(multi_mnist, "load_run", lambda run_dir: (type("M", (), {"eval_net": run_dir,
                                                                                 "probabilities": None})(), None))
    monkeypatch.setattr(multi_mnist, "predict", lambda net, *args: probs[net])
    grids, sets = multi_mnist.example_predictions({"a": "a", "b": "b"}, base, n=3, differ=("a", "b"))
    apart = (sets["a"] != sets["b"]).sum(axis=1)
    assert sorted(apart.tolist()) == [1, 3, 3] and len(grids.labels) == 3
    test = multi_mnist.datasets.build(base.data).raw["test"]
    chosen = [i for i in range(n) if any(np.array_equal(test.images[i], g) for g in grids.images)]
    assert {5, 9} <= set(chosen) and len(set(chosen) & {2, 7, 11}) == 1
    again = multi_mnist.example_predictions({"a": "a", "b": "b"}, base, n=3, differ=("a", "b"))[0]
    assert np.array_equal(again.images, grids.images)  # the draw among equals is fixed by the seed
