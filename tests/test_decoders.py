"""The two image decoders (data.decoder): torchvision.io gives Pillow's pixels exactly on every file it
takes, Pillow takes the rest (CMYK, 16 bits, other formats, broken files), a file is read by its
contents whatever its name, the batches and their augmentations do not depend on the decoder, the
decoder stays out of the config hash, and a resume on the other decoder warns in one line."""
import json
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import milelib.methods.supervised as S
from milelib import RunConfig, fixtures, train
from milelib.data import decoders, imagenet
from milelib.data.decoders import by_torchvision, decode
from milelib.data.images import ImageFiles
from milelib.notices import MilelibWarning
from milelib.store import settings_lacking
from milelib.training import _check_facts
from stopping import Stop, stop_on_call

CPU = torch.device("cpu")


def photo(height=375, width=500, seed=0) -> np.ndarray:
    """ImageNet's typical size; smooth gradients, edges and noise, so every DCT frequency is used."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 0.4 + y * 0.2) % 256, (y * 0.6) % 256, np.where((x // 50 + y // 50) % 2, 200, 40)], 2)
    return np.clip(pixels + np.random.default_rng(seed).normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)


def save(path, image: Image.Image, **options):
    image.save(path, **options)
    return path


RGB = Image.fromarray(photo())
# what the torchvision path takes: the formats and modes of decoders.BY_TORCHVISION
TAKEN = {
    "jpeg q75 4:2:0": lambda p: save(p / "a.JPEG", RGB, quality=75),
    "jpeg q95 4:4:4": lambda p: save(p / "a.JPEG", RGB, quality=95, subsampling=0),
    "jpeg q90 4:2:2": lambda p: save(p / "a.JPEG", RGB, quality=90, subsampling=1),
    "jpeg progressive": lambda p: save(p / "a.jpg", RGB, quality=90, progressive=True),
    "jpeg odd size": lambda p: save(p / "a.jpg", Image.fromarray(photo(37, 53, seed=1)), quality=85),
    "jpeg greyscale": lambda p: save(p / "a.jpg", RGB.convert("L"), quality=90),
    "png rgb": lambda p: save(p / "a.png", RGB),
    "png greyscale": lambda p: save(p / "a.png", RGB.convert("L")),
    "png grey + alpha": lambda p: save(p / "a.png", RGB.convert("LA")),
    "png rgba": lambda p: save(p / "a.png", RGB.convert("RGBA")),
    "png palette": lambda p: save(p / "a.png", RGB.convert("P")),
    "png palette + transparency": lambda p: save(p / "a.png", RGB.convert("P"), transparency=3),
    "png 1 bit": lambda p: save(p / "a.png", RGB.convert("1")),
    "png named .JPEG": lambda p: save(p / "a.JPEG", RGB, format="PNG"),
    "jpeg named .png": lambda p: save(p / "a.png", RGB, format="JPEG", quality=90),
}


@pytest.mark.parametrize("case", TAKEN)
def test_torchvision_decodes_as_pillow_does_to_the_level(tmp_path, case):
    """Measured: 0 levels apart on every pixel (Pillow 13 and torchvision 0.29, both libjpeg-turbo), so
    the bound is exact; a build whose JPEG decoding differs fails here, as it should (data.decoder
    stays out of the config hash only because the pixels are the same)."""
    path = TAKEN[case](tmp_path)
    pillow = decode(path, "pil")
    taken = by_torchvision(path)
    assert taken is not None, f"{case}: the torchvision path did not take it"
    assert taken.dtype == torch.uint8 and taken.shape == pillow.shape and pillow.shape[0] == 3
    assert (taken.int() - pillow.int()).abs().max().item() == 0
    assert torch.equal(decode(path, "torchvision"), pillow)


def animated_gif(path):
    frames = [Image.fromarray(photo(40, 48, seed=s)).convert("P") for s in range(2)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def png_rgb_16(path):
    """An RGB PNG of 16 bits a channel, written by hand: Pillow writes none."""
    import struct
    import zlib

    pixels = (photo(40, 48).astype(">u2") * 257 + np.arange(48, dtype=">u2")[None, :, None]).astype(">u2")
    rows = b"".join(b"\0" + row.tobytes() for row in pixels)  # filter type 0 per row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    head = struct.pack(">IIBBBBB", 48, 40, 16, 2, 0, 0, 0)  # width, height, 16 bits, RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


GREY_16 = (np.arange(48 * 40).reshape(40, 48) * 34).astype("<u2")
# what Pillow decodes under either decoder: torchvision.io would not give the same pixels, or none
LEFT_TO_PILLOW = {
    "cmyk jpeg": lambda p: save(p / "a.JPEG", RGB.convert("CMYK"), quality=90),
    "16-bit png": lambda p: save(p / "a.png", Image.fromarray(GREY_16)),
    "16-bit rgb png": lambda p: png_rgb_16(p / "a.png"),
    "bmp": lambda p: save(p / "a.bmp", RGB),
    "tiff": lambda p: save(p / "a.tif", RGB),
    "webp": lambda p: save(p / "a.webp", RGB, quality=80),
    "gif": lambda p: save(p / "a.gif", RGB.convert("P")),
    "animated gif": lambda p: animated_gif(p / "a.gif"),
    "cmyk jpeg named .png": lambda p: save(p / "a.png", RGB.convert("CMYK"), format="JPEG"),
}


@pytest.mark.parametrize("case", LEFT_TO_PILLOW)
def test_what_torchvision_would_decode_otherwise_is_left_to_pillow(tmp_path, monkeypatch, case):
    path = LEFT_TO_PILLOW[case](tmp_path)
    pillow = decode(path, "pil")
    assert by_torchvision(path) is None
    if case != "16-bit rgb png":  # known from its header alone: never decoded twice
        import torchvision.io

        def refuse(*args, **kwargs):
            raise AssertionError("torchvision.io decoded a file its header leaves to Pillow")

        monkeypatch.setattr(torchvision.io, "decode_image", refuse)
    assert torch.equal(decode(path, "torchvision"), pillow)


def test_16_bit_png_scaled_as_pillow_path_scales_it(tmp_path):
    path = LEFT_TO_PILLOW["16-bit png"](tmp_path)
    expected = ((GREY_16.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)
    assert torch.equal(decode(path, "torchvision"), torch.from_numpy(expected).expand(3, -1, -1))


@pytest.mark.parametrize("decoder", ["pil", "torchvision"])
@pytest.mark.parametrize("broken", ["truncated", "not an image"])
def test_a_broken_file_fails_in_the_same_one_line_under_either_decoder(tmp_path, decoder, broken):
    good = (tmp_path / "good.jpg")
    RGB.save(good, quality=90)
    data = good.read_bytes()
    path = tmp_path / "bad.jpg"
    path.write_bytes(data[: len(data) // 2] if broken == "truncated" else b"plain text, named .jpg")
    with pytest.raises(ValueError) as err:
        ImageFiles([(str(path), 0)], ["a"], decoder=decoder)[0]
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"image {path} is truncated or corrupt (")
    assert message.endswith("remove it, or set bad_images='skip' to skip and count such files")
    with pytest.raises(ValueError) as pil_err:
        ImageFiles([(str(path), 0)], ["a"], decoder="pil")[0]
    assert message == str(pil_err.value)
    assert ImageFiles([(str(path), 0)], ["a"], bad_images="skip", decoder=decoder)[0] is None


def test_the_torchvision_path_shows_no_deprecation_warning(tmp_path):
    path = TAKEN["jpeg q75 4:2:0"](tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode(path, "torchvision")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return fixtures.imagenet(tmp_path_factory.mktemp("decoders") / "imagenet", num_classes=3, train_per_class=10,
                             val_per_class=3, size=(64, 48))


def feeds(root, decoder):
    return imagenet.build(imagenet.ImageNetData(root=str(root), image_size=32, resize=40, holdout_per_class=1,
                                                decoder=decoder))


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_and_augmentations_are_the_same_under_either_decoder(tree, workers):
    """RandomResizedCrop and flips draw from each image's own seed, (seed, step, position): only the
    decoding changed, so every training and evaluation batch is the same, to the bit."""
    pil, tv = feeds(tree, "pil"), feeds(tree, "torchvision")
    assert tv.train.dataset.decoder == "torchvision" and tv.splits["val"].data.dataset.decoder == "torchvision"
    streams = [data.train.batches(3, 8, seed=5, device=CPU, workers=workers) for data in (pil, tv)]
    for _ in range(4):  # steps 3-6: past the end of the first epoch (27 images, 3 steps of 8)
        a, b = (next(stream) for stream in streams)
        assert torch.equal(a.index, b.index) and torch.equal(a.y, b.y) and torch.equal(a.x, b.x)
    for a, b in zip(*(data.splits["val"].data.eval_batches(4, CPU, workers) for data in (pil, tv))):
        assert torch.equal(a, b)


# --- the setting ---------------------------------------------------------------------------------

# data.root "/data/x": the hashes of these configs before data.decoder existed
HASHES = {"image_folder": "45886c0121b7", "imagenet": "81e2315b4da7", "webvision": "53e1a11f4a5c"}


@pytest.mark.parametrize("dataset", HASHES)
def test_the_decoder_stays_out_of_the_config_hash(dataset):
    settings = {"data": dataset, "data.root": "/data/x"}
    cfg = RunConfig().override(settings)
    assert cfg.data.decoder == "pil"
    assert cfg.config_hash() == HASHES[dataset]  # every stored run keeps its hash
    other = RunConfig().override({**settings, "data.decoder": "torchvision"})
    assert other.config_hash() == HASHES[dataset]  # and is read back whichever decoder asks for it
    stored = json.loads(json.dumps(cfg.to_dict()))
    del stored["data"]["decoder"]  # a result.json written before the setting
    assert settings_lacking(stored, other) == []


def test_an_unknown_or_unavailable_decoder_is_refused_in_one_line(monkeypatch):
    with pytest.raises(ValueError, match=r"^unknown data.decoder 'turbo': choose one of pil, torchvision$"):
        RunConfig().override({"data": "imagenet", "data.root": "/data/x", "data.decoder": "turbo"})
    import torchvision.io

    monkeypatch.delattr(torchvision.io, "decode_image")
    with pytest.raises(ValueError, match=r"^data.decoder='torchvision' needs torchvision.io.decode_image, which "
                                         r"torchvision \S+ lacks: use data.decoder='pil'$"):
        decoders.check_decoder("torchvision")


def test_a_resume_on_the_other_decoder_warns_in_one_line_and_lands_on_the_unstopped_run(tmp_path, monkeypatch):
    root = fixtures.image_folder(tmp_path / "images", num_classes=3, per_class=8)

    def config(out, decoder, workers=0):  # in one override: a second would turn data.exclude's () into []
        return RunConfig().override({"data": "image_folder", "data.root": str(root), "data.image_size": 16,
                                     "data.decoder": decoder, "method": "sigmoid", "model.width": 8,
                                     "optim.steps": 8, "optim.batch_size": 6, "optim.warmup_steps": 2,
                                     "run.checkpoint_every": 4, "run.threads": 1, "run.progress": False,
                                     "run.workers": workers, "run.out_dir": str(tmp_path / out)})

    expected = train(config("whole", "pil"))
    stop_on_call(monkeypatch, S, 6)  # in step 6, after the checkpoint at step 4
    with pytest.raises(Stop):
        train(config("stopped", "pil"))
    monkeypatch.undo()
    with pytest.warns(MilelibWarning, match=r"resuming .*step-000004.pt with decoder torchvision \(it ran with pil\): "
                                            r"the result will be close to") as caught:
        got = train(config("stopped", "torchvision", "auto"))
    assert all("\n" not in str(w.message) for w in caught)
    assert got == expected  # the same pixels: the same run
    record = json.loads((tmp_path / "stopped" / "result.json").read_text())["run"]
    assert record["decoder"] == "torchvision" and record["workers"] == max(0, len(os.sched_getaffinity(0)) - 1)


def test_a_checkpoint_from_before_the_setting_counts_as_pillows(recwarn):
    before = {"threads": 1, "device": "cpu"}  # its facts hold no decoder
    _check_facts(before, {**before, "decoder": "pil"}, "step-000004.pt")
    _check_facts(before, before, "step-000004.pt")  # tensors: no decoder either side
    assert not recwarn.list
    with pytest.warns(MilelibWarning, match=r"with decoder torchvision \(it ran with pil\)"):
        _check_facts(before, {**before, "decoder": "torchvision"}, "step-000004.pt")
