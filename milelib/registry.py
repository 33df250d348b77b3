"""Name -> (settings dataclass, builder) tables for datasets and methods.

Adding a dataset or a method is one module (its settings dataclass and its builder) and one line
in `milelib/data/__init__.py` or `milelib/methods/__init__.py`: `DATASETS.add(name, Settings, build)`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Entry:
    settings: type      # a dataclass whose first field is `name`
    builder: Callable   # datasets: build(settings) -> Data; methods: Method class, called (cfg, parts)


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, settings: type, builder: Callable) -> None:
        if name in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is already registered: choose another name")
        self._entries[name] = Entry(settings, builder)

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def get(self, name: Any) -> Entry:
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown {self.kind} {name!r}: {hint}choose one of {', '.join(self._entries)}")
        return self._entries[name]


DATASETS = Registry("dataset")
METHODS = Registry("method")
