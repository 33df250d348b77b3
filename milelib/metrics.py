"""Evaluation metrics for single-label and multi-label image classification.

These are the metrics of the MILe paper (section 4.1, "Metrics"): top-1 (and,
for WebVision, top-5) accuracy against the single training-style label, ReaL accuracy (Beyer et al.:
the top-1 prediction counts as correct if it is any of the true labels), the
per-image ReaL F1 of a thresholded predicted label set, together with its
precision, recall and label coverage (mean number of predicted labels per
image), plus threshold-free macro mAP.

Conventions (numpy only):
  * ``probs`` float [N, C]: per-class probabilities (softmax or sigmoid outputs).
  * ``labels`` int [N]: the single label of each image.
  * ``true_sets`` bool [N, C]: the multi-label truth (e.g. ReaL labels).
  * Every metric is a fraction in [0, 1], except coverage (labels per image).
  * Images whose true set is empty are left out of every metric that uses the
    true set (numerator and denominator); top-1 accuracy uses every image.
    If no image has a non-empty true set, those metrics are ``nan``.
  * The predicted set at threshold t is {argmax} united with {c : p_c > t}, so it
    is never empty; argmax ties go to the first index (``np.argmax``).
"""

import numpy as np

# Down to 1e-4: a model trained on single labels can rank well with small probabilities (an
# off-centre digit of Multi-MNIST is the label 5% of the time), and deserves its best threshold.
DEFAULT_CANDIDATES = np.unique(np.round(np.r_[np.geomspace(1e-4, 1e-2, 21), np.arange(0.01, 1.0, 0.01)], 6))


def _check(probs, labels=None, true_sets=None):
    """Convert inputs to arrays and raise a one-line ValueError on shape mismatch."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2:
        raise ValueError(f"probs must be 2-D [images, classes] but has shape {probs.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (probs.shape[0],):
            raise ValueError(f"labels has shape {labels.shape} but probs has shape {probs.shape}: "
                             f"expected labels of shape ({probs.shape[0]},), one per image")
    if true_sets is not None:
        true_sets = np.asarray(true_sets).astype(bool)
        if true_sets.shape != probs.shape:
            raise ValueError(f"true_sets has shape {true_sets.shape} but probs has shape "
                             f"{probs.shape}: both must be [images, classes]")
    return probs, labels, true_sets


def predicted_sets(probs, threshold):
    """Boolean [N, C] predicted label sets: the argmax plus every class with probability > threshold."""
    probs, _, _ = _check(probs)
    sets = probs > threshold
    sets[np.arange(len(probs)), probs.argmax(axis=1)] = True
    return sets


def top1_accuracy(probs, labels):
    """Share of all images whose argmax equals the single label."""
    probs, labels, _ = _check(probs, labels)
    if len(probs) == 0:
        return float("nan")
    return float(np.mean(probs.argmax(axis=1) == labels))


def topk_accuracy(probs, labels, k: int = 5):
    """Share of all images whose single label is among their k most probable classes (ties at the
    k-th probability count in the label's favour only if it is among the first k by index)."""
    probs, labels, _ = _check(probs, labels)
    if len(probs) == 0:
        return float("nan")
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


def real_accuracy(probs, true_sets):
    """ReaL accuracy: share of images (with a non-empty true set) whose argmax is in the true set."""
    probs, _, true_sets = _check(probs, true_sets=true_sets)
    keep = true_sets.any(axis=1)
    if not keep.any():
        return float("nan")
    hits = true_sets[np.arange(len(probs)), probs.argmax(axis=1)]
    return float(np.mean(hits[keep]))


def set_scores(pred_sets, true_sets):
    """Per-image precision TP/|pred|, recall TP/|true|, F1 2TP/(2TP+FP+FN) and coverage |pred|.

    Each is averaged over the images with a non-empty true set (a mean of
    per-image scores, so the mean F1 is not the F1 of the mean precision/recall).
    """
    pred = np.asarray(pred_sets).astype(bool)
    true = np.asarray(true_sets).astype(bool)
    if pred.ndim != 2 or pred.shape != true.shape:
        raise ValueError(f"pred_sets has shape {pred.shape} but true_sets has shape {true.shape}: "
                         f"both must be [images, classes]")
    keep = true.any(axis=1)
    if not keep.any():
        return {k: float("nan") for k in ("precision", "recall", "f1", "coverage")}
    pred, true = pred[keep], true[keep]
    tp = (pred & true).sum(axis=1)
    n_pred, n_true = pred.sum(axis=1), true.sum(axis=1)
    # 2TP + FP + FN == |pred| + |true| > 0; |pred| == 0 only for hand-made sets.
    precision = np.divide(tp, n_pred, out=np.zeros(len(tp)), where=n_pred > 0)
    return {
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(tp / n_true)),
        "f1": float(np.mean(2 * tp / (n_pred + n_true))),
        "coverage": float(np.mean(n_pred)),
    }


def real_f1(probs, true_sets, threshold):
    """ReaL-F1: mean per-image F1 of the predicted sets at ``threshold``."""
    probs, _, true_sets = _check(probs, true_sets=true_sets)
    return set_scores(predicted_sets(probs, threshold), true_sets)["f1"]


def _average_precision(scores, positives):
    """Non-interpolated AP (as sklearn's average_precision_score); tied scores form one threshold."""
    order = np.argsort(-scores, kind="stable")
    scores, positives = scores[order], positives[order]
    tp = np.cumsum(positives)
    fp = np.cumsum(~positives)
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]
    tp, fp = tp[last_of_tie], fp[last_of_tie]
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(probs, true_sets):
    """Macro mAP: mean over classes with at least one positive of the AP of ranking images by that class.

    Only images with a non-empty true set are ranked.
    """
    probs, _, true_sets = _check(probs, true_sets=true_sets)
    keep = true_sets.any(axis=1)
    probs, true_sets = probs[keep], true_sets[keep]
    aps = [_average_precision(probs[:, c], true_sets[:, c])
           for c in range(probs.shape[1]) if true_sets[:, c].any()]
    return float(np.mean(aps)) if aps else float("nan")


def best_threshold(probs, true_sets, candidates=None):
    """Return (threshold, f1): the candidate maximising mean F1; ties go to the smallest threshold.

    Choose the threshold on validation data, never on the test set, then pass it
    to ``evaluate(..., extra_threshold=...)`` on the test set.
    """
    probs, _, true_sets = _check(probs, true_sets=true_sets)
    candidates = DEFAULT_CANDIDATES if candidates is None else np.asarray(candidates, dtype=float)
    candidates = np.sort(candidates)
    f1s = np.array([real_f1(probs, true_sets, t) for t in candidates])
    if np.all(np.isnan(f1s)):
        return float(candidates[0]), float("nan")
    # A tiny tolerance so that equal F1s summed in a different order still tie.
    best = int(np.argmax(f1s >= np.nanmax(f1s) - 1e-12))
    return float(candidates[best]), float(f1s[best])


def scores(probs, labels, true_sets, thresholds=(0.25, 0.5), extra_threshold=None):
    """All metrics in one flat dict: accuracy, real_accuracy, map and f1/precision/recall/coverage@t.

    ``extra_threshold`` (chosen on validation data, e.g. by ``best_threshold``)
    adds the same four scores under "@best" and the value under "best_threshold".
    """
    probs, labels, true_sets = _check(probs, labels, true_sets)
    out = {
        "accuracy": top1_accuracy(probs, labels),
        "top5_accuracy": topk_accuracy(probs, labels, 5),
        "real_accuracy": real_accuracy(probs, true_sets),
        "map": mean_average_precision(probs, true_sets),
    }
    named = [(f"{t:g}", t) for t in thresholds]
    if extra_threshold is not None:
        named.append(("best", extra_threshold))
        out["best_threshold"] = float(extra_threshold)
    for name, t in named:
        for key, value in set_scores(predicted_sets(probs, t), true_sets).items():
            out[f"{key}@{name}"] = value
    return out
