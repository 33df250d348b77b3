"""Image files to uint8 tensors [3, H, W], by one of two decoders (`data.decoder`):

- "pil": Pillow, for every format it reads; the reference, and the default (every run stored
  before the setting decoded this way).
- "torchvision": `torchvision.io.decode_image` on the file's bytes for the JPEGs and 8-bit PNGs
  that ImageNet and WebVision hold, Pillow for the rest. It decodes straight into a tensor, with
  no PIL image and no numpy copy between: some 10% more images per core decoding 500x375 JPEGs,
  15% with the training transforms (benchmarks/loaders.py; the same libjpeg-turbo does the work).

Both call libjpeg-turbo and libpng and give the same pixels, to the level, on every file the
torchvision path takes (tests/test_decoders.py: JPEGs at several qualities and subsamplings,
progressive and greyscale; PNGs grey, grey with alpha, RGBA, palette, 1-bit). So a run's numbers
do not depend on the decoder, which stays out of the config hash and is recorded in the run's
facts instead (a resume on the other one warns). What torchvision.io would not decode as Pillow
does goes to Pillow: CMYK JPEGs (torchvision reads every one as Adobe-inverted, Pillow checks the
marker; older torchvision refuses them), 16-bit PNGs (torchvision keeps 16 bits; `read_image` makes
them 8), animated files, GIF, BMP, TIFF, WebP, and any file torchvision fails on, so a truncated file
fails in Pillow with the same one line as under "pil". Format and mode come from the file's header
(Pillow reads it, some 30 us), never from its name: a PNG named .JPEG is a PNG.

torchvision 0.29 deprecates torchvision.io's decoders in favour of TorchCodec's; where they are gone,
data.decoder="torchvision" is refused in one line (`check_decoder`).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import check_choice

DECODERS = ("pil", "torchvision")
# Formats and modes (Pillow's names, from the header) whose RGB pixels torchvision.io gives exactly as
# Pillow's convert("RGB") does: the test of that is tests/test_decoders.py
BY_TORCHVISION = {"JPEG": {"L", "RGB"}, "PNG": {"1", "L", "LA", "P", "RGB", "RGBA"}}


class PixelRangeError(ValueError):
    """An image whose values no 8-bit scaling fits: refused even under bad_images='skip', as a whole
    folder saved that way would otherwise be skipped image by image."""


def decode(path, decoder: str = "pil") -> torch.Tensor:
    """An RGB uint8 tensor [3, H, W] of the whole file (so truncation is caught here), by `decoder`."""
    if decoder == "torchvision":
        image = by_torchvision(path)
        if image is not None:
            return image
    return torch.from_numpy(read_image(path)).permute(2, 0, 1)


def by_torchvision(path) -> torch.Tensor | None:
    """The file decoded by torchvision.io, or None for one it does not decode as Pillow does (Pillow's turn)."""
    from torchvision.io import ImageReadMode, decode_image

    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as header:  # the header only: nothing is decoded yet
            if header.mode not in BY_TORCHVISION.get(header.format, ()) or getattr(header, "is_animated", False):
                return None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):  # Pillow says why, when it reads it
        return None
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its image decoders (for TorchCodec), each call
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        except RuntimeError:  # truncated, corrupt: Pillow's one line
            return None
    return image if image.dtype == torch.uint8 else None  # an RGB PNG of 16 bits: Pillow scales it


def check_decoder(decoder: str) -> None:
    """A decoder this torch can use: torchvision.io's decoders are deprecated since torchvision 0.29."""
    check_choice("data.decoder", decoder, DECODERS)
    if decoder == "torchvision":
        import torchvision.io

        if not hasattr(torchvision.io, "decode_image"):
            raise ValueError(f"data.decoder='torchvision' needs torchvision.io.decode_image, which torchvision "
                             f"{torchvision.__version__} lacks: use data.decoder='pil'")


def read_image(path) -> np.ndarray:
    """An RGB uint8 [H, W, 3] array, by Pillow; decodes the whole file, so truncation is caught here."""
    with Image.open(path) as img:
        img.load()
        if img.mode == "I" or img.mode.startswith("I;16") or img.mode == "F":  # convert("RGB") clips them at 255
            return np.repeat(_to_8_bits(np.asarray(img), path)[:, :, None], 3, axis=2)
        return np.array(img.convert("RGB"))  # a writable copy, as torch.from_numpy wants


def _to_8_bits(values: np.ndarray, path) -> np.ndarray:
    """16-bit values (0..65535) and float ones in [0, 1] scaled to 0..255; floats in [0, 255] kept."""
    low, high = values.min(), values.max()
    if values.dtype.kind == "f":
        if not 0 <= low <= high <= 255:  # NaN fails this too
            raise PixelRangeError(f"image {path} holds float values from {low:g} to {high:g}: expected [0, 1] or "
                                  f"[0, 255]; save it scaled to one of them, or as 8 or 16 bits")
        return np.rint(values * (255 if high <= 1 else 1)).astype(np.uint8)
    if not 0 <= low <= high <= 65535:
        raise PixelRangeError(f"image {path} holds 32-bit values from {low} to {high}: expected 0..65535 (16 bits); "
                              f"save it as 8 or 16 bits")
    return ((values.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)  # rounded, in integers


# GPU decoding, for the JPEGs of ImageNet and WebVision: the pieces, tested on CPUs; the feed that
# uses them (feeds.LoaderData handing a batch of jobs to `decode_on_gpu`) is not wired yet, so no
# setting turns it on. A loader worker reads a file's bytes and its size from the header
# (`jpeg_job`) and draws the training crop and flip on the CPU from the image's own augmentation
# seed (`training_crop`: torchvision's RandomResizedCrop and RandomHorizontalFlip draw the same
# numbers in the same order, so a crop is the one the CPU path takes and a resume stays exact); the
# main process decodes a whole batch on the GPU and crops there (`decode_on_gpu`).
# Why torchvision's nvJPEG (`torchvision.io.decode_jpeg(device="cuda")`) and not DALI: it is in the
# torchvision the project already pins (DALI is a CUDA-specific wheel from NVIDIA's index, with its
# own pipeline and samplers that would have to reproduce the (seed, step) order), it decodes a list
# of JPEGs in one batched call, and the crops stay torchvision's, tested here against the CPU path.
# nvJPEG's IDCT may differ from libjpeg-turbo's by a level on some pixels, so, like compilation, its
# setting is to be one of how a run computes (the run part, in the run's facts), not of what.
# torchvision 0.29 deprecates torchvision.io's decoders for TorchCodec's (0.16 on:
# `torchcodec.decoders.decode_jpeg(..., device="cuda")`, the same nvJPEG, its API largely
# torchvision's): the library takes TorchCodec's from the torchvision that removes torchvision.io's
# (`gpu_decoder`; its list and mode arguments to be checked then), and refuses in one line when
# neither is installed.


def jpeg_job(path) -> tuple[torch.Tensor, int, int]:
    """A JPEG's bytes as a uint8 tensor and its height and width from the header (nothing decoded);
    a file that is not a baseline or progressive RGB/grey JPEG raises ValueError (its path named)."""
    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as header:
            if header.format != "JPEG" or header.mode not in BY_TORCHVISION["JPEG"]:
                raise ValueError(f"image {path} is a {header.format} {header.mode} image: GPU decoding takes "
                                 f"RGB and greyscale JPEGs only; convert it, or decode on the CPU")
            width, height = header.size
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"image {path} is truncated or corrupt ({str(err).splitlines()[0]}): remove it") from None
    return torch.frombuffer(bytearray(data), dtype=torch.uint8), height, width


def training_crop(height: int, width: int, size: int) -> tuple[int, int, int, int, bool]:
    """(top, left, crop height, crop width, flip) of a training crop, drawn from torch's default
    generator exactly as `images.transforms(True, size)` draws them (RandomResizedCrop, then
    RandomHorizontalFlip): called under the image's seed, it names the CPU path's crop."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    params = v2.RandomResizedCrop(size, antialias=True).make_params(
        [tv_tensors.Image(torch.empty(3, height, width, dtype=torch.uint8, device="meta"))])
    flip = bool(torch.rand(1) < 0.5)  # RandomHorizontalFlip(p=0.5) transforms when rand(1) < p
    return params["top"], params["left"], params["height"], params["width"], flip


def gpu_decoder():
    """The batched nvJPEG decoder: TorchCodec's where torchvision.io has none (torchvision > 0.29)."""
    import torchvision.io

    if hasattr(torchvision.io, "decode_jpeg"):
        return torchvision.io.decode_jpeg
    try:
        from torchcodec.decoders import decode_jpeg
    except ImportError:
        raise ValueError(f"GPU decoding needs torchvision.io.decode_jpeg, which torchvision {torchvision.__version__} "
                         f"lacks, or TorchCodec's: pip install torchcodec, or decode on the CPU") from None
    return decode_jpeg


def decode_on_gpu(datas: list[torch.Tensor], crops: list[tuple], size: int, device) -> torch.Tensor:
    """A batch of JPEG bytes decoded on `device` in one call, each cropped, resized to `size` x `size`
    (antialiased, as the CPU path) and flipped as its `training_crop` says: uint8 [B, 3, size, size]."""
    from torchvision.io import ImageReadMode
    from torchvision.transforms.v2 import functional as TF

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        images = gpu_decoder()(datas, mode=ImageReadMode.RGB, device=device)
    out = []
    for image, (top, left, h, w, flip) in zip(images, crops):
        x = TF.resized_crop(image, top, left, h, w, [size, size], antialias=True)
        out.append(TF.horizontal_flip(x) if flip else x)
    return torch.stack(out)
