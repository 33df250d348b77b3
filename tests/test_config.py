"""A run config in parts: dotted overrides, switching parts, round trips, the hash; bad settings
fail with one clear line."""
import json
import os

import pytest

from milelib import RunConfig, experiments
from milelib.experiments import grid


def test_profiles_resolve_and_overrides_win():
    exp = experiments.get("multi_mnist").EXPERIMENT
    quick = exp.config("quick")
    assert (quick.data.digit_size, quick.method.name, quick.method.rho) == (7, "mile", 0.5)  # rho chosen on validation by the protocol
    assert exp.config("quick", {"method": "sigmoid", "seed": 3}).method.name == "sigmoid"
    assert exp.profile("quick").seeds == (0, 1, 2, 3, 4)
    assert exp.config("paper").data.digits == "mnist"


def test_dotted_overrides_set_fields_and_switching_a_part_resets_it():
    cfg = RunConfig().override({"method.rho": 0.1, "optim.steps": 800, "seed": 2, "data.filled_cells": [1, 3]})
    assert (cfg.method.rho, cfg.optim.steps, cfg.seed, cfg.data.filled_cells) == (0.1, 800, 2, [1, 3])
    soft = cfg.override({"method": "soft_distillation", "method.teacher_steps": 7})
    assert (soft.method.name, soft.method.teacher_steps, soft.method.student_steps) == ("soft_distillation", 7, 200)
    assert not hasattr(soft.method, "rho")  # the old part's settings are gone
    assert cfg.override({"method.name": "sigmoid"}).method.name == "sigmoid"
    assert cfg.override({"model": "resnet18"}).model.name == "resnet18"
    assert cfg.override({"optim.lr": 1}).optim.lr == 1.0 and isinstance(cfg.override({"optim.lr": 1}).optim.lr, float)


def test_to_dict_from_dict_round_trip_through_json():
    cfg = RunConfig().override({"method": "elr", "method.beta": 0.9, "data.filled_weights": [0.8, 0.2],
                                "data.filled_cells": [1, 2], "run.out_dir": "x"})
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.config_hash() == cfg.config_hash()


def test_config_hash_ignores_the_run_part_but_not_what_changes_results():
    a = RunConfig()
    same = a.override({"run.progress": False, "run.out_dir": "/elsewhere", "run.threads": 1, "run.device": "cpu",
                       "run.workers": 2, "run.checkpoint_every": 7, "run.log_every": 3})
    assert a.config_hash() == same.config_hash()
    for change in ({"method.rho": 0.3}, {"seed": 1}, {"optim.lr": 0.1}, {"data.train": 5}, {"model": "resnet18"},
                   {"method.variant": "algorithm1"}):
        assert a.config_hash() != a.override(change).config_hash(), change


def test_a_sigmoid_run_hashes_the_same_whatever_mile_settings_it_was_switched_from():
    # a run that two figures need trains once: the method part of Sigmoid holds only its name
    one = RunConfig().override({"method.rho": 0.1}).override({"method": "sigmoid"})
    two = RunConfig().override({"method.teacher_steps": 9}).override({"method": "sigmoid"})
    assert one.config_hash() == two.config_hash()


def test_a_config_read_back_from_a_dict_keeps_its_hash():
    # data.exclude defaults to (); JSON gives back [], which once put it in the hash, so a sweep
    # worker's or a result.json's copy of an image-folder run hashed differently from the run
    given = RunConfig().override({"data": "image_folder", "data.root": "/data/x"})
    for again in (given.override({"seed": 0}), RunConfig.from_dict(json.loads(json.dumps(given.to_dict())))):
        assert again.data.exclude == [] and again.config_hash() == given.config_hash()
    assert given.override({"data.exclude": ["a.jpg"]}).config_hash() != given.config_hash()
    # and a stored config without that default setting does not lack it, whichever form it came back in
    from milelib.store import settings_lacking

    stored = given.to_dict()
    del stored["data"]["exclude"]
    assert "exclude" in given.out_of_hash("data") and settings_lacking(stored, again) == []


def test_grid_points():
    points = grid({"method.teacher_steps": [1, 2], "method.student_steps": [3]})
    assert points == {"teacher_steps=1, student_steps=3": {"method.teacher_steps": 1, "method.student_steps": 3},
                      "teacher_steps=2, student_steps=3": {"method.teacher_steps": 2, "method.student_steps": 3}}


@pytest.mark.parametrize("call, message", [
    (lambda: experiments.get("multi_mnist").EXPERIMENT.config("fast"), r"unknown profile 'fast': choose one of smoke, quick, paper"),
    (lambda: experiments.get("cifar"), r"unknown experiment 'cifar'"),
    (lambda: RunConfig().override({"method.teacher_step": 1}), r"unknown setting 'method.teacher_step' for method 'mile': did you mean method.teacher_steps\?"),
    (lambda: RunConfig().override({"method.rho": 0.1, "method": "sigmoid"}), r"unknown setting 'method.rho' for method 'sigmoid': valid ones: none"),
    (lambda: RunConfig().override({"steps": 5}), r"unknown setting 'steps': did you mean optim.steps\?"),
    (lambda: RunConfig().override({"optim.stepz": 5}), r"unknown setting 'optim.stepz' for the optim part: did you mean optim.steps\?"),
    (lambda: RunConfig().override({"training.lr": 5}), r"unknown setting 'training.lr': "),
    (lambda: RunConfig().override({"method": "mixup"}), r"unknown method 'mixup': choose one of softmax, sigmoid, oracle, elr, mile"),
    (lambda: RunConfig().override({"method": "mile_v2"}), r"unknown method 'mile_v2': did you mean 'mile'\?"),
    (lambda: RunConfig().override({"data": "cifar10"}), r"unknown dataset 'cifar10': .*choose one of grids, image_folder, imagenet, webvision"),
    (lambda: RunConfig().override({"model": "vgg"}), r"unknown model 'vgg': choose one of small_cnn, resnet18, resnet50"),
    (lambda: RunConfig().override({"method.variant": "v2"}), r"unknown method.variant 'v2': choose one of released, algorithm1"),
    (lambda: RunConfig().override({"method.teacher_steps": 0}), r"teacher_steps \(k_t\) and method.student_steps \(k_s\) must be >= 1"),
    (lambda: RunConfig().override({"method.rho": 1.0}), r"method.rho must lie in \(0, 1\), got 1.0"),
    (lambda: RunConfig().override({"optim.steps": "many"}), r"optim.steps takes int, got 'many'"),
    (lambda: RunConfig().override({"optim.steps": 0}), r"optim.steps must be >= 1, got 0"),
    (lambda: RunConfig().override({"data.val": 0}), r"data.train, data.val and data.test .* must be >= 1"),
    (lambda: RunConfig().override({"data.digits": "emnist"}), r"unknown digits source 'emnist'"),
    (lambda: RunConfig().override({"run.progress": "yes"}), r"run.progress takes bool, got 'yes'"),
    (lambda: RunConfig().override({"run.device": "gpu"}), r"unknown device 'gpu': use auto, cpu, cuda or cuda:N"),
    (lambda: RunConfig().override({"run.threads": 0}), r"run.threads must be >= 1"),
    (lambda: RunConfig.from_dict({"method": {"name": "mile"}, "extra": 1}), r"unknown setting 'extra'"),
    (lambda: RunConfig.from_dict({"method": {"rho": 0.1}}), r"the method part needs a name"),
    (lambda: RunConfig().override({"optim.steps": 200, "method.teacher_steps": 200}),
     r"method.warmup_steps \+ method.teacher_steps \(k_t\), 0 \+ 200, >= optim.steps 200: no imitation step would "
     r"run, and a mile result would be Sigmoid's or Softmax's"),
    (lambda: RunConfig().override({"method": "hard_distillation", "optim.steps": 100}),
     r"method.warmup_steps \+ method.teacher_steps \(k_t\), 0 \+ 200, >= optim.steps 100"),
    (lambda: RunConfig().override({"method": "simclr", "model.head": "cam"}), r"^simclr pretrains an encoder"),
    (lambda: RunConfig().override({"data.root": "/data/mnist"}),
     r"data.root is '/data/mnist' but data.digits is 'embedded' .*: drop data.root, or set data.digits=mnist"),
    (lambda: RunConfig().override({"run.out_dir": ""}), r"run.out_dir is empty: give a folder"),
    (lambda: RunConfig().override({"run.out_dir": "  "}), r"run.out_dir is empty"),
    (lambda: RunConfig().override({"optim.warmup_steps": -1}), r"^optim.warmup_steps must be >= 0, got -1$"),
    (lambda: RunConfig().override({"optim.lr": 0}), r"^optim.lr must be > 0, got 0.0$"),
    (lambda: RunConfig().override({"optim.momentum": 1.0}), r"^optim.momentum must be in \[0, 1\), got 1.0$"),
    (lambda: RunConfig().override({"optim.weight_decay": -0.1}), r"^optim.weight_decay must be >= 0, got -0.1$"),
    (lambda: RunConfig().override({"seed": -1}), r"seed must be >= 0, got -1"),
    (lambda: RunConfig().override({"data.digit_size": 10}), r"data.digit_size must divide 28 .*got 10: use 28, 14 or 7"),
    (lambda: RunConfig().override({"data.center_prob": 1.5}), r"center_prob must be between 0 and 1 \(got 1.5\)"),
    (lambda: RunConfig().override({"data.filled_cells": [1, 3], "data.filled_weights": [0.5, 0.5]}),
     r"filled_weights must hold 3 weights"),
    (lambda: RunConfig().override({"data": "image_folder"}), r"data.root is empty: the image_folder dataset reads"),
    (lambda: RunConfig().override({"data": "image_folder", "data.root": "x", "data.image_size": 0}),
     r"data.image_size must be >= 1"),
    (lambda: RunConfig().override({"method": "elr", "method.lam": -1}), r"method.lam be >= 0, got 0.7 and -1"),
    (lambda: RunConfig().override({"model.width": 0}), r"model.width must be >= 1, got 0"),
    (lambda: RunConfig().override({"run.workers": -2}), r"run.workers must be >= 0, got -2"),
    (lambda: RunConfig().override({"run.workers": "many"}),
     r"^run.workers must be >= 0, got 'many' \(or 'auto': the cores this process may use, less one\)$"),
    (lambda: RunConfig.from_dict({"method": {"name": ["mile"]}}),  # a config file's part named by a list
     r"^method.name takes str, got \['mile'\]: write one of softmax, sigmoid, .*mile"),
    (lambda: RunConfig().override({"data.name": {"grids": 1}}),
     r"^data.name takes str, got \{'grids': 1\}: write one of grids"),
    (lambda: RunConfig().override({"method": 3}), r"^method.name takes str, got 3"),
])
def test_bad_settings_give_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_a_home_relative_out_dir_is_expanded(tmp_path, monkeypatch):
    from milelib import store

    monkeypatch.setenv("HOME", str(tmp_path))
    assert store.prepare("~/runs/a") == tmp_path / "runs" / "a" and (tmp_path / "runs" / "a").is_dir()
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize("cores, processes, workers", [(16, None, 15), (16, 4, 3), (128, 8, 15), (2, None, 1),
                                                       (1, None, 0), (3, 4, 0)])
def test_auto_workers_are_the_cores_of_each_gpu_process_less_one(monkeypatch, cores, processes, workers):
    """The cores this process may use (a sweep pins each GPU's run to its share), over the processes
    torchrun started on this machine (LOCAL_WORLD_SIZE), less one for the process feeding the GPU."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    if processes:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(processes))
    else:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert RunConfig().override({"run.workers": "auto"}).run.loader_workers() == workers
    assert RunConfig().override({"run.workers": 5}).run.loader_workers() == 5  # a count is kept as it is


# data.root "/data/x", run.device "cpu": their hashes when the profiles fixed 8 workers
PAPER_HASHES = {"imagenet_fractions": "d59bd0bd63e6", "webvision": "cb5bcac3eb6f", "self_supervised": "6e26ef7d51d3"}


@pytest.mark.parametrize("name", PAPER_HASHES)
def test_paper_profiles_size_their_workers_to_the_cores_and_keep_their_hashes(name):
    cfg = experiments.get(name).EXPERIMENT.config("paper", {"run.device": "cpu"}, data_root="/data/x")
    assert cfg.run.workers == "auto" and cfg.config_hash() == PAPER_HASHES[name]
