"""Models by name build, run on both grid sizes, and reject unknown names."""
import pytest
import torch

from milelib.models import build_model, copy_weights


@pytest.mark.parametrize("size", [42, 84])
def test_small_cnn_on_both_grid_sizes(size):
    net = build_model("small_cnn", 10)
    assert net(torch.randn(3, 1, size, size)).shape == (3, 10)


def test_resnet18_takes_one_channel():
    net = build_model("resnet18", 7, in_channels=1)
    assert net(torch.randn(2, 1, 84, 84)).shape == (2, 7)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'vit': choose one of small_cnn, resnet18, resnet50"):
        build_model("vit", 10)


def test_copy_weights_in_place():
    a, b = build_model("small_cnn", 10), build_model("small_cnn", 10)
    before = a.state_dict()["head.1.weight"].data_ptr()
    copy_weights(a, b)
    assert a.state_dict()["head.1.weight"].data_ptr() == before
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
