"""Every bad input we try, and the one line a user sees for it: the table that
tests/test_bad_inputs.py runs (one test per case) and tools/write_errors.py writes to docs/errors.md.

Each case runs for real in a fresh temporary folder (shown as <tmp>, with pids, hosts, times and
run-store hashes masked); a case that must fake the machine (a full disk, no GPU, a SIGINT) says so.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import re
import signal
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import torch

from milelib import RunConfig, checkpoint, cluster, distributed, experiments, fixtures, methods, sweep, train
from milelib.store import lock as runlock
from milelib import data as datasets
from milelib import store as store_
from milelib.cli import main, read_config
from milelib.data import load_digits
from milelib.data.imagenet import REAL_ENTRIES
from milelib.data.images import image_folder
from milelib.methods import single_positive, supervised
from milelib.models import build_model
from milelib.notices import MilelibWarning
from milelib.relabel import relabel
from milelib.reproduce import reproduce
from milelib.results import atomic_write_bytes, atomic_write_json
from milelib.training import check_batchnorm, make_parts


class CommandLineExit(Exception):
    """The one line milelib's command line ended with (its SystemExit), as an exception to record."""


def cases(tmp: Path) -> list[tuple[str, Callable[[], object]]]:
    """(bad input, the call that meets it) for every case, each call working in `tmp` (which holds
    an empty file `a-file` and an empty folder `empty`); building the list runs nothing."""
    exp = experiments.get("multi_mnist").EXPERIMENT

    def smoke(settings=None, **kw):
        return exp.config("smoke", {"run.progress": False, **(settings or {}), **kw})

    def finished_run(name):
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / name)}))
        return tmp / name

    def stopped_run(name, **settings):
        """A run stopped after its last checkpoint: checkpoints, no result.json."""
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / name), **settings}))
        (tmp / name / "result.json").unlink()
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
        run = stopped_run("old-format")
        path = checkpoint.last_path(run / "checkpoints")
        state = torch.load(path, weights_only=True)
        torch.save({**state, "format": 0}, path)
        train(smoke({"method": "sigmoid", "run.out_dir": str(run)}))

    def corrupt_checkpoints():
        run = stopped_run("corrupt")
        for path in (run / "checkpoints").glob("step-*.pt"):  # the newest and the one kept before it
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

    def folder_with_image(name, file_name, pixels):
        from PIL import Image
        (tmp / name / "class0").mkdir(parents=True)
        Image.fromarray(pixels).save(tmp / name / "class0" / file_name)
        return image_folder(tmp / name)

    def decompression_bomb():
        images = folder_with_image("bomb", "a.png", np.zeros((100, 100, 3), np.uint8))
        with mock.patch("PIL.Image.MAX_IMAGE_PIXELS", 1000):  # 10,000 pixels: over twice the limit
            images[0]

    def fifo_in_class_folder():
        root = image_tree("fifo")
        os.mkfifo(root / "class0" / "x.jpg")
        image_folder(root)

    def folder_link_back_to_root():
        root = image_tree("loop")
        (root / "class0" / "loop").symlink_to("..")
        image_folder(root)

    def name_not_utf8():
        root = image_tree("latin1")
        name = os.fsdecode(os.fsencode(root / "class0") + b"/caf\xe9.png")  # Latin-1, as an old camera writes
        (root / "class0" / "a.png").rename(name)
        image_folder(root)

    def images_without_class_folders():
        from PIL import Image
        (tmp / "loose").mkdir()
        for name in ("a.jpg", "b.jpg"):
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp / "loose" / name)
        image_folder(tmp / "loose")

    def disk_full():
        atomic_write_json(tmp / "results" / "metrics.json", {"seed": 0})
        with mock.patch("os.fsync", side_effect=OSError(errno.ENOSPC, "No space left on device")):
            atomic_write_json(tmp / "results" / "metrics.json", {"seed": 1})

    def flip_a_tensor_byte(path):
        import zipfile
        raw = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as z:
            data = z.read(max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size))
        raw[raw.find(data) + len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))

    def damaged_checkpoints(name, how_many):
        run = stopped_run(name)
        for path in sorted((run / "checkpoints").glob("step-*.pt"), reverse=True)[:how_many]:
            flip_a_tensor_byte(path)
        train(smoke({"method": "sigmoid", "run.out_dir": str(run)}))

    def folder_in_use():
        (tmp / "busy").mkdir()
        with runlock.hold(tmp / "busy"):  # another process's lock, as this process's other open file
            train(smoke({"run.out_dir": str(tmp / "busy")}))

    def result_holding(name, content):
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / name)}))
        (tmp / name / "result.json").write_text(content)
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / name)}))

    def ctrl_c_at_step_5():
        real, calls = supervised.sgd_step, []

        def step(*args):
            calls.append(1)
            if len(calls) == 5:
                os.kill(os.getpid(), signal.SIGINT)
            return real(*args)

        with mock.patch.object(supervised, "sgd_step", step):
            train(smoke({"method": "sigmoid", "run.checkpoint_every": 100, "run.out_dir": str(tmp / "ctrl-c")}))

    def failing_notebook():
        import nbformat
        cells = [nbformat.v4.new_code_cell('PROFILE = "quick"', metadata={"tags": ["parameters"]}),
                 nbformat.v4.new_code_cell("raise ValueError(f'no data for the {PROFILE} profile')")]
        nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}})
        (tmp / "nbs").mkdir()
        nbformat.write(nb, tmp / "nbs" / "04_example.ipynb")
        with mock.patch("subprocess.Popen", functools.partial(subprocess.Popen, stderr=subprocess.DEVNULL)):
            reproduce("smoke", tmp / "nb-results", tmp / "nbs", log=lambda *a, **k: None)

    def mnist_with_label(value):
        raw = tmp / "mnist-label" / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for split in ("train", "t10k"):
            (raw / f"{split}-images-idx3-ubyte").write_bytes(np.array([0x803, 2, 28, 28], ">i4").tobytes() + bytes(2 * 784))
            (raw / f"{split}-labels-idx1-ubyte").write_bytes(np.array([0x801, 2], ">i4").tobytes() + bytes([3, value]))
        return load_digits("mnist", tmp / "mnist-label")

    def image_folder_with_empty_class():
        root = image_tree("with-empty")
        (root / "class9").mkdir()
        (root / "class9" / "._a.png").write_bytes(b"macOS resource fork, not an image")
        image_folder(root)

    def cuda_without_gpu():
        with mock.patch("torch.cuda.is_available", return_value=False), mock.patch("shutil.which", return_value=None):
            train(smoke({"run.device": "cuda"}))  # (no nvidia-smi either: the same line on a machine with one)

    def text_file(name, text):
        (tmp / name).write_text(text)
        return tmp / name

    def imagenet_tree(name, real=None):
        root = fixtures.imagenet(tmp / f"imagenet-{name}", num_classes=2, train_per_class=3, val_per_class=1)
        if real is not None:
            (root / "real.json").write_text(real if isinstance(real, str) else json.dumps(real))
        return root

    def imagenet_settings(root, **more):
        return RunConfig().override({"data": "imagenet", "data.root": str(root), "data.holdout_per_class": 1, **more}).data

    def webvision_tree(name):
        root = fixtures.webvision(tmp / f"webvision-{name}", num_classes=2, google_per_class=2, flickr_per_class=1,
                                  val_per_class=1)
        (root / "info" / "train_filelist_flickr.txt").write_text("flickr/q0001/00000000.jpg\n")
        return root

    def batch_over_three_processes():
        with mock.patch("milelib.distributed.world", return_value=distributed.World(0, 3)):
            train(smoke({"optim.batch_size": 32}))

    def sync_bn_on_cpus():
        make_parts(smoke({"run.sync_bn": True}), torch.device("cpu"), 10, 1, 100, True, world=distributed.World(0, 2))

    def slurm_without_sbatch():
        with mock.patch("shutil.which", return_value=None):
            next(cluster.train_all([], 1, tmp))

    def slurm_settings_not_json():
        with mock.patch.dict(os.environ, {"MILELIB_SLURM": "partition=gpu"}):
            cluster.settings()

    def role_too_big():
        with mock.patch.object(single_positive, "free_bytes", return_value=8 * 10**9):
            single_positive.check_estimates_fit(1_281_167, 1000, torch.device("cpu"))

    def simclr_under_torchrun():
        cfg = smoke({"method": "simclr"})
        methods.build(cfg, make_parts(cfg, torch.device("cpu"), 10, 1, 100, False, world=distributed.World(0, 2)))

    def odd_checkpoint():
        torch.save({"encoder.stem.weight": torch.zeros(2, 2)}, tmp / "odd.pth")
        return tmp / "odd.pth"

    def read_only_disk():
        with mock.patch("tempfile.mkstemp", side_effect=OSError(errno.EROFS, "Read-only file system",
                                                                  str(tmp / "results" / ".metrics.json.x.tmp"))):
            atomic_write_json(tmp / "results" / "metrics.json", {"seed": 1})

    def users_metrics_csv():
        (tmp / "my-experiment").mkdir()
        (tmp / "my-experiment" / "metrics.csv").write_text("epoch,acc\n1,0.5\n")
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / "my-experiment")}))

    def users_csv():  # a file milelib did not write
        (tmp / "mine.csv").write_text("a,b\n1,2\n")
        return tmp / "mine.csv"

    def pretrained_holding(name, contents):
        if contents is None:
            (tmp / name).write_bytes(b"")
        else:
            torch.save(contents, tmp / name)
        train(smoke({"model.pretrained": str(tmp / name), "run.out_dir": None}))

    def sweep_reading_back(name, damage):
        store = tmp / name
        first = sweep.run({"Sigmoid": {"method": "sigmoid"}}, smoke(), [0], store, jobs=1, log=lambda *a, **k: None)
        path = Path(first.run_dir[0]) / "result.json"
        saved = json.loads(path.read_text())
        damage(saved)
        path.write_text(json.dumps(saved))
        sweep.run({"Sigmoid": {"method": "sigmoid"}}, smoke(), [0], store, jobs=1, log=lambda *a, **k: None)

    def corrupt_image_in_a_worker():
        root = fixtures.image_folder(tmp / "workers", num_classes=2, per_class=5)
        sorted(root.rglob("*.jpg"))[0].write_bytes(b"\xff\xd8\xff not a JPEG")
        train(RunConfig().override({"data": "image_folder", "data.root": str(root), "model": "small_cnn",
                                    "model.width": 4, "data.image_size": 16, "optim.steps": 2, "optim.batch_size": 4,
                                    "data.val_fraction": 0.2, "method": "sigmoid", "run.workers": 2,
                                    "run.progress": False}))

    def webvision_with(name, val_lines="", without_class=None, **settings):
        root = fixtures.webvision(tmp / f"webvision-{name}", num_classes=3, google_per_class=2, flickr_per_class=1,
                                  val_per_class=1)
        with open(root / "info" / "val_filelist.txt", "a") as f:
            f.write(val_lines)
        for source in ("google", "flickr"):
            path = root / "info" / f"train_filelist_{source}.txt"
            path.write_text("".join(f"{line}\n" for line in path.read_text().splitlines()
                                    if not line.endswith(f" {without_class}")))
        datasets.build(RunConfig().override({"data": "webvision", "data.root": str(root), **settings}).data)

    def threads_beyond_cores():
        with mock.patch("os.cpu_count", return_value=8):  # the same line on any machine
            RunConfig().override({"run.threads": 1_000_000})

    def broken_pointer(name, damage):
        """A stopped run whose checkpoints/last pointer was damaged, trained again."""
        run = stopped_run(name)
        damage(run / "checkpoints" / "last")
        train(smoke({"method": "sigmoid", "run.out_dir": str(run)}))

    def pointer_made_a_folder(last):
        last.unlink()
        last.mkdir()

    def run_folder_holding(name, file_name, content, **settings):
        """A run folder a user made, holding a file of theirs that the run would write, trained into."""
        (tmp / name).mkdir()
        (tmp / name / file_name).write_text(content)
        train(smoke({"method": "sigmoid", "run.out_dir": str(tmp / name), **settings}))

    def image_run_holding(name, file_name, content):
        (tmp / name).mkdir()
        (tmp / name / file_name).write_text(content)
        train(RunConfig().override({"data": "image_folder", "data.root": str(image_tree(f"{name}-data", classes=2)),
                                    "run.out_dir": str(tmp / name), "run.progress": False}))

    def finished_then(name, change, **settings):
        """A finished run whose folder was then changed by hand, trained again."""
        run = finished_run(name)
        change(run)
        train(smoke({"method": "sigmoid", "run.out_dir": str(run), **settings}))

    def before_manifests(saved_text_change):
        """A finished run as one stored before manifests, its result.json then changed, read by a sweep."""
        store = tmp / "old-store"
        first = sweep.run({"Sigmoid": {"method": "sigmoid"}}, smoke(), [0], store, jobs=1, log=lambda *a, **k: None)
        folder = Path(first.run_dir[0])
        (folder / store_.MANIFEST).unlink()
        (folder / "result.json").write_text(saved_text_change((folder / "result.json").read_text()))
        sweep.run({"Sigmoid": {"method": "sigmoid"}}, smoke(), [0], store, jobs=1, log=lambda *a, **k: None)

    def teacher_holding(content):
        (tmp / "teacher-run").mkdir()
        (tmp / "teacher-run" / "result.json").write_text(content)
        store_.finished_hash(tmp / "teacher-run")

    def file_appearing_during_the_run():
        out = store_.prepare(tmp / "appearing")
        (out / "classes.txt").write_text("cat\ndog\n")  # put there while the run trained
        store_.write_lines(out / "classes.txt", ["class0", "class1"])

    def command_line(*argv):
        """milelib's command line, its exit line raised as an exception (SystemExit is no Exception)."""
        try:
            main([str(a) for a in argv])
        except SystemExit as exit_:
            raise CommandLineExit(str(exit_.code).removeprefix("milelib: ")) from None

    def relabel_folder():
        return image_tree("relabel-cli", classes=2)

    def webvision_val_list(name, lines):
        root = fixtures.webvision(tmp / f"webvision-{name}", num_classes=3, google_per_class=2, flickr_per_class=1,
                                  val_per_class=1)
        (root / "info" / "val_filelist.txt").write_text(lines(root))
        datasets.build(RunConfig().override({"data": "webvision", "data.root": str(root)}).data)

    def removed_after_reading(bad_images):
        images = image_folder(image_tree(f"removed-{bad_images}"), bad_images=bad_images)
        Path(images.samples[0][0]).unlink()
        images[0]

    def test_root_with_an_extra_class():
        test = fixtures.image_folder(tmp / "test-extra", num_classes=3, per_class=1)
        root = fixtures.image_folder(tmp / "train-two", num_classes=2, per_class=5)
        train(RunConfig().override({"data": "image_folder", "data.root": str(root), "data.val_fraction": 0.2,
                                    "data.test_root": str(test), "run.progress": False}))

    def class_named_with_a_newline():
        root = image_tree("newline")
        (root / "class1").rename(root / "cat\ndog")
        image_folder(root)

    def link_to_itself():
        root = image_tree("self-link")
        (root / "class0" / "self.png").symlink_to("self.png")
        image_folder(root)

    def two_links_round_a_loop():
        root = image_tree("link-loop")
        (root / "class0" / "a").symlink_to("b")
        (root / "class0" / "b").symlink_to("a")
        image_folder(root)

    def pretrained_file(name, write):
        write(tmp / name)
        train(smoke({"model.pretrained": str(tmp / name), "run.out_dir": None}))

    def nan_weights(path):
        net = build_model("small_cnn", 10, 1, smoke().model.width)
        torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                    for k, v in net.state_dict().items()}, path)

    def file_size_limit():
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))  # as `ulimit -f 1` does (Python ignores SIGXFSZ)
        try:
            atomic_write_bytes(tmp / "results" / "big.bin", bytes(5000))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    def very_large_image():
        images = folder_with_image("large", "a.png", np.zeros((100, 100, 3), np.uint8))
        with mock.patch("PIL.Image.MAX_IMAGE_PIXELS", 6000):  # 10,000 pixels: over the limit, under twice it
            images[0]

    def worker_killed():
        from milelib.data import LoaderData

        class Dies(torch.utils.data.Dataset):  # as the OOM killer ends a worker: SIGKILL, no word
            def __len__(self):
                return 8

            def __getitem__(self, row):
                if torch.utils.data.get_worker_info() is not None:
                    os.kill(os.getpid(), signal.SIGKILL)
                return torch.zeros(3, 4, 4, dtype=torch.uint8), 0

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            next(LoaderData(Dies(), np.zeros(8, np.int64)).batches(2, 4, 0, "cpu", workers=2))

    def sigterm_at_step_5():
        real, calls = supervised.sgd_step, []

        def step(*args):
            calls.append(1)
            if len(calls) == 5:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*args)

        with mock.patch.object(supervised, "sgd_step", step):
            train(smoke({"method": "sigmoid", "run.checkpoint_every": 100, "run.out_dir": str(tmp / "sigterm")}))

    def content_changed_same_size_and_time():
        from milelib.data.images import class_folders, fingerprint
        root = image_tree("content")
        before = fingerprint(root, class_folders(root).samples)
        path = root / "class0" / "a.png"
        stat, data = path.stat(), bytearray(path.read_bytes())
        data[-20] ^= 0xFF  # a byte of the last chunk's checksum: same size
        path.write_bytes(bytes(data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time
        datasets.build(RunConfig().override({"data": "image_folder", "data.root": str(root),
                                             "data.content": before}).data)

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
        ("unknown MILe variant of its negatives", lambda: RunConfig().override({"method.negatives": "ignore"})),
        ("label smoothing of 0.5 or more", lambda: RunConfig().override({"method": "an_ls", "method.epsilon": 0.5})),
        ("EPR with no expected positives", lambda: RunConfig().override({"method": "epr", "method.expected_positives": 0})),
        ("large-loss share given in percent", lambda: RunConfig().override({"method": "ll_r", "method.delta_rel": 2})),
        ("EM + APL with a negative weight", lambda: RunConfig().override({"method": "em_apl", "method.alpha": -0.1})),
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
            {"method": "sigmoid", "optim.lr": 0.3, "run.out_dir": str(stopped_run("other-config"))}))),
        ("checkpoint from another model", lambda: train(smoke(
            {"method": "sigmoid", "model": "resnet18", "run.out_dir": str(stopped_run("other-model"))}))),
        ("checkpoint with unknown keys", lambda: checkpoint.load_weights(
            build_model("small_cnn", 10), {"encoder.conv1.weight": np.zeros(1)}, "moco_v2.pth")),
        ("corrupt (truncated) checkpoints, the newest and the one before", corrupt_checkpoints),
        ("checkpoint of an older format", old_format_checkpoint),
        ("no validation grids", lambda: RunConfig().override({"data.val": 0})),
        ("missing image folder", lambda: image_folder(tmp / "imagenet" / "train")),
        ("image folder without images", lambda: image_folder(tmp / "empty")),
        ("image folder with the wrong class count", lambda: image_folder(image_tree("two"), num_classes=1000)),
        ("truncated or corrupt image (bad_images='fail')", lambda: image_folder(image_tree("bad", corrupt=True))[0]),
        ("unknown bad-image policy", lambda: image_folder(image_tree("two"), bad_images="ignore")),
        ("32-bit image with values above 65535", lambda: folder_with_image(
            "int32", "a.tif", np.array([[0, 70000]], np.int32))[0]),
        ("float image with values outside [0, 1] and [0, 255]", lambda: folder_with_image(
            "float", "a.tif", np.array([[-1.5, 3]], np.float32))[0]),
        ("decompression bomb (bad_images='fail')", decompression_bomb),
        ("FIFO named like an image in a class folder", fifo_in_class_folder),
        ("folder link back to the image folder (a cycle)", folder_link_back_to_root),
        ("file name that is not UTF-8", name_not_utf8),
        ("images in the image folder but no class folders", images_without_class_folders),
        ("disk full while writing results", disk_full),
        ("a second process training into the same run folder", folder_in_use),
        ("resume from a checkpoint whose bytes were damaged, none kept before it", lambda: damaged_checkpoints("dmg2", 2)),
        ("resume from a damaged checkpoint, a good one kept before it", lambda: damaged_checkpoints("dmg1", 1)),
        ("resume on another thread count", lambda: train(smoke({
            "method": "sigmoid", "run.threads": 2, "run.out_dir": str(stopped_run("threads", **{"run.threads": 1}))}))),
        ("result.json holding [] in a run folder", lambda: result_holding("list", "[]")),
        ("result.json of another config in the run folder", lambda: train(smoke({
            "method": "sigmoid", "optim.lr": 0.3, "run.out_dir": str(finished_run("other-result"))}))),
        ("Ctrl-C while training", ctrl_c_at_step_5),
        ("MILe with k_t >= steps (no imitation step)", lambda: RunConfig().override({"optim.steps": 100})),
        ("data.root given with the embedded digits", lambda: RunConfig().override({"data.root": "~/mnist"})),
        ("empty out_dir", lambda: RunConfig().override({"run.out_dir": ""})),
        ("negative warmup_steps", lambda: RunConfig().override({"optim.warmup_steps": -10})),
        ("learning rate of 0", lambda: RunConfig().override({"optim.lr": 0})),
        ("negative seed", lambda: RunConfig().override({"seed": -1})),
        ("digit size that does not divide 28", lambda: RunConfig().override({"data.digit_size": 12})),
        ("centre-label probability outside [0, 1]", lambda: RunConfig().override({"data.center_prob": 1.2})),
        ("filled-cell weights of the wrong length", lambda: RunConfig().override({
            "data.filled_cells": [1, 3], "data.filled_weights": [0.9, 0.1]})),
        ("image_folder without data.root", lambda: RunConfig().override({"data": "image_folder"})),
        ("image size 0", lambda: RunConfig().override({"data": "image_folder", "data.root": "x", "data.image_size": 0})),
        ("ELR with a negative lambda", lambda: RunConfig().override({"method": "elr", "method.lam": -3})),
        ("small CNN of width 0", lambda: RunConfig().override({"model.width": 0})),
        ("negative DataLoader workers", lambda: RunConfig().override({"run.workers": -1})),
        ("DataLoader workers neither a count nor auto", lambda: RunConfig().override({"run.workers": "all"})),
        ("unknown image decoder", lambda: RunConfig().override({"data": "imagenet", "data.root": "x",
                                                                "data.decoder": "turbojpeg"})),
        ("unknown notebook parameter (papermill -p SEED 1)", lambda: experiments.check_parameters(
            {"PROFILE": "quick", "SEEDS": None, "SEED": 1})),
        ("notebook SEEDS that are not seeds (papermill -p SEEDS 0,1)", lambda: experiments.check_parameters(
            {"PROFILE": "quick", "SEEDS": "0,1"})),
        ("notebook JOBS of 0", lambda: experiments.check_parameters({"PROFILE": "quick", "JOBS": 0})),
        ("a notebook failing during make reproduce", failing_notebook),
        ("image folder with an empty class folder (hidden files skipped)", image_folder_with_empty_class),
        ("MNIST label outside 0-9", lambda: mnist_with_label(255)),
        ("loss becomes NaN or infinite", lambda: train(smoke({"method": "sigmoid", "optim.lr": 1e30,
                                                              "run.checkpoint_every": 1, "run.out_dir": str(tmp / "nan")}))),
        ("ImageNet root without train/", lambda: datasets.build(imagenet_settings(tmp / "empty"))),
        ("real.json of the wrong length", lambda: datasets.build(imagenet_settings(imagenet_tree("short", [[0]] * 1000)))),
        ("real.json with a class index out of range", lambda: datasets.build(imagenet_settings(
            imagenet_tree("range", [[0, 1000]] + [[]] * (REAL_ENTRIES - 1))))),
        ("real.json that is not JSON (cut short)", lambda: datasets.build(imagenet_settings(imagenet_tree("cut", "[[0], [1")))),
        ("SimCLR subset file naming images not in train/", lambda: datasets.build(imagenet_settings(
            imagenet_tree("subset"), **{"data.subset": str(text_file("subset.txt", "n09999999_1.JPEG"))}))),
        ("training fraction of 0", lambda: RunConfig().override({"data.fraction": 0})),
        ("WebVision file list line without a label", lambda: datasets.build(RunConfig().override({
            "data": "webvision", "data.root": str(webvision_tree("nolabel"))}).data)),
        ("unknown launcher", lambda: sweep.check_launcher("sge", 1)),
        ("launcher slurm on a machine without SLURM", slurm_without_sbatch),
        ("MILELIB_SLURM that is not a JSON mapping", slurm_settings_not_json),
        ("notebook GPUS of 0", lambda: experiments.check_parameters({"PROFILE": "quick", "GPUS": 0})),
        ("notebook 08 reporting on a development seed", lambda: experiments.get("single_positive").check_final_seeds(
            "quick", [1, 10])),
        ("notebook SELECT given as a string (papermill -p SELECT yes)", lambda: experiments.check_parameters(
            {"PROFILE": "quick", "SELECT": "yes"})),
        ("notebook SETTINGS that are not a mapping (papermill -p SETTINGS steps=4)", lambda: experiments.check_parameters(
            {"PROFILE": "quick", "SETTINGS": "steps=4"})),
        ("notebook SETTINGS naming the seed (-y 'SETTINGS: {seed: 5}')", lambda: experiments.check_parameters(
            {"PROFILE": "quick", "SETTINGS": {"seed": 5}})),
        ("unknown BCE reduction", lambda: RunConfig().override({"optim.bce": "avg"})),
        ("global batch that does not split over the processes", batch_over_three_processes),
        ("run.sync_bn on CPUs under torchrun", sync_bn_on_cpus),
        ("simclr under torchrun", simclr_under_torchrun),
        ("ROLE at a scale its estimates cannot fit (ImageNet, 8 GB free)", role_too_big),
        ("torchrun wait of 0 minutes", lambda: RunConfig().override({"run.timeout_minutes": 0})),
        ("notebook parameter in lower case (papermill -p profile smoke)", lambda: experiments.check_parameters(
            {"PROFILE": "quick", "profile": "smoke"})),
        ("notebook SETTINGS naming what its runs set themselves (05's axis, method.rho)", lambda: experiments.Session(
            name="rho_sweep", profile="smoke", settings={"method.rho": 0.2})),
        ("torchrun first-step wait of 0 minutes", lambda: RunConfig().override({"run.first_timeout_minutes": 0})),
        ("run.sync_bn that is not auto, true or false", lambda: RunConfig().override({"run.sync_bn": "yes"})),
        ("BatchNorm under 2 CPU processes (statistics per process)", lambda: check_batchnorm(
            smoke({"model.norm": "batch"}), torch.device("cpu"), distributed.World(0, 2))),
        ("WebVision with bad_images='skip' (batches of unequal size across processes)", lambda: RunConfig().override(
            {"data": "webvision", "data.bad_images": "skip"})),
        ("config file that is not JSON (milelib train --config)", lambda: read_config(text_file("run.json", "{data: grids"))),
        ("relabel threshold outside [0, 1]", lambda: relabel(image_tree("relabel"), threshold=5)),
        ("relabel of a folder with one class", lambda: relabel(image_tree("relabel-one", classes=1), store=tmp)),
        ("relabel of a class with fewer images than folds", lambda: relabel(image_tree("relabel"), store=tmp)),
        ("relabel --out naming a folder", lambda: relabel(image_tree("relabel"), out=tmp, store=tmp)),
        ("relabel --out naming a file milelib did not write", lambda: relabel(image_tree("relabel"), out=users_csv(),
                                                                               store=tmp)),
        ("unknown pretrained checkpoint format", lambda: RunConfig().override({"model.pretrained_format": "dino"})),
        ("pretrained checkpoint in no known layout", lambda: train(smoke({
            "model.pretrained": str(odd_checkpoint()), "run.out_dir": None}))),
        ("a fixed teacher (method.teacher_run) with label steps", lambda: RunConfig().override({
            "method": "soft_distillation", "method.teacher_run": str(tmp / "teacher"), "method.teacher_steps": 4})),
        ("k_t = 0 without a teacher run", lambda: RunConfig().override({
            "method": "soft_distillation", "method.teacher_steps": 0})),
        ("teacher run that has not finished", lambda: train(smoke({
            "method": "soft_distillation", "method.teacher_run": str(tmp / "unfinished"), "method.teacher_steps": 0,
            "method.student_steps": 16, "run.out_dir": None}))),
        ("notebook 03's paper profile without any checkpoint under DATA_ROOT", lambda: experiments.get(
            "self_supervised").encoders_found(tmp)),
        ("config file naming the method by a list (milelib train --config)", lambda: read_config(text_file(
            "list-name.json", '{"method": {"name": ["mile"]}}'))),
        ("real.json entry [true, false] (booleans, not class indices)", lambda: datasets.build(imagenet_settings(
            imagenet_tree("bools", [[True, False]] + [[]] * (REAL_ENTRIES - 1))))),
        ("real.json of empty lists only", lambda: datasets.build(imagenet_settings(
            imagenet_tree("no-labels", [[]] * REAL_ENTRIES)))),
        ("a seed given twice to a sweep (milelib sweep --seeds 7 7)", lambda: sweep.run(
            {"Sigmoid": {"method": "sigmoid"}}, smoke(), [7, 7], tmp / "store")),
        ("run.out_dir holding a metrics.csv milelib did not write", users_metrics_csv),
        ("read-only disk while writing results", read_only_disk),
        ('pretrained checkpoint holding {"state_dict": <one tensor>}', lambda: pretrained_holding(
            "one-tensor.pth", {"state_dict": torch.zeros(3)})),
        ("pretrained checkpoint holding an int", lambda: pretrained_holding("int.pth", 7)),
        ("pretrained checkpoint holding a list", lambda: pretrained_holding("list.pth", [1, 2])),
        ("pretrained checkpoint whose weight is a list, not a tensor", lambda: pretrained_holding("list-weight.pth", {
            **build_model("small_cnn", 10, 1, smoke().model.width).state_dict(), "features.0.weight": [1, 2]})),
        ("pretrained checkpoint of 0 bytes", lambda: pretrained_holding("empty.pth", None)),
        ('result.json without a "run" key, read back by a sweep', lambda: sweep_reading_back(
            "no-run-key", lambda saved: saved.pop("run"))),
        ('result.json with "metrics": "n/a", read back by a sweep', lambda: sweep_reading_back(
            "metrics-na", lambda saved: saved.update(metrics="n/a"))),
        ("corrupt image read by a DataLoader worker (run.workers=2)", corrupt_image_in_a_worker),
        ("WebVision val label out of range", lambda: webvision_with("val-range", val_lines="val000001.jpg 7\n")),
        ("WebVision class absent from the train lists", lambda: webvision_with("no-class-1", without_class=1)),
        ("data.mini=true on a WebVision tree of 3 classes", lambda: webvision_with("mini", **{"data.mini": True})),
        ("run.threads above the machine's cores (run.threads=1000000, 8 cores)", threads_beyond_cores),
        ("notebook 06 with -y 'SETTINGS: {method: sigmoid}', its runs setting MILe's settings",
         lambda: experiments.run_experiment(exp, "smoke", results_dir=str(tmp / "nb"), overrides={"method": "sigmoid"},
                                            log=lambda *a, **k: None)),
        ("notebook 07 with -y 'SETTINGS: {method: sigmoid}' (its points read MILe's k_t, k_s)",
         lambda: experiments.run_experiment(experiments.get("distillation").EXPERIMENT, "smoke", results_dir=str(
             tmp / "nb07"), overrides={"method": "sigmoid"}, log=lambda *a, **k: None)),
        ("notebook 01 with -y 'SETTINGS: {method.name: sigmoid}' (each of its points names a method)",
         lambda: experiments.run_experiment(experiments.get("imagenet_fractions").EXPERIMENT, "smoke", results_dir=str(
             tmp / "nb01"), overrides={"method.name": "sigmoid"}, log=lambda *a, **k: None)),
        ("settings switching the method and giving the old one's method.variant with it",
         lambda: exp.config("smoke", {"method": "sigmoid", "method.variant": "algorithm1"})),
        ("empty checkpoints/last in a run folder", lambda: broken_pointer(
            "empty-last", lambda last: last.write_text(""))),
        ("checkpoints/last that is a folder", lambda: broken_pointer("folder-last", pointer_made_a_folder)),
        ("checkpoints/last naming a checkpoint that is missing", lambda: broken_pointer(
            "missing-last", lambda last: last.write_text("step-000999.pt\n"))),
        ("result.json whose config lacks a setting, read back by a sweep", lambda: sweep_reading_back(
            "no-lr", lambda saved: saved["config"]["optim"].pop("lr"))),
        ("result.json whose config lacks a setting, given to train --config", lambda: read_config(
            atomic_write_json(tmp / "no-lr.json", {"config": {**smoke().to_dict(), "optim": {
                k: v for k, v in smoke().to_dict()["optim"].items() if k != "lr"}}, "metrics": {}}))),
        # a run folder is milelib's or refused: every file a run writes, not only metrics.csv
        ('run.out_dir holding a user\'s result.json ({"accuracy": 0.93})', lambda: run_folder_holding(
            "users-result", "result.json", '{"accuracy": 0.93}')),
        ("run.out_dir holding a user's cycles.csv (method=mile)", lambda: run_folder_holding(
            "users-cycles", "cycles.csv", "cycle,acc\n1,0.5\n", method="mile")),
        ("run.out_dir holding a user's classes.txt (data=image_folder)", lambda: image_run_holding(
            "users-classes", "classes.txt", "cat\ndog\n")),
        ("run.out_dir holding a user's notes beside nothing of milelib's", lambda: run_folder_holding(
            "users-notes", "notes.md", "# my run\n")),
        ("run.out_dir holding a user's diverged.json", lambda: run_folder_holding("users-diverged", "diverged.json", "{}")),
        ("a user's classes.txt put into a finished run's folder, evaluated again", lambda: finished_then(
            "put-classes", lambda run: (run / "classes.txt").write_text("cat\n"), **{"run.reevaluate": True})),
        ("result.json edited after milelib wrote it (a better score), trained again", lambda: finished_then(
            "edited-score", lambda run: (run / "result.json").write_text(
                (run / "result.json").read_text().replace('"f1@0.5": 0', '"f1@0.5": 0.99, "x": 0')))),
        ("metrics.csv edited after milelib wrote it, evaluated again", lambda: finished_then(
            "edited-log", lambda run: (run / "metrics.csv").write_text((run / "metrics.csv").read_text() + "99,x,0,0\n"),
            **{"run.reevaluate": True})),
        ("a run folder's manifest damaged (not JSON)", lambda: finished_then(
            "bad-manifest", lambda run: (run / store_.MANIFEST).write_text("{files"), **{"run.reevaluate": True})),
        ("a file a user put in the run folder while the run trained", file_appearing_during_the_run),
        # everything read back is validated: never copied into a table
        ('result.json whose metrics.map is a string, read back by a sweep', lambda: sweep_reading_back(
            "map-string", lambda saved: saved["metrics"].update(map="high"))),
        ('result.json whose metrics.map is a list, read back by a sweep', lambda: sweep_reading_back(
            "map-list", lambda saved: saved["metrics"].update(map=[0.5]))),
        ('result.json whose metrics.map is a dict, read back by a sweep', lambda: sweep_reading_back(
            "map-dict", lambda saved: saved["metrics"].update(map={"value": 0.5}))),
        ('result.json whose metrics.map is true, read back by a sweep', lambda: sweep_reading_back(
            "map-bool", lambda saved: saved["metrics"].update(map=True))),
        ('result.json with "metrics": {}, read back by a sweep', lambda: sweep_reading_back(
            "metrics-empty", lambda saved: saved.update(metrics={}))),
        ("result.json missing metrics.map, read back by a sweep", lambda: sweep_reading_back(
            "map-missing", lambda saved: saved["metrics"].pop("map"))),
        ("result.json with metrics.map null, read back by a sweep", lambda: sweep_reading_back(
            "map-null", lambda saved: saved["metrics"].update(map=None))),
        ("result.json whose config_hash is a number, read back by a sweep", lambda: sweep_reading_back(
            "hash-number", lambda saved: saved.update(config_hash=7))),
        ("result.json whose run.wall_time_s is a string, read back by a sweep", lambda: sweep_reading_back(
            "wall-string", lambda saved: saved["run"].update(wall_time_s="fast"))),
        ("result.json without run.threads, read back by a sweep", lambda: sweep_reading_back(
            "no-threads", lambda saved: saved["run"].pop("threads"))),
        ("result.json with a bare NaN metric, stored before manifests, read back by a sweep", lambda: before_manifests(
            lambda text: text.replace('"map": ', '"map": NaN, "was": '))),
        ("result.json with a bare Infinity metric, stored before manifests, read back by a sweep", lambda: before_manifests(
            lambda text: text.replace('"map": ', '"map": Infinity, "was": '))),
        ("result.json holding a string, stored before manifests, read back by a sweep", lambda: before_manifests(
            lambda text: '"done"')),
        ("teacher run folder whose result.json holds a list", lambda: teacher_holding("[]")),
        ("teacher run folder whose result.json has no metrics", lambda: teacher_holding(
            '{"config_hash": "abc", "run": {}, "config": {}}')),
        # the command line validated as the notebooks validate their parameters
        ("milelib sweep --set seed=5 (the sweep sets each run's seed)", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "cli", "--set", "seed=5")),
        ("milelib sweep --set run.out_dir=X (the sweep sets each run's folder)", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "cli", "--set", f"run.out_dir={tmp}")),
        ("milelib reproduce --set seed=5", lambda: command_line(
            "reproduce", "--profile", "smoke", "--results-dir", tmp / "cli", "--set", "seed=5")),
        ("milelib relabel --set run.out_dir=X (relabel puts runs in its store)", lambda: command_line(
            "relabel", relabel_folder(), "--store", tmp / "st", "--set", f"run.out_dir={tmp / 'x'}")),
        ("milelib relabel --set data.root=X (the folder is the argument)", lambda: command_line(
            "relabel", relabel_folder(), "--store", tmp / "st", "--set", f"data.root={tmp}")),
        ("milelib relabel --set data.fold=1", lambda: command_line(
            "relabel", relabel_folder(), "--store", tmp / "st", "--set", "data.fold=1")),
        ("a setting given twice (--set optim.lr=0.1 optim.lr=0.2)", lambda: command_line(
            "train", "--profile", "smoke", "--set", "optim.lr=0.1", "optim.lr=0.2")),
        ("a setting name that is not a dotted name (--set 'optim lr=0.1')", lambda: command_line(
            "train", "--profile", "smoke", "--set", "optim lr=0.1")),
        ("--set without a name (--set =0.1)", lambda: command_line("train", "--profile", "smoke", "--set", "=0.1")),
        ("--set with an empty value (--set optim.lr=)", lambda: command_line(
            "train", "--profile", "smoke", "--set", "optim.lr=")),
        ("--set optim.steps=1e999 (infinite)", lambda: command_line(
            "train", "--profile", "smoke", "--set", "optim.steps=1e999")),
        ("--set optim.lr=NaN", lambda: command_line("train", "--profile", "smoke", "--set", "optim.lr=NaN")),
        ("milelib sweep --jobs 0", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "cli", "--jobs", "0")),
        ("milelib sweep --gpus 0", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "cli", "--gpus", "0")),
        ("milelib sweep --seeds -1", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "cli", "--seeds", "-1")),
        ("milelib sweep --seeds 7 7", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "cli", "--seeds", "7", "7")),
        ("milelib reproduce --jobs 0", lambda: command_line(
            "reproduce", "--profile", "smoke", "--results-dir", tmp / "cli", "--jobs", "0")),
        ("milelib sweep --results-dir naming a file", lambda: command_line(
            "sweep", "multi_mnist", "--profile", "smoke", "--results-dir", tmp / "a-file")),
        ("milelib relabel --folds 0", lambda: command_line("relabel", relabel_folder(), "--folds", "0")),
        ("milelib relabel --jobs -2", lambda: command_line("relabel", relabel_folder(), "--jobs", "-2")),
        ("milelib relabel --store naming a file", lambda: command_line(
            "relabel", relabel_folder(), "--store", tmp / "a-file")),
        ("milelib relabel --threshold nan", lambda: command_line("relabel", relabel_folder(), "--threshold", "nan")),
        ("milelib relabel some_file.csv (a file, not a folder)", lambda: command_line(
            "relabel", text_file("some_file.csv", "path,label\n"))),
        ("milelib relabel --out inside the image folder", lambda: command_line(
            "relabel", relabel_folder(), "--store", tmp / "st", "--out", relabel_folder() / "class0" / "x.csv")),
        ("milelib train --config naming a folder", lambda: command_line("train", "--config", tmp / "empty")),
        ("milelib train --config naming a missing file", lambda: command_line("train", "--config", tmp / "no.json")),
        ("config file in UTF-16 (milelib train --config)", lambda: read_config(
            atomic_write_bytes(tmp / "utf16.json", '{"seed": 1}'.encode("utf-16")))),
        # the data folder checked before training, a change during it reported as a change
        ("empty WebVision val_filelist.txt", lambda: webvision_val_list("empty-val", lambda root: "")),
        ("WebVision val list naming an image that is missing", lambda: webvision_val_list(
            "missing-val", lambda root: "val000001.jpg 0\nval999999.jpg 1\n")),
        ("image removed from its folder after the folder was read (bad_images='fail')", lambda: removed_after_reading(
            "fail")),
        ("image removed from its folder after the folder was read (bad_images='skip')", lambda: removed_after_reading(
            "skip")),
        ("data.test_root with a class the training folder lacks", test_root_with_an_extra_class),
        ("class folder whose name holds a newline", class_named_with_a_newline),
        ("symbolic link to itself in a class folder", link_to_itself),
        ("two symbolic links pointing at each other in a class folder", two_links_round_a_loop),
        ("image bytes changed with size and modification time kept (data.content taken before)",
         content_changed_same_size_and_time),
        # unclear messages made clear
        ("pretrained checkpoint of NaN weights", lambda: pretrained_file("nan.pth", nan_weights)),
        ("pretrained checkpoint path naming a folder", lambda: train(smoke({
            "model.pretrained": str(tmp / "empty"), "run.out_dir": None}))),
        ("pretrained checkpoint of random bytes", lambda: pretrained_file(
            "garbage.pth", lambda path: path.write_bytes(np.random.default_rng(0).bytes(3000)))),
        ("pretrained checkpoint that is a text file", lambda: pretrained_file(
            "text.pth", lambda path: path.write_text("weights: see the paper's website\n" * 20))),
        ("file-size limit reached while writing results (ulimit -f)", file_size_limit),
        ("very large image, under Pillow's refusal limit (DecompressionBombWarning)", very_large_image),
        ("DataLoader worker killed (as the OOM killer does, run.workers=2)", worker_killed),
        ("SIGTERM while training (a scheduler's or kill's)", sigterm_at_step_5),
    ]


MASKS = [(r"pid \d+ on \S+ since \d\d:\d\d:\d\d", "pid <pid> on <host> since <time>"),
         (r"/seed(\d+)-[0-9a-f]{12}/", r"/seed\1-<config hash>/"),  # a run store's folder: follows the defaults
         (r"worker \(pid [\d, ]+\)", "worker (pid <pid>)")]  # one or more pids, as torch lists them


def names() -> list[str]:
    return [case for case, _ in cases(Path("<tmp>"))]


@functools.cache  # the doc test reads back what the one test per case saw
def run_case(case: str) -> tuple[str, str]:
    """(exception type, or "warning", or "none"; the one line it gave) for one case, run in a fresh
    temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp).resolve()
        (tmp / "a-file").write_text("")
        (tmp / "empty").mkdir()
        call = dict(cases(tmp))[case]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                call()
                kind, message = "none", "NO ERROR RAISED"
            except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - catching is the point here
                kind = type(err).__name__
                message = str(err) if not isinstance(err, OSError) or not err.strerror else err.strerror
        ours = [w for w in caught if issubclass(w.category, MilelibWarning)]
        if kind == "none" and ours:
            kind, message = "warning", str(ours[0].message)
        for pattern, mask in MASKS:
            message = re.sub(pattern, mask, message)
        return kind, message.replace(str(tmp), "<tmp>")


def collect() -> list[tuple[str, str, str]]:
    """(case, exception type or "warning", message) for every case."""
    return [(case, *run_case(case)) for case in names()]


def markdown(rows) -> str:
    lines = ["# Bad inputs and what a user sees", "",
             "Generated by `python tools/write_errors.py` from real runs of each case in tests/bad_input_cases.py.",
             "A truncated or corrupt image can instead be skipped and counted with `bad_images='skip'`.",
             "Rows marked `warning` do not stop the run: it goes on, and says so in one line.", "",
             "| bad input | error | message |", "| --- | --- | --- |"]
    lines += [f"| {case} | `{kind}` | {message.replace('|', '/')} |" for case, kind, message in rows]
    return "\n".join(lines) + "\n"
