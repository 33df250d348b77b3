"""MILe (section 3, Algorithm 1): the teacher/student schedule, pseudo-labels and the losses.

A cycle is `teacher_steps` (k_t) optimizer steps on the single labels, then `student_steps` (k_s)
steps on the teacher's thresholded outputs, sigma(f_teacher(x)) > rho, computed on the batch at
hand. Two readings exist and both are built (`TrainConfig.mile_variant`):

- "released" (the authors' code, the default): one network and one optimizer. After the k_t label
  steps a frozen copy becomes the teacher and the same network goes on for k_s imitation steps.
- "algorithm1" (the paper's Algorithm 1 read literally): at each cycle's start the teacher is
  copied from the student and trains k_t steps with an optimizer of its own (fresh momentum each
  cycle, since its weights are new); the student, which never took those steps, imitates it.

Either way MILe takes exactly as many optimizer steps as the baselines: the only extra cost is
the teacher's forward pass during imitation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MileSchedule:
    teacher_steps: int  # k_t
    student_steps: int  # k_s

    @property
    def cycle_length(self) -> int:
        return self.teacher_steps + self.student_steps

    def phase(self, step: int) -> str:
        """'teacher' (label steps) or 'student' (imitation steps) for a 0-based global step."""
        return "teacher" if step % self.cycle_length < self.teacher_steps else "student"

    def cycle(self, step: int) -> int:
        return step // self.cycle_length

    def starts_cycle(self, step: int) -> bool:
        return step % self.cycle_length == 0

    def starts_imitation(self, step: int) -> bool:
        return step % self.cycle_length == self.teacher_steps

    def ends_imitation(self, step: int) -> bool:
        return step % self.cycle_length == self.cycle_length - 1


def label_loss(method: str, logits, labels, true_sets):
    """The supervised loss of each method: CE for softmax, BCE (eq. 1) on one-hot labels for
    sigmoid and MILe's teacher, BCE on the full true sets for the multi-label oracle."""
    if method == "softmax":
        return F.cross_entropy(logits, labels)
    if method == "oracle":
        return F.binary_cross_entropy_with_logits(logits, true_sets.float())
    return F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, logits.shape[1]).float())


def imitation_loss(logits, pseudo_labels):
    return F.binary_cross_entropy_with_logits(logits, pseudo_labels.float())


def probabilities(method: str, logits):
    """What each method's outputs mean as per-class probabilities."""
    return logits.softmax(dim=1) if method == "softmax" else logits.sigmoid()


def pseudo_labels(teacher, x, rho: float):
    """sigma(f_teacher(x)) > rho, computed without autograd. Returns a bool [B, C] tensor that
    may be used as a training target (a plain tensor, not an inference-mode one)."""
    with torch.inference_mode():
        targets = teacher(x).float().sigmoid() > rho
    return targets.clone()


class PseudoLabelStats:
    """Per cycle: the share of images whose pseudo-label set is empty, and the mean set size.

    A small k_t with a high rho can make the teacher emit empty sets and the run collapse; this
    makes that visible instead of hiding it.
    """

    def __init__(self):
        self.images = 0
        self.empty = 0
        self.labels = 0

    def add(self, targets) -> None:
        sizes = targets.sum(dim=1)
        self.images += sizes.numel()
        self.empty += (sizes == 0).sum()  # stays on the device: no sync per step on a GPU
        self.labels += sizes.sum()

    def summary(self) -> dict:
        n = max(self.images, 1)
        return {"empty_share": float(self.empty) / n, "mean_set_size": float(self.labels) / n}
