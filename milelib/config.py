"""One run's settings: `RunConfig` = data + model + method + optim + run parts, plus the seed.

- `data` and `method` are the settings dataclass of a registered dataset or method, picked by
  their `name` (the lists are in `milelib/data/__init__.py` and `milelib/methods/__init__.py`).
- Dotted overrides: `cfg.override({"method.rho": 0.1, "optim.steps": 800, "seed": 1})`. Naming a
  part alone, `{"method": "sigmoid"}`, switches it to that entry with that entry's defaults; naming
  the entry already chosen changes nothing.
- `to_dict()` / `from_dict()` round-trip through plain types (JSON files, checkpoints).
- `config_hash()` covers every setting that changes results; the `run` part (where files go, the
  device, threads, compilation, workers, progress, logging and checkpoint cadence) does not count,
  so a stopped run may resume with other such settings, and two notebooks share the runs they both
  need. Nor does a setting marked `not_hashed` (`data.decoder`: how files are decoded, not what).

Experiments (profiles, methods, the paper's numbers, claims) live in `milelib/experiments/`.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .registry import DATASETS, METHODS

MODELS = ("small_cnn", "resnet18", "resnet50", "resnet50d")
NORMS = ("batch", "group")
HEADS = ("linear", "cam")
PARTS = ("data", "model", "method", "optim", "run")
SWITCHABLE = {"data": DATASETS, "method": METHODS}  # parts chosen by name from a registry
NAMED = ("data", "model", "method")  # parts with a name: naming one alone switches it
BCE_REDUCTIONS = ("mean", "sum")


def check_choice(what: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}: choose one of {', '.join(map(str, valid))}")


def check_positive(part: str, **values) -> None:
    bad = {k: v for k, v in values.items() if v < 1}
    if bad:
        raise ValueError(f"{', '.join(f'{part}.{k}' for k in bad)} must be >= 1, got "
                         f"{', '.join(str(v) for v in bad.values())}")


def added_later(default, identity: str | None = None):
    """A setting added after runs were stored: left out of the config hash while at its default,
    so every run stored before it keeps its hash (and is read back, not trained again).

    `identity` hashes a path by what it holds rather than by where it lies: "file" by the file's
    SHA-256 (a checkpoint to start from), "run" by the config hash of the finished run in that
    folder (a teacher). A run store can then move, and a retrained file makes a new run."""
    return field(default=default, metadata={"hash_when_set": True, "identity": identity})


def not_hashed(default):
    """A setting of how a run computes, not of what: out of the config hash whatever its value, as
    the run part is, so a run stored under one value is read back under another. Only for settings
    under which a run's numbers are the same (data.decoder: the same pixels, tests/test_decoders.py);
    the run records the value in its facts, and a resume under another one warns (training.py)."""
    return field(default=default, metadata={"hashed": False})


def hashed_as(default, value):
    """A setting of what a run does with trouble, not of what it computes: hashed as `value` whatever
    its own value, so that switching it resumes a stopped run instead of starting it over. Only for
    settings under which every run that completes under `value` gives the same numbers under the
    others (data.bad_images: on readable data, every choice gives the same batches)."""
    return field(default=default, metadata={"hash_as": value})


def _identity(kind: str, path: str) -> str:
    if kind == "file":
        from .pretrained import digest

        return digest(path)
    from .store import finished_hash

    return finished_hash(path)


@dataclass
class ModelConfig:
    name: str = "small_cnn"  # small_cnn | resnet18 | resnet50 (torchvision) | resnet50d (timm)
    width: int = 16          # small_cnn's channels in its first block (then 2x, 4x)
    norm: str = "batch"      # batch | group: group norm's statistics are per image, so they do not
                             # depend on how a batch is split across processes (torchrun)
    pretrained: str | None = added_later(None, "file")  # a self-supervised checkpoint to start from (pretrained.py)
    pretrained_format: str = added_later("auto")  # auto | torchvision | moco | simclr | byol | swav
    head: str = added_later("linear")  # linear | cam: class maps by a 1x1 conv, then their mean (models.CAMHead;
                                       # BoostLU's model); small_cnn's replaces its two-layer head on the 3x3 map

    def __post_init__(self):
        from .pretrained import FORMATS

        check_choice("model", self.name, MODELS)
        check_choice("model.norm", self.norm, NORMS)
        check_choice("model.pretrained_format", self.pretrained_format, FORMATS)
        check_choice("model.head", self.head, HEADS)
        check_positive("model", width=self.width)
        if self.head == "cam" and self.pretrained and self.name == "small_cnn":
            raise ValueError("model.pretrained with model.head=cam loads into the ResNets only (for the small CNN "
                             "the loader leaves out its linear head's last layer, head.3): use model.head=linear, "
                             "or a ResNet")


@dataclass
class OptimConfig:
    """SGD with Nesterov momentum; every method takes exactly `steps` optimizer steps. `bce` sets the
    scale of the losses built on sigmoids, so it lives beside the learning rate it trades against."""
    steps: int = 3_000
    batch_size: int = 128
    lr: float = 0.2                 # BCE averages over classes (eq. 1): 0.05 left Sigmoid undertrained
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_steps: int = 100         # linear warm-up, then cosine decay to zero
    bce: str = added_later("mean")  # how the sigmoid methods' loss is scaled (it sets their gradients' size):
                                    # "mean" over images x classes, torch's default bias; "sum" over classes,
                                    # mean over images, classifier bias -log(C): the authors' rescale_sigmoid
                                    # and adjust_bias, under which 1,000 sigmoids learn at softmax's pace

    def __post_init__(self):
        check_positive("optim", steps=self.steps, batch_size=self.batch_size)
        check_choice("optim.bce", self.bce, BCE_REDUCTIONS)
        for name, ok, rule in (("lr", self.lr > 0, "> 0"), ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
                               ("weight_decay", self.weight_decay >= 0, ">= 0"),
                               ("momentum", 0 <= self.momentum < 1, "in [0, 1)")):
            if not ok:
                raise ValueError(f"optim.{name} must be {rule}, got {getattr(self, name)}")


@dataclass
class RunSettings:
    """Where and how a run executes; none of it enters the config hash."""
    device: str = "auto"            # auto | cpu | cuda | cuda:N; auto picks cuda when there is one
    threads: int | None = None      # torch CPU threads; None keeps torch's default. Profiles fix
                                    # it: the thread count changes float sums, hence the numbers
    workers: int | str = 0          # DataLoader worker processes (datasets of files on disk); "auto", the paper
                                    # profiles': the cores this process may use, less one (loader_workers)
    sync_bn: bool | str = "auto"    # BatchNorm's statistics over all processes: auto (on GPUs, several processes),
                                    # true, or false (per process, on purpose); training.syncs_batchnorm says why
    compile: bool = False           # torch.compile every network (faster on GPUs after a minute of
                                    # compiling); like threads, it changes float sums slightly
    progress: bool = True
    log_every: int = 10             # rows of metrics.csv
    checkpoint_every: int = 500     # steps between checkpoints in out_dir (and one at the end)
    out_dir: str | None = None      # where metrics.csv, checkpoints and result.json go; None keeps none
    reevaluate: bool = False        # evaluate a finished run again and rewrite its result.json
    timeout_minutes: float = 5.0    # under torchrun: how long a process waits for the others before the
                                    # run stops, naming the one that stopped answering
    first_timeout_minutes: float = 30.0  # the same wait until the first step is done: every process
                                    # may first scan millions of files, or compile, at its own pace

    def __post_init__(self):
        if self.out_dir is not None and not str(self.out_dir).strip():
            raise ValueError("run.out_dir is empty: give a folder for the run's files, or None to keep none")
        check_positive("run", log_every=self.log_every, checkpoint_every=self.checkpoint_every)
        for name in ("timeout_minutes", "first_timeout_minutes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"run.{name} must be > 0 (minutes a torchrun process waits for the others), "
                                 f"got {getattr(self, name)}")
        if self.threads is not None:
            check_positive("run", threads=self.threads)
            cores = os.cpu_count() or 1
            if self.threads > cores:  # torch would try to start them all (a million: out of memory)
                raise ValueError(f"run.threads is {self.threads}, more than the {cores} CPU cores of this machine: "
                                 f"give run.threads={cores} or fewer, or None for torch's default")
        if self.workers != "auto" and (isinstance(self.workers, str) or self.workers < 0):
            raise ValueError(f"run.workers must be >= 0, got {self.workers!r} (or 'auto': the cores this process "
                             f"may use, less one)")
        check_device_name(self.device)
        if self.sync_bn not in ("auto", True, False):
            raise ValueError(f"run.sync_bn must be auto, true or false, got {self.sync_bn!r}")

    def loader_workers(self) -> int:
        """`workers` as a count. "auto": this process's own cores, less one for the process that feeds
        the GPU; at least 0. A GPU eats a few thousand images a second and a core decodes some hundreds
        (benchmarks/loaders.py), so a fixed count fits no machine. See `own_cores`."""
        if self.workers != "auto":
            return self.workers
        return max(0, own_cores() - 1)


def own_cores() -> int:
    """The cores this process may use by itself. Its affinity (a sweep pins each GPU's run to its
    share) is shared by every process that torchrun started on this machine, so torchrun's share is
    the affinity over LOCAL_WORLD_SIZE. A SLURM task is bound to its own `cpus_per_task` already
    (submitit sets LOCAL_WORLD_SIZE too, without torchrun): dividing again would leave 12 cores over
    8 GPUs 0 workers each; there the affinity, capped at SLURM_CPUS_PER_TASK (a cluster that does
    not bind tasks shows each the whole allocation)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if "SLURM_CPUS_PER_TASK" in os.environ and "TORCHELASTIC_RUN_ID" not in os.environ:  # a SLURM task, no torchrun
        return min(cores, int(os.environ["SLURM_CPUS_PER_TASK"]))
    return cores // int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def check_device_name(name: str) -> None:
    import torch

    try:
        device = torch.device(name) if name != "auto" else None
    except (RuntimeError, ValueError):
        device = False
    if device is False or (device is not None and device.type not in ("cpu", "cuda", "mps")):
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def _default_data():
    return DATASETS.get("grids").settings()


def _default_method():
    return METHODS.get("mile").settings()


@dataclass
class RunConfig:
    data: Any = field(default_factory=_default_data)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: Any = field(default_factory=_default_method)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunSettings = field(default_factory=RunSettings)
    seed: int = 0

    def __post_init__(self):
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        for part in (self.data, self.method):  # checks that need other parts (k_t against optim.steps)
            if hasattr(part, "check"):
                part.check(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        unknown = sorted(set(d) - {*PARTS, "seed"})
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}: a run config has the parts "
                             f"{', '.join(PARTS)} and a seed")
        parts = {part: _make_part(part, _part_class(part, d[part]), dict(d[part])) for part in PARTS if part in d}
        return cls(**parts, seed=_coerce("seed", int, d.get("seed", 0)))  # a part not given: its defaults

    def override(self, overrides: dict | None = None, **more) -> RunConfig:
        """A new config with dotted settings replaced: {"method.rho": 0.1, "optim.steps": 800}.
        Naming a part alone ({"method": "sigmoid"}, or "method.name") switches it to that entry
        with that entry's defaults, before the other settings are applied; naming the entry already
        chosen keeps its settings (so {"method": "mile"} never drops a MILe setting given earlier)."""
        items = {**(overrides or {}), **more}
        switches = {key.partition(".")[0]: value for key, value in items.items() if _is_switch(key)}
        d = self.to_dict()
        d.update({part: {"name": name} for part, name in switches.items() if d[part]["name"] != name})
        for key, value in items.items():
            part, dot, name = key.partition(".")
            if key == "seed":
                d["seed"] = value
            elif dot and part in PARTS and not _is_switch(key):
                d[part][name] = value
            elif not _is_switch(key):
                close = difflib.get_close_matches(key, [f"{p}.{f}" for p in PARTS for f in d[p]] + ["seed"], n=1)
                hint = f"did you mean {close[0]}?" if close else f"write part.setting, the parts being {', '.join(PARTS)}"
                raise ValueError(f"unknown setting {key!r}: {hint}")
        return RunConfig.from_dict(d)

    def out_of_hash(self, part: str) -> set[str]:
        """The settings of `part` that the config hash leaves out at this config's values: read back,
        a stored config may lack them (`store.settings_lacking`)."""
        settings = getattr(self, part)
        return {f.name for f in dataclasses.fields(settings) if _out_of_hash(f, getattr(settings, f.name))}

    def config_hash(self) -> str:
        """A short hash of every setting that changes the run's results (all but the `run` part)."""
        d = {part: _hashed(getattr(self, part)) for part in PARTS if part != "run"}
        return hashlib.sha256(json.dumps({**d, "seed": self.seed}, sort_keys=True).encode()).hexdigest()[:12]


def _hashed(part) -> dict:
    """A part's settings as the hash sees them: those `added_later` are left out at their default,
    those `not_hashed` always, those `hashed_as` a value hashed as that value."""
    out = dataclasses.asdict(part)
    for f in dataclasses.fields(part):
        if _out_of_hash(f, out[f.name]):
            del out[f.name]
        elif "hash_as" in f.metadata:
            out[f.name] = f.metadata["hash_as"]
        elif f.metadata.get("identity") and out[f.name] is not None:
            out[f.name] = _identity(f.metadata["identity"], out[f.name])
    return out


def _out_of_hash(f: dataclasses.Field, value) -> bool:
    """Whether setting `f` at `value` is left out of the config hash: a `not_hashed` one always, an
    `added_later` one at its default (so a stored config may lack it)."""
    return f.metadata.get("hashed") is False or bool(f.metadata.get("hash_when_set")) and _same(value, f.default)


def _same(value, default) -> bool:
    """A value equal to its default, a list to a tuple too: JSON gives back [] for a default (), and a
    config read back from a dict (a sweep worker's, a result.json's) must keep its hash."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) == list(default)
    return value == default


def _is_switch(key: str) -> bool:
    part, _, name = key.partition(".")
    return part in NAMED and name in ("", "name")


def _part_class(part: str, given) -> type:
    if not isinstance(given, dict):
        raise ValueError(f"the {part} part must be a mapping of settings, got {given!r}")
    if part in SWITCHABLE:
        if "name" not in given:
            raise ValueError(f"the {part} part needs a name: one of {', '.join(SWITCHABLE[part].names())}")
        if not isinstance(given["name"], str):  # a list or a mapping would reach the registry as unhashable
            raise ValueError(f"{part}.name takes str, got {given['name']!r}: write one of "
                             f"{', '.join(SWITCHABLE[part].names())}")
        return SWITCHABLE[part].get(given["name"]).settings
    return {"model": ModelConfig, "optim": OptimConfig, "run": RunSettings}[part]


def _make_part(part: str, klass: type, given: dict):
    fields = typing.get_type_hints(klass)  # real types, whether or not the module defers annotations
    for key in given:
        if key not in fields:
            which = f"{part} {given['name']!r}" if part in SWITCHABLE else f"the {part} part"
            close = [getattr(klass, "renamed", {})[key]] if key in getattr(klass, "renamed", {}) else \
                difflib.get_close_matches(key, fields, n=1)
            hint = (f"did you mean {part}.{close[0]}?" if close else
                    f"valid ones: {', '.join(f'{part}.{f}' for f in fields if f != 'name') or 'none'}")
            raise ValueError(f"unknown setting '{part}.{key}' for {which}: {hint}")
    return klass(**{k: _coerce(f"{part}.{k}", fields[k], v) for k, v in given.items()})


def _coerce(name: str, kind, value):
    """Check a value against its field's type; ints are accepted for floats, tuples for lists."""
    union = isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union
    for option in typing.get_args(kind) if union else (kind,):
        base = typing.get_origin(option) or option
        if option is type(None) and value is None or base is typing.Any:
            return value
        if base is bool and isinstance(value, bool) or base is str and isinstance(value, str):
            return value
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base in (list, tuple) and isinstance(value, (list, tuple)):
            return list(value)
    raise ValueError(f"{name} takes {getattr(kind, '__name__', kind)}, got {value!r}")
