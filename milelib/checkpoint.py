"""Checkpoint files: written atomically, found through a `last` pointer, loadable with
`torch.load(weights_only=True)` (plain types and tensors only), with one-line errors.

Layout of a run folder: `checkpoints/step-000400.pt` ... and `checkpoints/last`, a one-line text
file naming the newest complete checkpoint. A checkpoint is written under a temporary name and
renamed, then the pointer is rewritten the same way, then older checkpoints are removed: a run
killed at any instant leaves a pointer to a whole checkpoint.
"""
from __future__ import annotations

import io
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch

from .results import atomic_write_bytes

FORMAT = 2  # 2: the run config in parts, the method's state under "method"


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
        torch.cuda.set_rng_state_all(state["cuda"])


def save(folder, state: dict) -> Path:
    """Write folder/step-XXXXXX.pt, point folder/last at it, then drop older checkpoints."""
    folder = Path(folder)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    path = atomic_write_bytes(folder / f"step-{state['step']:06d}.pt", buf.getvalue())
    atomic_write_bytes(folder / "last", f"{path.name}\n".encode())
    for old in [*folder.glob("step-*.pt"), *folder.glob(".*.tmp")]:  # temps: left by a kill mid-write
        if old.name != path.name:
            old.unlink(missing_ok=True)
    return path


def last_path(folder) -> Path | None:
    """The checkpoint the `last` pointer names, or None when there is none yet."""
    pointer = Path(folder) / "last"
    if not pointer.exists():
        return None
    path = Path(folder) / pointer.read_text().strip()
    if not path.exists():
        raise FileNotFoundError(f"{pointer} names {path.name}, which is missing: delete {folder} to start over")
    return path


def load(path, map_location="cpu") -> dict:
    """A checkpoint's contents; a truncated or garbled file gives one line saying so."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        reason = str(err).split(". ")[0].splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"checkpoint {path} is corrupt ({reason}): delete it (and its 'last' pointer) "
                         f"to start the run over") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path} is not a milelib checkpoint (no 'step'): point at a run's checkpoints folder")
    if state.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} has format {state.get('format')}, this milelib reads format {FORMAT}: "
                         f"rerun with the milelib version that wrote it, or delete it to start over")
    return state


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
