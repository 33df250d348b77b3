"""Every bad input we try, and the one-line message a user sees for it.

`python -m milelib.bad_inputs > docs/errors.md` writes the table from real runs of each case (in
a temporary folder shown as <tmp>); tests/test_bad_inputs.py checks that every case fails with
one line and that docs/errors.md is up to date.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import torch


def _cases(tmp: Path):
    from . import RunConfig, checkpoint, experiments, train
    from .data import load_digits
    from .data.images import image_folder
    from .models import build_model
    from .results import atomic_write_json

    exp = experiments.get("multi_mnist").EXPERIMENT

    def smoke(settings=None, **kw):
        return exp.config("smoke", {"run.progress": False, **(settings or {}), **kw})

    def finished_run(name):
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / name)}))
        return tmp / name

    def mnist_with_truncated_file():
        raw = tmp / "mnist-bad" / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        header = np.array([0x803, 2, 28, 28], ">i4").tobytes()
        for split in ("train", "t10k"):
            pixels = 28 * 28 * (1 if split == "train" else 2)  # the train images stop after one digit
            (raw / f"{split}-images-idx3-ubyte").write_bytes(header + bytes(pixels))
            (raw / f"{split}-labels-idx1-ubyte").write_bytes(np.array([0x801, 2], ">i4").tobytes() + bytes(2))
        return tmp / "mnist-bad"

    def old_format_checkpoint():
        run = finished_run("old-format")
        path = checkpoint.last_path(run / "checkpoints")
        state = torch.load(path, weights_only=True)
        torch.save({**state, "format": 0}, path)
        train(smoke({"method": "sigmoid", "run.out_dir": str(run)}))

    def corrupt_checkpoint():
        run = finished_run("corrupt")
        path = checkpoint.last_path(run / "checkpoints")
        path.write_bytes(path.read_bytes()[:300])
        train(smoke({"method": "sigmoid", "run.out_dir": str(run)}))

    def image_tree(name, classes=2, corrupt=False):
        from PIL import Image
        for c in range(classes):
            (tmp / name / f"class{c}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp / name / f"class{c}" / "a.png")
        if corrupt:
            (tmp / name / "class0" / "a.png").write_bytes(b"\x89PNG\r\n")
        return tmp / name

    def disk_full():
        atomic_write_json(tmp / "results" / "metrics.json", {"seed": 0})
        with mock.patch("os.fsync", side_effect=OSError(errno.ENOSPC, "No space left on device")):
            atomic_write_json(tmp / "results" / "metrics.json", {"seed": 1})

    def cuda_without_gpu():
        with mock.patch("torch.cuda.is_available", return_value=False):
            train(smoke({"run.device": "cuda"}))

    (tmp / "a-file").write_text("")
    (tmp / "empty").mkdir()
    return [
        ("unknown profile", lambda: exp.config("fast")),
        ("unknown experiment", lambda: experiments.get("table9")),
        ("unknown method", lambda: RunConfig().override({"method": "mixup"})),
        ("unknown dataset", lambda: RunConfig().override({"data": "cifar10"})),
        ("unknown model", lambda: RunConfig().override({"model": "vit_b16"})),
        ("unknown MILe variant", lambda: RunConfig().override({"method.variant": "v2"})),
        ("misspelt setting", lambda: RunConfig().override({"optim.learning_rate": 0.1})),
        ("setting without its part", lambda: RunConfig().override({"rho": 0.1})),
        ("setting of another method", lambda: RunConfig().override({"method": "sigmoid", "method.rho": 0.1})),
        ("setting of the wrong type", lambda: RunConfig().override({"optim.steps": "many"})),
        ("k_t below 1", lambda: RunConfig().override({"method.teacher_steps": 0})),
        ("rho outside (0, 1)", lambda: RunConfig().override({"method.rho": 1.5})),
        ("unknown device name", lambda: RunConfig().override({"run.device": "gpu0"})),
        ("device cuda on a machine without a GPU", cuda_without_gpu),
        ("unknown digits source", lambda: RunConfig().override({"data.digits": "emnist"})),
        ("missing MNIST folder", lambda: load_digits("mnist", tmp / "no-such-folder")),
        ("empty MNIST folder", lambda: load_digits("mnist", tmp / "empty")),
        ("truncated MNIST file", lambda: load_digits("mnist", mnist_with_truncated_file())),
        ("oracle on data without true label sets", lambda: train(RunConfig().override({
            "method": "oracle", "data": "image_folder", "data.root": str(image_tree("oracle")),
            "data.val_fraction": 0.5, "optim.batch_size": 1}))),
        ("image folder too small to hold out validation images", lambda: train(RunConfig().override({
            "data": "image_folder", "data.root": str(image_tree("tiny")), "optim.batch_size": 1}))),
        ("batch larger than the data", lambda: train(smoke({"optim.batch_size": 1024}))),
        ("output folder not writable", lambda: train(smoke({"run.out_dir": str(tmp / "a-file" / "run")}))),
        ("checkpoint from another config", lambda: train(smoke(
            {"method": "sigmoid", "optim.lr": 0.3, "run.out_dir": str(finished_run("other-config"))}))),
        ("checkpoint from another model", lambda: train(smoke(
            {"method": "sigmoid", "model": "resnet18", "run.out_dir": str(finished_run("other-model"))}))),
        ("checkpoint with unknown keys", lambda: checkpoint.load_weights(
            build_model("small_cnn", 10), {"encoder.conv1.weight": np.zeros(1)}, "moco_v2.pth")),
        ("corrupt (truncated) checkpoint", corrupt_checkpoint),
        ("checkpoint of an older format", old_format_checkpoint),
        ("no validation grids", lambda: RunConfig().override({"data.val": 0})),
        ("missing image folder", lambda: image_folder(tmp / "imagenet" / "train")),
        ("image folder without images", lambda: image_folder(tmp / "empty")),
        ("image folder with the wrong class count", lambda: image_folder(image_tree("two"), num_classes=1000)),
        ("truncated or corrupt image (bad_images='fail')", lambda: image_folder(image_tree("bad", corrupt=True))[0]),
        ("unknown bad-image policy", lambda: image_folder(image_tree("two"), bad_images="ignore")),
        ("disk full while writing results", disk_full),
        ("loss becomes NaN or infinite", lambda: train(smoke({"method": "sigmoid", "optim.lr": 1e30,
                                                              "run.checkpoint_every": 1, "run.out_dir": str(tmp / "nan")}))),
    ]


def collect() -> list[tuple[str, str, str]]:
    """(case, exception type, message) for every case, run in a fresh temporary folder."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp).resolve()
        for case, call in _cases(tmp):
            try:
                call()
            except Exception as err:  # noqa: BLE001 - catching is the point here
                message = str(err) if not isinstance(err, OSError) or not err.strerror else err.strerror
                rows.append((case, type(err).__name__, message.replace(str(tmp), "<tmp>")))
            else:
                rows.append((case, "none", "NO ERROR RAISED"))
    return rows


def markdown(rows) -> str:
    lines = ["# Bad inputs and what a user sees", "",
             "Generated by `python -m milelib.bad_inputs > docs/errors.md` from real runs of each case.",
             "A truncated or corrupt image can instead be skipped and counted with `bad_images='skip'`.", "",
             "| bad input | error | message |", "| --- | --- | --- |"]
    lines += [f"| {case} | `{kind}` | {message.replace('|', '/')} |" for case, kind, message in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(markdown(collect()), end="")
