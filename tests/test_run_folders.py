"""Runs that cannot clobber each other or a good result: one process per run folder, checksummed
checkpoints with a fallback, finished runs never rewritten, resume facts checked, Ctrl-C."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import pytest

import milelib.methods.supervised as S
from milelib import checkpoint, experiments, train
from milelib.store import lock as runlock
from milelib.notices import MilelibWarning
from milelib.training import Stopped
from stopping import Stop, stop_on_call

EXP = experiments.get("multi_mnist").EXPERIMENT


def smoke(out=None, **settings):
    return EXP.config("smoke", {"method": "sigmoid", "run.progress": False,
                                **({"run.out_dir": str(out)} if out else {}), **settings})


def flip_tensor_byte(path):
    """Flip one byte inside the largest tensor of a checkpoint file, leaving the zip readable
    (torch stores its entries uncompressed)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        entry = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        data = z.read(entry)
    at = raw.find(data) + len(data) // 2
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


# --- one process per run folder ------------------------------------------------------------------

SCRIPT = ("import json, sys; from milelib import experiments, train; "
          "train(experiments.get('multi_mnist').EXPERIMENT.config('smoke', json.loads(sys.argv[1])))")


def test_a_second_process_is_refused_and_the_first_ends_exact(tmp_path):
    settings = {"method": "sigmoid", "optim.steps": 120, "run.checkpoint_every": 5, "run.progress": False}
    expected = train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "alone")}))
    first = subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps({**settings, "run.out_dir": str(tmp_path / "shared")})],
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "shared" / "checkpoints" / "last").exists():  # the first is training, lock held
        assert first.poll() is None and time.time() < deadline, first.stderr.read()
        time.sleep(0.01)
    with pytest.raises(runlock.RunFolderBusy, match=rf"run folder .*shared is in use by pid {first.pid} on .* since "
                                                    r".*: wait for that run to finish") as err:
        train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "shared")}))
    assert "\n" not in str(err.value)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert json.loads((tmp_path / "shared" / "result.json").read_text())["metrics"] == expected  # equal, not close


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / runlock.LOCK_NAME).write_text(f"pid {dead.stdout.strip()} on elsewhere since 00:00:00")
    assert 0 <= train(smoke(tmp_path))["f1@0.5"] <= 1
    assert (tmp_path / runlock.LOCK_NAME).read_text().startswith(f"pid {os.getpid()} ")


# --- files milelib did not write ------------------------------------------------------------------

@pytest.mark.parametrize("content, checkpoints, why", [
    ("epoch,acc\n1,0.5\n", False, r"header 'epoch,acc'"),
    ("epoch,acc\n1,0.5\n", True, r"header 'epoch,acc'"),  # beside a run's checkpoints, still not its log
    ("step,phase,loss,lr\n10,label,0.5,0.1\n", False, r"no checkpoints/ or result.json beside it"),  # a copy
])
def test_a_users_metrics_csv_is_refused_before_training(tmp_path, monkeypatch, content, checkpoints, why):
    (tmp_path / "metrics.csv").write_text(content)
    if checkpoints:
        (tmp_path / "checkpoints").mkdir()
    monkeypatch.setattr(S, "sgd_step", lambda *a: pytest.fail("trained into a folder holding a user's metrics.csv"))
    with pytest.raises(FileExistsError, match=rf"metrics.csv was not written by milelib \({why}\) and the run would "
                                              rf"replace it: choose another run.out_dir, or move that file aside$"):
        train(smoke(tmp_path))
    assert (tmp_path / "metrics.csv").read_text() == content


def test_a_stopped_runs_own_metrics_csv_is_not_refused(tmp_path):
    expected = train(smoke(tmp_path))
    (tmp_path / "result.json").unlink()  # stopped between its log and its result: checkpoints beside the log
    assert train(smoke(tmp_path)) == expected


# --- checksummed checkpoints ---------------------------------------------------------------------

def test_a_checkpoint_with_flipped_tensor_bytes_is_refused(tmp_path):
    train(smoke(tmp_path))
    path = checkpoint.last_path(tmp_path / "checkpoints")
    assert checkpoint.load(path)["step"] == 24
    flip_tensor_byte(path)
    with pytest.raises(checkpoint.DamagedCheckpoint, match=r"step-000024.pt is damaged, its content no longer "
                                                           r"matching its checksum .*: delete it") as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value)


def test_resume_falls_back_to_the_checkpoint_before_a_damaged_one(tmp_path):
    expected = train(smoke(tmp_path / "alone"))
    train(smoke(tmp_path / "run"))
    (tmp_path / "run" / "result.json").unlink()  # as if stopped after its last checkpoint was written
    flip_tensor_byte(tmp_path / "run" / "checkpoints" / "step-000024.pt")
    with pytest.warns(MilelibWarning, match=r"step-000024.pt is damaged, .*: resuming from step-000016.pt, the "
                                            r"checkpoint before it"):
        got = train(smoke(tmp_path / "run"))
    assert got == expected


def test_no_good_checkpoint_left_is_refused_in_one_line(tmp_path):
    train(smoke(tmp_path))
    (tmp_path / "result.json").unlink()
    for path in (tmp_path / "checkpoints").glob("step-*.pt"):
        flip_tensor_byte(path)
    with pytest.raises(ValueError, match=r"step-000024.pt is damaged, its content no longer matching its checksum"):
        train(smoke(tmp_path))


# --- finished runs are returned as they are ------------------------------------------------------

def test_a_finished_run_rerun_leaves_its_result_byte_identical(tmp_path, monkeypatch):
    first = train(smoke(tmp_path))
    before = (tmp_path / "result.json").read_bytes()
    monkeypatch.setattr(S, "sgd_step", lambda *a: pytest.fail("a finished run was trained again"))
    monkeypatch.setattr("milelib.training.evaluate", lambda *a: pytest.fail("a finished run was evaluated again"))
    assert train(smoke(tmp_path)) == first
    assert (tmp_path / "result.json").read_bytes() == before


def test_reevaluate_is_the_explicit_option(tmp_path):
    first = train(smoke(tmp_path))
    before = json.loads((tmp_path / "result.json").read_text())
    again = train(smoke(tmp_path, **{"run.reevaluate": True}))
    after = json.loads((tmp_path / "result.json").read_text())
    assert again == first and after["metrics"] == first  # the same network evaluated again: equal here
    assert before["run"]["resumed_from_steps"] == [] and after["run"]["resumed_from_steps"] == [24]  # rewritten


@pytest.mark.parametrize("content, why", [
    ("[]", "a JSON list, not an object"), ('{"metrics": {}}', "no 'config_hash' key"),
    ("{not json", "unreadable JSON"), ('{"accuracy": 0.93}', "no 'config_hash' key")])
def test_a_result_json_milelib_did_not_write_is_refused_never_replaced(tmp_path, content, why):
    train(smoke(tmp_path))
    (tmp_path / "result.json").write_text(content)
    with pytest.raises(FileExistsError, match=rf"result.json was not written by milelib \({re.escape(why)}.*\) and the run "
                                              r"would replace it: choose another run.out_dir, or move that file aside$"):
        train(smoke(tmp_path))
    assert (tmp_path / "result.json").read_text() == content


@pytest.mark.parametrize("key, value, why", [
    ("metrics", "n/a", "'metrics' holds \"n/a\", not an object"), ("run", None, "no 'run' key"),
    ("metrics", {"f1@0.5": "0.9"}, "metrics['f1@0.5'] holds \"0.9\", not a number"),
    ("metrics", {"f1@0.5": [0.9]}, "metrics['f1@0.5'] holds [0.9], not a number"),
    ("metrics", {}, "'metrics' is empty"),
    ("metrics", {"f1@0.5": float("nan")}, "metrics['f1@0.5'] is nan, where milelib writes a finite number or null"),
], ids=["metrics n/a", "no run key", "metric a string", "metric a list", "metrics empty", "bare NaN"])
def test_a_result_of_this_config_in_another_shape_is_refused(tmp_path, key, value, why):
    train(smoke(tmp_path))
    saved = json.loads((tmp_path / "result.json").read_text())
    saved = {**saved, key: value} if value is not None else {k: v for k, v in saved.items() if k != key}
    (tmp_path / "result.json").write_text(json.dumps(saved))  # its config hash is this run's
    with pytest.raises(FileExistsError, match=f"result.json was not written by milelib \\({re.escape(why)}\\)"):
        train(smoke(tmp_path))


@pytest.mark.parametrize("edit", [lambda m: m.pop("f1@0.5"), lambda m: m.update({"f1@0.5": None}),
                                  lambda m: m.update({"f1@0.5": 0.99})], ids=["missing key", "null", "a better score"])
def test_a_result_edited_after_milelib_wrote_it_is_refused(tmp_path, edit):
    train(smoke(tmp_path))
    saved = json.loads((tmp_path / "result.json").read_text())
    edit(saved["metrics"])
    (tmp_path / "result.json").write_text(json.dumps(saved))  # well formed: only the manifest tells
    with pytest.raises(FileExistsError, match=r"result.json was changed after milelib wrote it \(its checksum is not "
                                              r"the one milelib recorded\): the run would take it for its own"):
        train(smoke(tmp_path))


@pytest.mark.parametrize("name, content", [("cycles.csv", "cycle,acc\n1,0.5\n"), ("classes.txt", "cat\ndog\n"),
                                           ("notes.md", "my notes\n"), ("diverged.json", "{}")])
def test_any_file_milelib_did_not_write_is_refused_before_training(tmp_path, monkeypatch, name, content):
    (tmp_path / name).write_text(content)
    monkeypatch.setattr(S, "sgd_step", lambda *a: pytest.fail("trained into a folder holding a user's file"))
    with pytest.raises(FileExistsError, match=rf"{name} was not written by milelib \(.*\) and the run would replace it"):
        train(smoke(tmp_path))
    assert (tmp_path / name).read_text() == content


def test_a_users_file_put_into_a_finished_run_folder_is_refused(tmp_path):
    train(smoke(tmp_path))
    (tmp_path / "classes.txt").write_text("cat\n")
    with pytest.raises(FileExistsError, match=r"classes.txt was not written by milelib \(the run folder's manifest "
                                              r"does not list it\)"):
        train(smoke(tmp_path, **{"run.reevaluate": True}))


def test_a_run_folder_from_before_manifests_is_adopted(tmp_path):
    expected = train(smoke(tmp_path))
    (tmp_path / ".milelib-files.json").unlink()  # as a stored run written before manifests
    assert train(smoke(tmp_path, **{"run.reevaluate": True})) == expected
    assert "result.json" in json.loads((tmp_path / ".milelib-files.json").read_text())["files"]


def test_leftover_temporary_files_are_gone_when_the_run_finishes(tmp_path):
    stopped = train(smoke(tmp_path))
    (tmp_path / "result.json").unlink()
    (tmp_path / ".result.json.abc123.tmp").write_text("{")  # a kill mid-write left it
    (tmp_path / ".metrics.csv.abc123.tmp").write_text("st")
    assert train(smoke(tmp_path)) == stopped
    assert not list(tmp_path.glob(".*.tmp"))


# --- facts that change the numbers ---------------------------------------------------------------

def test_resume_on_another_thread_count_warns_in_one_line(tmp_path, monkeypatch):
    stop_on_call(monkeypatch, S, 13)  # stopped in step 13, after the checkpoint at step 8
    with pytest.raises(Stop):
        train(smoke(tmp_path, **{"run.threads": 1, "run.checkpoint_every": 8}))
    monkeypatch.undo()
    with pytest.warns(MilelibWarning, match=r"resuming .*step-000008.pt with threads 2 \(it ran with 1\): the result "
                                            r"will be close to, not exactly, an unstopped run's") as caught:
        train(smoke(tmp_path, **{"run.threads": 2, "run.checkpoint_every": 8}))
    assert all("\n" not in str(w.message) for w in caught)


def test_resume_with_the_same_facts_does_not_warn(tmp_path, monkeypatch, recwarn):
    stop_on_call(monkeypatch, S, 13)
    with pytest.raises(Stop):
        train(smoke(tmp_path, **{"run.checkpoint_every": 8}))
    monkeypatch.undo()
    train(smoke(tmp_path, **{"run.checkpoint_every": 8}))
    assert not [w for w in recwarn if issubclass(w.category, MilelibWarning)]


# --- Ctrl-C --------------------------------------------------------------------------------------

def test_ctrl_c_stops_at_a_step_with_a_checkpoint_and_the_rerun_is_exact(tmp_path, monkeypatch, ctrl_c_as_in_a_terminal):
    expected = train(smoke(tmp_path / "alone", **{"run.checkpoint_every": 8}))
    calls, real = [], S.sgd_step

    def step(*args):
        calls.append(1)
        if len(calls) == 11:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of step 11
        return real(*args)

    monkeypatch.setattr(S, "sgd_step", step)
    with pytest.raises(Stopped, match=r"^stopped at step 11 of 24: rerun the same command to resume from its "
                                      r"checkpoint at step 11$"):
        train(smoke(tmp_path / "run", **{"run.checkpoint_every": 8}))
    monkeypatch.undo()
    assert checkpoint.last_path(tmp_path / "run" / "checkpoints").name == "step-000011.pt"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    assert train(smoke(tmp_path / "run", **{"run.checkpoint_every": 8})) == expected


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["Ctrl-C", "SIGTERM"])
def test_a_stop_on_the_command_line_says_where_it_stopped_in_one_line_and_resumes(tmp_path, signum, code):
    cli = subprocess.Popen([sys.executable, "-m", "milelib", "train", "--profile", "smoke", "--set", "method=sigmoid",
                            "optim.steps=400", "run.checkpoint_every=50", "run.progress=false",
                            f"run.out_dir={tmp_path}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "checkpoints" / "last").exists():
        assert cli.poll() is None and time.time() < deadline, cli.stderr.read()
        time.sleep(0.01)
    cli.send_signal(signum)
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == code
    assert err.strip().count("\n") == 0, err
    assert err.startswith("milelib: stopped at step ") and "rerun the same command to resume from its checkpoint" in err
    assert ("by SIGTERM" in err) == (signum == signal.SIGTERM)
    step = int(err.split("stopped at step ")[1].split()[0])
    assert checkpoint.load_latest(tmp_path / "checkpoints")[1]["step"] == step  # resumable from where it says


def test_a_finished_run_on_a_read_only_disk_is_read_not_retrained(tmp_path, monkeypatch):
    expected = train(smoke(tmp_path))
    from milelib import store

    def read_only(out_dir):
        raise OSError(f"output folder {out_dir} cannot be created or written (Read-only file system): choose another "
                      f"out_dir")

    monkeypatch.setattr(store, "prepare", read_only)  # as on a read-only mount (root may write anywhere here)
    monkeypatch.setattr(S, "sgd_step", lambda *a: pytest.fail("retrained a finished run"))
    assert train(smoke(tmp_path)) == expected
