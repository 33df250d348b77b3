"""Checkpoint files: written atomically, found through a `last` pointer, loadable with
`torch.load(weights_only=True)` (plain types and tensors only), checked against a checksum of
their content, with one-line errors.

Layout of a run folder: `checkpoints/step-000400.pt` ... and `checkpoints/last`, a one-line text
file naming the newest complete checkpoint. A checkpoint is written under a temporary name and
renamed, then the pointer is rewritten the same way, then all but the newest two are removed: a
run killed at any instant leaves a pointer to a whole checkpoint, and one whose bytes were later
damaged on disk is refused, the run resuming from the one before it.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch

from .notices import warn
from .store.files import atomic_write_bytes

FORMAT = 3  # 3: a checksum of the content; 2: the run config in parts (read, without a checksum)
READABLE = (2, 3)
KEEP = 2    # the newest checkpoint and the one before it


class DamagedCheckpoint(ValueError):
    """A checkpoint file that cannot be read, or whose content no longer matches its checksum."""

    def __init__(self, path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"checkpoint {path} is {reason}: delete it (and its 'last' pointer) to start the run over")


def rng_state() -> dict:
    """Every RNG a run may touch, as plain types: Python, NumPy, torch and CUDA."""
    version, keys, gauss = random.getstate()
    kind, np_keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "keys": list(keys), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["keys"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        set_cuda_rng_states(state["cuda"])


def set_cuda_rng_states(states: list) -> None:
    """Each saved GPU's RNG state into the visible GPU of the same index, as many as both have: a
    run resumed on fewer GPUs than it was saved on (an 8-GPU torchrun run by the local launcher)
    resumes rather than failing, and says in one line that it is no longer exact."""
    visible = torch.cuda.device_count()
    for index, cuda_state in enumerate(states[:visible]):
        torch.cuda.set_rng_state(cuda_state, index)
    if len(states) != visible:
        warn(f"the checkpoint holds the RNG states of {len(states)} GPU(s) and this process sees {visible}: "
             f"{min(len(states), visible)} restored, so random draws on the GPU (dropout, GPU augmentation) "
             f"differ and the result will be close to, not exactly, an unstopped run's; resume with "
             f"{len(states)} visible GPU(s) (CUDA_VISIBLE_DEVICES) for an exact result")


def digest(obj) -> str:
    """A SHA-256 of a checkpoint's content: every tensor's dtype, shape and bytes, and every other
    value's repr, walked in a fixed order (dict keys sorted). It survives torch.save/torch.load."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(x.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for key in sorted(x, key=repr):
                feed(key)
                feed(x[key])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for value in x:
                feed(value)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed(obj)
    return h.hexdigest()


def save(folder, state: dict) -> Path:
    """Write folder/step-XXXXXX.pt with its checksum, point folder/last at it, then drop all but
    the newest KEEP checkpoints (and temporary files a kill mid-write left)."""
    folder = Path(folder)
    content = {"format": FORMAT, **state}
    content["checksum"] = digest(content)
    buf = io.BytesIO()
    torch.save(content, buf)
    path = atomic_write_bytes(folder / f"step-{state['step']:06d}.pt", buf.getvalue())
    atomic_write_bytes(folder / "last", f"{path.name}\n".encode())
    keep = {path, *sorted(p for p in folder.glob("step-*.pt") if p.name < path.name)[-(KEEP - 1):]}
    for old in [*folder.glob("step-*.pt"), *folder.glob(".*.tmp")]:
        if old not in keep:
            old.unlink(missing_ok=True)
    return path


_POINTER = "it should hold the name of the newest checkpoint file beside it (step-NNNNNN.pt)"


def last_path(folder) -> Path | None:
    """The checkpoint the `last` pointer names, or None when there is none yet."""
    folder = Path(folder)
    pointer = folder / "last"
    if not pointer.exists():
        return None
    # the run folder, not checkpoints/ alone: a metrics.csv without checkpoints beside it is refused
    start_over = f"delete the run folder {folder.parent} to start the run over"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        why = "is a folder" if pointer.is_dir() else "is not text" if isinstance(err, UnicodeDecodeError) else (
            f"cannot be read ({err.strerror})")
        raise ValueError(f"checkpoint pointer {pointer} {why}: {_POINTER}; {start_over}") from None
    path = folder / name
    if not name or "/" in name or path.is_dir():
        why = "is empty" if not name else f"names {name!r}"
        raise ValueError(f"checkpoint pointer {pointer} {why}: {_POINTER}; {start_over}")
    if not path.exists():
        raise FileNotFoundError(f"{pointer} names {path.name}, which is missing: {start_over}")
    return path


def load(path, map_location="cpu") -> dict:
    """A checkpoint's contents; a truncated, garbled or damaged file gives one line saying so."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        reason = str(err).split(". ")[0].splitlines()[0] if str(err) else type(err).__name__
        raise DamagedCheckpoint(path, f"corrupt ({reason})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path} is not a milelib checkpoint (no 'step'): point at a run's checkpoints folder")
    if state.get("format") not in READABLE:
        raise ValueError(f"checkpoint {path} has format {state.get('format')}, this milelib reads formats "
                         f"{', '.join(map(str, READABLE))}: rerun with the milelib version that wrote it, or delete "
                         f"it to start over")
    if state["format"] >= 3 and state.pop("checksum", None) != digest(state):
        raise DamagedCheckpoint(path, "damaged, its content no longer matching its checksum (bytes changed on disk)")
    return state


def load_latest(folder) -> tuple[Path, dict] | None:
    """The newest checkpoint of `folder` that loads whole, or None when there is none yet. When the
    one the `last` pointer names is damaged, the one kept before it is used, with a warning."""
    named = last_path(folder)
    if named is None:
        return None
    older = sorted((p for p in Path(folder).glob("step-*.pt") if p.name < named.name), reverse=True)
    try:
        return named, load(named)
    except DamagedCheckpoint as damage:
        for path in older:
            try:
                state = load(path)
            except DamagedCheckpoint:
                continue
            warn(f"checkpoint {named} is {damage.reason}: resuming from {path.name}, the checkpoint before it")
            return path, state
        raise


def check_compatible(state: dict, path, config_hash: str, model: str) -> None:
    """A checkpoint must come from the same resolved config (and so the same model)."""
    theirs = state.get("config", {}).get("model", {}).get("name")
    if theirs != model:
        raise ValueError(f"checkpoint {path} holds a {theirs!r} model but the config asks for {model!r}: "
                         f"use another out_dir, or the config it was made with")
    if state.get("config_hash") != config_hash:
        raise ValueError(f"checkpoint {path} was made by another config (hash {state.get('config_hash')} != "
                         f"{config_hash}): use another out_dir, or delete it to start over")


def load_weights(net: torch.nn.Module, weights: dict, path) -> None:
    """Load a state dict whose keys must match the network's exactly (one-line error if not)."""
    expected, given = set(net.state_dict()), set(weights)
    if expected != given:
        unknown, missing = sorted(given - expected), sorted(expected - given)
        raise ValueError(f"checkpoint {path} does not fit {type(net).__name__}: unknown keys {unknown[:3]}, "
                         f"missing keys {missing[:3]}; was it made with another model?")
    net.load_state_dict(weights)
