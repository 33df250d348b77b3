"""The run store, in one place: where runs live, one process per run folder, files written whole
and vouched for by a manifest of checksums, and each file format read back by one validating reader.

    store_dir(results, profile) / run_dir(store, cfg)   where a run lives
    prepare(out_dir)                                    a run folder, writable, every file milelib's
    hold(folder) / holder(folder) / RunFolderBusy       one process per run folder (lock.py)
    write(...) / write_lines(...) / record_divergence   a run's files, result.json last
    finished_result / previous_result / finished_hash   result.json read back, validated
    diverged(folder, config_hash)                       diverged.json read back
    atomic_write_bytes / atomic_write_json / read_json  any file, whole or not at all (files.py)

Layout: `<results>/runs/<profile>/<method>/seed<s>-<config hash>/` holding metrics.csv, cycles.csv,
the data's lists (classes.txt, train_files.txt), checkpoints/ (checkpoint.py), result.json written
last (or diverged.json), `.milelib-files.json` (the manifest) and `.lock`.
"""
from .files import WRITE_FIXES, atomic_write_bytes, atomic_write_json, json_bytes, read_json, remove_leftovers
from .folder import prepare, record_divergence, refuse_foreign, run_dir, store_dir, write, write_file, write_lines
from .lock import HELD_FOR, LOCK_NAME, RunFolderBusy, hold, held_for_this_process, holder
from .manifest import CYCLES, DIVERGED, LOG, MANIFEST, RESULT
from .records import (RUN_FACTS, diverged, finished_hash, finished_result, log_problem, previous_result,
                      read_result, result_problem, settings_lacking, undefined_as_nan)

__all__ = ["WRITE_FIXES", "atomic_write_bytes", "atomic_write_json", "json_bytes", "read_json", "remove_leftovers",
           "prepare", "record_divergence", "refuse_foreign", "run_dir", "store_dir", "write", "write_file",
           "write_lines", "HELD_FOR", "LOCK_NAME", "RunFolderBusy", "hold", "held_for_this_process", "holder",
           "CYCLES", "DIVERGED", "LOG", "MANIFEST", "RESULT", "RUN_FACTS", "diverged", "finished_hash",
           "finished_result", "log_problem", "previous_result", "read_result", "result_problem", "settings_lacking",
           "undefined_as_nan"]
