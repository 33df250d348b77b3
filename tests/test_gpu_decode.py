"""GPU decoding's CPU side: each image's crop and flip drawn on the CPU from its own seed are those the
CPU path takes, so a batch decoded on the GPU (nvJPEG, here torchvision's CPU decoder standing in
for it) is the CPU path's batch and a resume stays exact."""
import numpy as np
import pytest
import torch
import torchvision.io
from PIL import Image

from milelib.data import decoders
from milelib.data.images import transforms


def jpeg(path, size, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_a_batch_decoded_on_the_gpu_is_the_cpu_paths_batch(tmp_path, monkeypatch):
    files = [jpeg(tmp_path / f"{i}.jpg", size, i) for i, size in enumerate([(60, 80), (75, 50), (64, 64)])]
    seeds, size = [11, 2**40 + 3, 7], 32
    cpu_decode = torchvision.io.decode_jpeg
    asked = {}

    def on_gpu(datas, mode, device):  # nvJPEG's batched call, run by the CPU decoder here
        asked.update(device=device, count=len(datas))
        return [cpu_decode(d, mode=mode) for d in datas]

    monkeypatch.setattr(torchvision.io, "decode_jpeg", on_gpu)
    jobs, crops = [], []
    for path, seed in zip(files, seeds):
        data, height, width = decoders.jpeg_job(path)
        torch.manual_seed(seed)  # as the loader's _Seeded seeds each image
        crops.append(decoders.training_crop(height, width, size))
        jobs.append(data)
    batch = decoders.decode_on_gpu(jobs, crops, size, "cuda:0")
    assert asked == {"device": "cuda:0", "count": 3} and batch.shape == (3, 3, size, size)
    for path, seed, x in zip(files, seeds, batch):
        torch.manual_seed(seed)
        expected = transforms(True, size)(decoders.decode(path, "pil"))  # the CPU path's crop, same seed
        assert torch.equal(x, expected)
    assert {c[4] for c in crops} == {True, False}  # flipped and not: the flip is drawn where the CPU path draws it


def test_a_file_the_gpu_cannot_decode_is_named(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"a.png is a PNG RGB image: GPU decoding takes RGB and greyscale JPEGs only"):
        decoders.jpeg_job(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ValueError, match="b.jpg is truncated or corrupt"):
        decoders.jpeg_job(tmp_path / "b.jpg")
