"""Profiles resolve through one function; bad settings fail with one clear line."""
import pytest

from milelib import TrainConfig, profile_info, resolve_config
from milelib.config import EXPERIMENTS


def test_profiles_resolve_and_overrides_win():
    quick = resolve_config("quick")
    assert (quick.digit_size, quick.steps, quick.method) == (14, EXPERIMENTS["multi_mnist"]["quick"].config["steps"], "mile")
    assert resolve_config("quick", method="sigmoid", seed=3).method == "sigmoid"
    assert profile_info("quick").seeds == (0, 1, 2)
    assert resolve_config("paper").digits == "mnist"


@pytest.mark.parametrize("call, message", [
    (lambda: resolve_config("fast"), r"unknown profile 'fast': choose one of smoke, quick, paper"),
    (lambda: resolve_config("quick", experiment="cifar"), r"unknown experiment 'cifar'"),
    (lambda: resolve_config("quick", teacher_step=1), r"unknown setting 'teacher_step': did you mean teacher_steps\?"),
    (lambda: resolve_config("quick", zzz=1), r"unknown setting 'zzz': valid ones: batch_size, center_prob"),
    (lambda: TrainConfig(method="mixup"), r"unknown method 'mixup': choose one of softmax, sigmoid, mile, oracle"),
    (lambda: TrainConfig(model="vgg"), r"unknown model 'vgg': choose one of small_cnn, resnet18, resnet50"),
    (lambda: TrainConfig(mile_variant="v2"), r"unknown mile_variant 'v2'"),
    (lambda: TrainConfig(teacher_steps=0), r"k_t\) and student_steps \(k_s\) must be >= 1"),
    (lambda: TrainConfig(student_steps=-1), r"must be >= 1, got 200 and -1"),
    (lambda: TrainConfig(rho=1.0), r"rho must lie in \(0, 1\), got 1.0"),
    (lambda: TrainConfig(rho=0.0), r"rho must lie in \(0, 1\)"),
])
def test_bad_settings_give_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_config_hash_ignores_bookkeeping_but_not_training():
    a = resolve_config("smoke")
    assert a.config_hash() == resolve_config("smoke", progress=False, out_dir="/elsewhere").config_hash()
    assert a.config_hash() != resolve_config("smoke", rho=0.3).config_hash()
    assert a.config_hash() != resolve_config("smoke", seed=1).config_hash()
