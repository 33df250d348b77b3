"""The sweep runner and its run store: finished runs read back, changed ones trained in a folder of
their own, profiles apart, runs side by side giving the same numbers as one at a time."""
import json

import pandas as pd
import pytest

import milelib.sweep as sweep
from milelib import checkpoint, experiments, store
from milelib.experiments import grid

EXP = experiments.get("multi_mnist").EXPERIMENT
POINTS = {"Sigmoid": {"method": "sigmoid"}}


def counting(monkeypatch):
    calls, real = [], sweep.train

    def train(cfg):
        calls.append(cfg.seed)
        return real(cfg)

    monkeypatch.setattr(sweep, "train", train)
    return calls


def test_finished_runs_are_read_back_and_changed_ones_trained_anew(tmp_path, monkeypatch):
    calls, base = counting(monkeypatch), EXP.config("smoke", {"run.progress": False})
    first = sweep.run(POINTS, base, (0, 1), tmp_path, jobs=1)
    assert calls == [0, 1] and list(first["reused"]) == [False, False]
    again = sweep.run(POINTS, base, (0, 1), tmp_path, jobs=1)
    assert calls == [0, 1] and list(again["reused"]) == [True, True]
    pd.testing.assert_frame_equal(again.drop(columns="reused"), first.drop(columns="reused"))
    assert (first["train_wall_time_s"] > 0).all() and set(first["label"]) == {"Sigmoid"}

    (tmp_path / "sigmoid" / f"seed1-{first.config_hash[1]}" / "result.json").unlink()  # incomplete
    sweep.run(POINTS, base, (0, 1), tmp_path, jobs=1)
    assert calls == [0, 1, 1]

    changed = sweep.run(POINTS, base.override({"optim.lr": 0.3}), (0,), tmp_path, jobs=1)  # its own folder
    assert calls == [0, 1, 1, 0] and changed.config_hash[0] != first.config_hash[0]
    assert sorted(p.name for p in (tmp_path / "sigmoid").iterdir()) == sorted(
        f"seed{s}-{h}" for s, h in zip([*first.seed, *changed.seed], [*first.config_hash, *changed.config_hash]))



@pytest.mark.parametrize("damage, why", [
    (lambda saved: saved.pop("run"), r"no 'run' key"),
    (lambda saved: saved.update(metrics="n/a"), r"'metrics' holds \"n/a\", not an object"),
    (lambda saved: saved["metrics"].update(map="high"), r"metrics\['map'\] holds \"high\", not a number"),
    (lambda saved: saved["metrics"].update(map=[1]), r"metrics\['map'\] holds \[1\], not a number"),
    (lambda saved: saved["metrics"].update(map={"a": 1}), r"metrics\['map'\] holds \{\"a\": 1\}, not a number"),
    (lambda saved: saved.update(metrics={}), r"'metrics' is empty"),
    (lambda saved: saved["metrics"].update(map=None), None),
    (lambda saved: saved["metrics"].pop("map"), None),
], ids=["no run key", "metrics n/a", "map a string", "map a list", "map a dict", "metrics empty", "map null",
        "map missing"])
def test_a_malformed_result_is_refused_never_copied_into_the_table(tmp_path, damage, why):
    base = EXP.config("smoke", {"run.progress": False})
    first = sweep.run(POINTS, base, (0,), tmp_path, jobs=1)
    path = tmp_path / "sigmoid" / f"seed0-{first.config_hash[0]}" / "result.json"
    saved = json.loads(path.read_text())
    damage(saved)
    path.write_text(json.dumps(saved))
    assert store.finished_result(path.parent, first.config_hash[0]) is None
    told = (rf"^{path} was not written by milelib \({why}.*\) and the run would replace it: choose another "
            r"run.out_dir, or move that file aside$") if why else (
        rf"^{path} was changed after milelib wrote it \(its checksum is not the one milelib recorded\): the run would "
        r"take it for its own or replace it")  # well formed: only the manifest tells
    with pytest.raises(FileExistsError, match=told):
        sweep.run(POINTS, base, (0,), tmp_path, jobs=1)
    assert json.loads(path.read_text()) == saved  # kept as the user left it


def test_a_bare_nan_in_a_result_from_before_manifests_is_refused(tmp_path):
    base = EXP.config("smoke", {"run.progress": False})
    first = sweep.run(POINTS, base, (0,), tmp_path, jobs=1)
    path = tmp_path / "sigmoid" / f"seed0-{first.config_hash[0]}" / "result.json"
    (path.parent / ".milelib-files.json").unlink()
    path.write_text(path.read_text().replace('"map": ', '"map": NaN, "x": '))
    assert store.finished_result(path.parent, first.config_hash[0]) is None
    with pytest.raises(FileExistsError, match=r"metrics\['map'\] is nan, where milelib writes a finite number or null"):
        sweep.run(POINTS, base, (0,), tmp_path, jobs=1)


def test_a_repeated_seed_is_refused_before_any_run(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    with pytest.raises(ValueError, match=r"^seed 7 is given more than once \(seeds 7 7\): each seed names one run; "
                                         r"give each seed once$"):
        sweep.run(POINTS, EXP.config("smoke", {"run.progress": False}), [7, 7], tmp_path)
    assert calls == [] and not any(tmp_path.iterdir())


def test_a_run_two_experiments_need_trains_once(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    base = EXP.config("smoke", {"run.progress": False})
    sweep.run({"Sigmoid": {"method": "sigmoid"}}, base, (0,), tmp_path, jobs=1)
    # another notebook's base differs only in MILe's settings: Sigmoid does not see them
    other = sweep.run({"baseline": {"method": "sigmoid"}}, base.override({"method.rho": 0.4}), (0,), tmp_path, jobs=1)
    assert calls == [0] and other.reused[0]


def test_profiles_never_share_a_store(tmp_path):
    assert store.store_dir(tmp_path, "smoke") != store.store_dir(tmp_path, "quick")
    assert store.store_dir(tmp_path, "quick") == tmp_path / "runs" / "quick"


def test_side_by_side_gives_the_same_numbers_as_one_at_a_time(tmp_path):
    base = EXP.config("smoke", {"run.progress": False, "optim.steps": 8})
    points = grid({"method.student_steps": [1, 2]})
    alone = sweep.run(points, base, (0,), tmp_path / "alone", axes=["method.student_steps"], jobs=1)
    both = sweep.run(points, base, (0,), tmp_path / "both", axes=["method.student_steps"], jobs=2)
    assert list(both["method.student_steps"]) == [1, 2] and not both.reused.any()
    metrics = [c for c in alone.columns if c not in ("run_dir", "train_wall_time_s")]
    pd.testing.assert_frame_equal(both[metrics], alone[metrics])  # the same threads: equal, not close


def test_default_jobs_is_one_per_threads_share_of_the_cores(monkeypatch):
    monkeypatch.setattr(sweep.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    base = EXP.config("smoke", {"run.device": "cpu"})
    assert sweep.default_jobs(base.override({"run.threads": 1}), pending=10) == 4
    assert sweep.default_jobs(base.override({"run.threads": 2}), pending=10) == 2
    assert sweep.default_jobs(base.override({"run.threads": 1}), pending=3) == 3
    assert sweep.default_jobs(base.override({"run.threads": None}), pending=10) == 1


def test_ctrl_c_stops_a_sweep_in_one_line_and_the_rerun_goes_on(tmp_path, monkeypatch):
    import os
    import signal

    import milelib.methods.supervised as S
    from milelib.training import Stopped

    base = EXP.config("smoke", {"run.progress": False, "run.checkpoint_every": 8})
    calls, real = [], S.sgd_step

    def step(*args):
        calls.append(1)
        if len(calls) == 30:  # step 6 of the second run (24 steps each)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(S, "sgd_step", step)
    with pytest.raises(Stopped, match=r"^sweep stopped after 1 of 2 runs \(stopped at step 6 of 24: rerun the same "
                                      r"command to resume from its checkpoint at step 6\); rerun the same call to go on"):
        sweep.run(POINTS, base, (0, 1), tmp_path, jobs=1)
    monkeypatch.undo()
    again = sweep.run(POINTS, base, (0, 1), tmp_path, jobs=1)
    assert list(again.reused) == [True, False]
    alone = sweep.run(POINTS, base, (0, 1), tmp_path / "alone", jobs=1)
    pd.testing.assert_frame_equal(again.drop(columns=["run_dir", "train_wall_time_s", "reused"]),
                                  alone.drop(columns=["run_dir", "train_wall_time_s", "reused"]))


def test_workers_end_when_the_sweep_process_is_killed(tmp_path):
    """Killing a sweep (SIGKILL: no clean-up) ends its worker processes too, within seconds,
    instead of leaving them to train the queued runs unread."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "sweep.py"
    script.write_text(
        "import sys\nfrom milelib import experiments, sweep\n"
        "if __name__ == '__main__':\n"
        "    base = experiments.get('rho_sweep').EXPERIMENT.config('smoke', {'optim.steps': 10**6, 'run.progress': False})\n"
        "    sweep.run({'a': {}, 'b': {'method': 'sigmoid'}, 'c': {'method': 'softmax'}}, base, [0], sys.argv[1], jobs=2)\n")
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "store")])
    deadline, pids = time.time() + 120, set()
    while len(pids) < 2 and time.time() < deadline:  # each worker names itself in its run folder's lock
        time.sleep(0.5)
        pids = {int(f.read_text().split()[1]) for f in (tmp_path / "store").glob("*/*/.lock") if f.read_text()}
    assert len(pids) == 2, "the two workers did not start"
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.time() + 15
    while any(map(alive, pids)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(map(alive, pids))


def test_sigterm_stops_a_sweep_and_its_workers_at_a_checkpoint_in_one_line(tmp_path):
    """SIGTERM to the sweep alone (a scheduler's, `kill`'s; Ctrl-C reaches the workers from the
    terminal itself): it is passed on to the workers, each run stops at a step with its checkpoint,
    and the command ends in one line with 143."""
    import signal
    import subprocess
    import sys
    import time

    cli = subprocess.Popen([sys.executable, "-m", "milelib", "sweep", "multi_mnist", "--profile", "smoke", "--jobs",
                            "2", "--seeds", "0", "--results-dir", str(tmp_path), "--set", "optim.steps=100000",
                            "run.checkpoint_every=20", "run.threads=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while len(list(tmp_path.glob("runs/smoke/*/*/checkpoints/last"))) < 2:  # both workers are training
        assert cli.poll() is None and time.time() < deadline, cli.stderr.read()
        time.sleep(0.2)
    cli.send_signal(signal.SIGTERM)
    out, err = cli.communicate(timeout=240)
    assert cli.returncode == 143, err
    said = [line for line in err.splitlines() if line.startswith("milelib: ")]  # (multiprocessing's resource
    assert len(said) == 1, err                                                 # tracker may warn of semaphores)
    assert said[0].startswith("milelib: sweep stopped after 0 of 6 runs (stopped by SIGTERM") and "resume" in said[0]
    assert "Traceback" not in err, err
    steps = [checkpoint.load_latest(folder)[1]["step"] for folder in tmp_path.glob("runs/smoke/*/*/checkpoints")]
    assert len(steps) == 2 and all(step % 20 for step in steps), steps  # each stopped at a step, not a checkpoint's


def test_a_run_that_diverges_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """A NaN loss on seed 1 stops that run only: the others train, its error is kept in its folder's
    diverged.json and read back on a rerun (not retrained), and its row has the error and no metrics,
    which the 'every run learned' control names and scopes to its label."""
    import milelib.methods.supervised as S
    from milelib.experiments.controls import trained

    real = S.Sigmoid.loss
    monkeypatch.setattr(S.Sigmoid, "loss", lambda self, logits, batch: real(self, logits, batch) *
                        (float("nan") if self.cfg.seed == 1 else 1.0))
    calls, base, logged = counting(monkeypatch), EXP.config("smoke", {"run.progress": False}), []
    table = sweep.run(POINTS, base, (0, 1, 2), tmp_path, jobs=1, log=lambda line, **_: logged.append(line))
    assert calls == [0, 1, 2]
    folder = tmp_path / "sigmoid" / f"seed1-{table.config_hash[1]}"
    assert not (folder / "result.json").exists()
    error = json.loads((folder / store.DIVERGED).read_text())["error"]
    assert error.startswith("loss became nan at step 1 (sigmoid); run stopped")
    assert any(line.startswith(f"[2/3] Sigmoid seed 1: DIVERGED, {error}; recorded in {folder / store.DIVERGED} "
                               "(delete it to train the run again)") for line in logged)
    assert list(table.diverged.isna()) == [True, False, True] and table.loc[1, "diverged"] == error
    assert table["val/accuracy"].isna().tolist() == [False, True, False]
    again = sweep.run(POINTS, base, (0, 1, 2), tmp_path, jobs=1, log=lambda *a, **k: None)
    assert calls == [0, 1, 2] and list(again.reused) == [True, True, True]
    smoke_learned = again["val/accuracy"].where(again["val/accuracy"].isna(), 0.8)  # 24 steps learn nothing
    learned = trained(again.assign(**{"val/accuracy": smoke_learned}))
    assert learned["verdict"] == "fails" and learned["failed runs"] == "Sigmoid (seed 1)" and learned["scope"] == "Sigmoid"
