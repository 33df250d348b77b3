"""MILe (section 3, Algorithm 1): teacher/student training, of which the distillations of Fig. 5
are the same schedule with other targets (the class `MILe` runs all three).

A cycle is `teacher_steps` (k_t) optimizer steps on the single labels, then `student_steps` (k_s)
steps on targets the teacher computes on the batch at hand. What the targets are is the method:

- `mile`: sigma(f_teacher(x)) > rho, learnt with binary cross-entropy (the teacher with BCE too);
- `hard_distillation`: the teacher's argmax, learnt with cross-entropy (the teacher with CE);
- `soft_distillation`: the teacher's softmax, learnt with KL divergence (the teacher with CE).

The schedule sets how many iterations there are: k_t + k_s = steps is one distillation round
("without iterated learning": one teacher phase, then one student phase); short cycles are
iterated learning. Two readings of who the teacher is (`variant`):

- "released" (the authors' code, the default): one network and one optimizer. After the k_t label
  steps a frozen copy becomes the teacher and the same network goes on for k_s imitation steps.
- "algorithm1" (the paper's Algorithm 1 read literally): at each cycle's start the teacher is
  copied from the student and trains k_t steps with an optimizer of its own (fresh momentum each
  cycle, since its weights are new); the student, which never took those steps, imitates it.

Either way the method takes exactly as many optimizer steps as the baselines: the only extra cost
is the teacher's forward pass during imitation.

Switches of the authors' released code (github.com/sorrowyn/MILe, models/iterative_real_k1k2.py,
named as they named them; off by default, so the method is the paper's MILe):
- `iterative_groundtruth`: the observed label OR-ed into every pseudo-label set;
- `sample_teacher` with `temperature` T: each target a Bernoulli sample with logit z / (T + 1e-5)
  instead of sigma(z) > rho (rho then unused; their T = 0 is a threshold at 0.5 in disguise);
- `warmup_steps`: label steps before the first cycle (their `warmup`, counted in epochs of k1
  iterations in their epoch-wise `fit`). Their `iterative_copy_weights` (the student restored to its
  weights from before the teacher's label steps) is our variant "algorithm1", with one optimizer
  there and two here; their `jump` (which epochs train the teacher) is our k_t : k_s schedule.

Semi-supervised (Table 4): when the data serve an unlabelled stream (`data.unlabelled`), label
steps read the labelled fraction and imitation steps every training image, its label unread. With
`teacher_run` (a finished run, any model: a wider teacher too) and k_t = 0, the teacher is that
run's network, fixed, and every step is imitation: plain distillation as SimCLR v2 does it (soft
targets: `soft_distillation`), or self-distillation when the teacher is the student's own size.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_weights
from ..config import added_later, check_choice
from ..models import copy_weights
from .base import Method, sgd_step
from .single_positive import bce

VARIANTS = ("released", "algorithm1")


@dataclass
class ScheduleSettings:
    """Settings of the teacher/student methods (hard and soft distillation; MILe adds rho)."""
    name: str = "hard_distillation"
    teacher_steps: int = 200        # k_t: label steps per cycle
    student_steps: int = 200        # k_s: imitation steps per cycle
    variant: str = "released"       # released: one network; algorithm1: teacher copied from student
    teacher_run: str | None = added_later(None, "run")  # a finished run's network as a fixed teacher (k_t = 0)
    warmup_steps: int = added_later(0)  # label steps before the first cycle (the authors' warmup)

    def __post_init__(self):
        check_choice("method.variant", self.variant, VARIANTS)
        if self.warmup_steps < 0 or self.teacher_run is not None and self.warmup_steps:
            raise ValueError(f"method.warmup_steps must be >= 0 (label steps before the first cycle), and 0 with a "
                             f"fixed method.teacher_run, got {self.warmup_steps}")
        if self.teacher_run is not None and self.teacher_steps != 0:
            raise ValueError(f"method.teacher_run is set, so the teacher is that run's network, fixed, and every step "
                             f"is imitation: set method.teacher_steps (k_t) to 0, not {self.teacher_steps}")
        if self.teacher_steps < (0 if self.teacher_run else 1) or self.student_steps < 1:
            raise ValueError(f"method.teacher_steps (k_t) and method.student_steps (k_s) must be >= 1, got "
                             f"{self.teacher_steps} and {self.student_steps} (k_t = 0 only with a fixed method.teacher_run)")

    def check(self, cfg) -> None:
        if self.warmup_steps + self.teacher_steps >= cfg.optim.steps:
            raise ValueError(f"method.warmup_steps + method.teacher_steps (k_t), {self.warmup_steps} + "
                             f"{self.teacher_steps}, >= optim.steps {cfg.optim.steps}: no imitation step would run, "
                             f"and a {self.name} result would be Sigmoid's or Softmax's; set them below optim.steps")


PSEUDO_LABELS = ("threshold", "soft")
NEGATIVES = ("assume", "weak")


@dataclass
class MileSettings(ScheduleSettings):
    """MILe's settings. Below rho: switches of the authors' released code, and two variants of ours
    beyond the paper (notebook 08); at their defaults the method is the paper's MILe."""
    name: str = "mile"
    rho: float = 0.25               # pseudo-label threshold; the paper's default (0.1 on Multi-MNIST)
    iterative_groundtruth: bool = added_later(False)  # the observed label is in every pseudo-label set (authors')
    sample_teacher: bool = added_later(False)    # targets sampled from the teacher, not thresholded (authors')
    temperature: float = added_later(1.0)        # the sampling's T; 1: Bernoulli(sigma(z)) (their config: 0)
    negatives: str = added_later("assume")       # (b) "weak": every negative target weighted 1/(C-1), as WAN
    pseudo_labels: str = added_later("threshold")  # (c) "soft": the teacher's probabilities, not thresholded
    renamed = {"keep_observed": "iterative_groundtruth"}  # an old name of the setting, for the unknown-setting hint

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"method.rho must lie in (0, 1), got {self.rho}: it thresholds sigmoid outputs")
        check_choice("method.negatives", self.negatives, NEGATIVES)
        check_choice("method.pseudo_labels", self.pseudo_labels, PSEUDO_LABELS)
        if not self.temperature >= 0:
            raise ValueError(f"method.temperature must be >= 0 (the teacher's logits are divided by T + 1e-5 "
                             f"before sampling), got {self.temperature}")
        if self.sample_teacher and self.pseudo_labels == "soft":
            raise ValueError("method.sample_teacher samples 0/1 targets and method.pseudo_labels=soft keeps the "
                             "teacher's probabilities: choose one")


@dataclass(frozen=True)
class Schedule:
    teacher_steps: int  # k_t
    student_steps: int  # k_s
    warmup_steps: int = 0  # label steps before the first cycle

    @property
    def cycle_length(self) -> int:
        return self.teacher_steps + self.student_steps

    def warming_up(self, step: int) -> bool:
        return step < self.warmup_steps

    def _in_cycle(self, step: int) -> int:
        return (step - self.warmup_steps) % self.cycle_length

    def phase(self, step: int) -> str:
        """'teacher' (label steps) or 'student' (imitation steps) for a 0-based global step."""
        return "teacher" if self.warming_up(step) or self._in_cycle(step) < self.teacher_steps else "student"

    def cycle(self, step: int) -> int:
        return (step - self.warmup_steps) // self.cycle_length

    def starts_cycle(self, step: int) -> bool:
        return not self.warming_up(step) and self._in_cycle(step) == 0

    def starts_imitation(self, step: int) -> bool:
        return not self.warming_up(step) and self._in_cycle(step) == self.teacher_steps

    def ends_imitation(self, step: int) -> bool:
        return not self.warming_up(step) and self._in_cycle(step) == self.cycle_length - 1


class Threshold:
    """MILe: multi-label targets sigma(f_teacher(x)) > rho, binary cross-entropy throughout.

    Settings of `mile` that the paper does not describe: the authors' released switches (a)
    `iterative_groundtruth`, the image's observed label added to its pseudo-label set (MILe can drop
    it otherwise), and `sample_teacher`, targets drawn as Bernoulli(sigma(z / (T + 1e-5))) with a
    generator seeded by (seed, step, rank), so a resumed run draws the same targets; and two variants
    of ours: (b) `negatives="weak"` weights every negative target 1/(C-1), in label and imitation
    steps alike, as WAN does (Cole et al. 2021); (c) `pseudo_labels="soft"`: the student learns the
    teacher's probabilities themselves. Reason for (c): mAP scores a ranking, and thresholding at rho
    turns the teacher's ranking into 0/1 ties the student cannot recover; soft targets keep it.
    """
    sigmoid_outputs = True

    def __init__(self, settings):
        self.rho, self.iterative_groundtruth = settings.rho, settings.iterative_groundtruth
        self.weak = settings.negatives == "weak"
        self.soft = settings.pseudo_labels == "soft"
        self.temperature = settings.temperature if settings.sample_teacher else None

    def _bce(self, logits, targets):
        return bce(logits, targets, 1.0 / (logits.shape[1] - 1) if self.weak else 1.0)

    def label_loss(self, logits, labels):
        return self._bce(logits, F.one_hot(labels, logits.shape[1]).float())

    def targets(self, teacher_logits, labels=None, generator=None):
        if self.temperature is not None:  # the authors' Bernoulli(logits=z / (T + 1e-5)).sample()
            targets = torch.bernoulli((teacher_logits / (self.temperature + 1e-5)).sigmoid(), generator=generator)
        else:
            p = teacher_logits.sigmoid()
            targets = p if self.soft else (p > self.rho).float()
        if self.iterative_groundtruth and labels is not None:
            seen = labels >= 0  # unlabelled images (label -1) have no observed label to keep
            targets[seen, labels[seen]] = 1.0
        return targets

    def imitation_loss(self, logits, targets):
        return self._bce(logits, targets)

    def probabilities(self, logits):
        return logits.sigmoid()

    def sets(self, targets):
        return targets > (self.rho if self.soft else 0.5)


class Argmax:
    """Hard distillation: the teacher's top class, cross-entropy throughout."""
    sigmoid_outputs = False

    def __init__(self, settings):
        pass

    def label_loss(self, logits, labels):
        return F.cross_entropy(logits, labels)

    def targets(self, teacher_logits, labels=None, generator=None):
        return teacher_logits.argmax(dim=1)

    def imitation_loss(self, logits, targets):
        return F.cross_entropy(logits, targets)

    def probabilities(self, logits):
        return logits.softmax(dim=1)

    def sets(self, targets):
        return None


class SoftTargets(Argmax):
    """Soft distillation: the teacher's softmax, learnt with KL(teacher || student)."""

    def targets(self, teacher_logits, labels=None, generator=None):
        return teacher_logits.softmax(dim=1)

    def imitation_loss(self, logits, targets):
        return F.kl_div(logits.log_softmax(dim=1), targets, reduction="batchmean")


TARGETS = {"mile": Threshold, "hard_distillation": Argmax, "soft_distillation": SoftTargets}


class PseudoLabelStats:
    """Per cycle: the shares of images whose pseudo-label set is empty or holds every class (the
    two ways MILe collapses), and the mean set size. A small k_t with a high rho can make the
    teacher emit empty sets; this makes it visible instead of hiding it."""

    def __init__(self):
        self.images = 0
        self.empty = 0
        self.full = 0
        self.labels = 0

    def add(self, sets) -> None:
        sizes = sets.sum(dim=1)
        self.images += sizes.numel()
        self.empty += (sizes == 0).sum()  # stays on the device: no sync per step on a GPU
        self.full += (sizes == sets.shape[1]).sum()
        self.labels += sizes.sum()

    def summary(self) -> dict:
        n = max(self.images, 1)
        return {"empty_share": float(self.empty) / n, "full_share": float(self.full) / n,
                "mean_set_size": float(self.labels) / n}


class MILe(Method):
    def __init__(self, cfg, parts):
        s = cfg.method
        self.target = TARGETS[s.name](s)  # first: it says whether the nets end in sigmoids
        super().__init__(cfg, parts)  # self.net is the student: the only network of "released"
        self.schedule = Schedule(s.teacher_steps, s.student_steps, s.warmup_steps)
        self.released = s.variant == "released"
        self.teacher, self.teacher_opt = None, None
        self.fixed = s.teacher_run is not None
        if self.fixed:
            self.teacher = fixed_teacher(s.teacher_run, parts)
        elif not self.released:
            self.teacher = self.new_net()
            self.teacher_opt = parts.new_optimizer(self.teacher)
        self.stats, self.cycles = PseudoLabelStats(), []

    @property
    def sigmoid_outputs(self):
        return self.target.sigmoid_outputs

    def phase(self, step):
        return self.schedule.phase(step)

    def probabilities(self, logits):
        return self.target.probabilities(logits)

    def stream(self, step):
        """Imitation reads every training image when the data serve them unlabelled; label steps the
        labelled fraction."""
        return "unlabelled" if self.parts.unlabelled and self.schedule.phase(step) == "student" else "labelled"

    def step(self, batch, step, lr):
        if self.schedule.phase(step) == "teacher":
            learner, opt = self.net, self.opt
            if not self.released and not self.schedule.warming_up(step):  # Algorithm 1: the teacher, copied
                # from the student, takes the label steps (the warm-up's are the student's own)
                if self.schedule.starts_cycle(step):
                    copy_weights(self.teacher, self.net)
                    self.teacher_opt.state.clear()
                learner, opt = self.teacher, self.teacher_opt
            self.counts["label_steps"] += 1
            return sgd_step(learner, opt, batch.x, self.scaled(lambda z: self.target.label_loss(z, batch.y)), self.parts, lr)

        if self.released and not self.fixed and self.schedule.starts_imitation(step):
            self.teacher = copy.deepcopy(self.net).eval()  # frozen copy after the k_t label steps
        targets = self.pseudo_labels(batch.x, batch.y, step)
        sets = self.target.sets(targets)
        if sets is not None:
            self.stats.add(sets)
        self.counts["imitation_steps"] += 1
        loss = sgd_step(self.net, self.opt, batch.x, self.scaled(lambda z: self.target.imitation_loss(z, targets)),
                        self.parts, lr)
        if self.schedule.ends_imitation(step):
            self.cycles.append({"cycle": self.schedule.cycle(step), "step": step + 1,
                                **(self.stats.summary() if sets is not None else {})})
            self.stats = PseudoLabelStats()
            if self.released and not self.fixed:
                self.teacher = None  # the next teacher is copied at the next imitation phase
        return loss

    def pseudo_labels(self, x, labels=None, step: int = 0):
        """The teacher's targets for batch x (labels: the observed ones, -1 where unlabelled),
        computed without autograd; a plain tensor (not an inference-mode one), so it may serve as a
        training target. Sampled targets draw from a generator seeded by (seed, step, rank)."""
        if self.teacher.training:  # as in sgd_step: .eval() walks every module
            self.teacher.eval()
        with torch.inference_mode(), self.parts.autocast():
            logits = self.teacher(x).float()
        generator = None
        if getattr(self.target, "temperature", None) is not None:
            seed = np.random.SeedSequence([self.cfg.seed, step, self.parts.world.rank]).generate_state(1)[0]
            generator = torch.Generator(device=logits.device).manual_seed(int(seed))
        return self.target.targets(logits.clone(), labels, generator)

    def summary(self):
        out = dict(self.counts)
        if self.cycles and "empty_share" in self.cycles[-1]:
            out.update({f"final_{k}": self.cycles[-1][k] for k in ("empty_share", "full_share", "mean_set_size")})
        return out

    def log_rows(self):
        return self.cycles

    def state_dict(self):
        return {**super().state_dict(), "cycles": self.cycles,
                "stats": {k: int(v) for k, v in vars(self.stats).items()},
                "teacher": None if self.teacher is None or self.fixed else self.teacher.state_dict(),
                "teacher_opt": None if self.teacher_opt is None else self.teacher_opt.state_dict()}

    def load_state_dict(self, state, path):
        super().load_state_dict(state, path)
        if state["teacher"] is not None:  # algorithm1's teacher, or released's frozen copy mid-imitation
            if self.teacher is None:
                self.teacher = self.new_net()
            load_weights(self.teacher, state["teacher"], path)
        if state["teacher_opt"] is not None:
            self.teacher_opt.load_state_dict(state["teacher_opt"])
        self.cycles = list(state["cycles"])
        vars(self.stats).update(state["stats"])


def fixed_teacher(run_dir, parts):
    """A finished run's network, in evaluation mode on this run's device: the fixed teacher of
    distillation. Its model may differ from the student's (a wider one); its classes may not."""
    from ..store import finished_hash

    finished_hash(run_dir)  # one line if the run has not finished
    method, cfg = parts.load_run(run_dir)  # lent by the loop, which imports the methods
    if method.parts.num_classes != parts.num_classes:
        raise ValueError(f"teacher run {run_dir} predicts {method.parts.num_classes} classes, this run's data have "
                         f"{parts.num_classes}: a teacher must be trained on the same classes")
    for p in method.eval_net.parameters():
        p.requires_grad_(False)
    return method.eval_net.eval()
