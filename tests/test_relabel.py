"""`milelib relabel FOLDER`: every image scored out of sample by cross-fitting, a CSV with the
columns a reviewer needs and a review beside it, runs keyed by the folder's content, and every
overwrite and odd folder refused in one line before anything is trained."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from milelib import fixtures, relabel as R, review
from milelib.cli import main
from milelib.config import RunConfig
from milelib.data import images

FAST = ["model=small_cnn", "model.width=4", "data.image_size=16", "optim.steps=6", "optim.batch_size=6",
        "optim.warmup_steps=0", "method.teacher_steps=2", "method.student_steps=1", "run.progress=false"]
COLUMNS = ["path", "label", "fold", "p_given", "given_rank", "predicted", "labels_predicted", "given_not_predicted",
           "ambiguity", "cleanlab_issue", "cleanlab_quality", "p(class_0)", "p(class_1)", "p(class_2)"]


def relabel(folder, store, *extra, settings=()):
    main(["relabel", str(folder), "--store", str(store), *extra, "--set", *FAST, *settings])


def test_each_fold_trains_without_its_own_images_and_the_folds_cover_the_folder(tmp_path):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=3, per_class=10)
    held = []
    for k in range(3):
        cfg = RunConfig().override({"data": "image_folder", "data.root": str(folder), "data.folds": 3, "data.fold": k})
        data = images.build(cfg.data)
        out = {p for p, _ in data.splits["heldout"].data.dataset.samples}
        seen = {p for p, _ in data.train.dataset.samples} | {p for p, _ in data.splits["val"].data.dataset.samples}
        assert not out & seen and len(out | seen) == 30
        held.append(out)
    assert set().union(*held) == {str(p) for p in folder.rglob("*.jpg")} and sum(map(len, held)) == 30


def test_relabel_writes_the_csv_and_review_and_reads_its_runs_back(tmp_path, capsys):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=3, per_class=10)
    out = tmp_path / "labels.csv"
    relabel(folder, tmp_path / "store", "--out", str(out), "--folds", "2")
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS and len(table) == 30 and set(table.fold) == {0, 1}
    probs = table.filter(like="p(").to_numpy()
    given = table.label.str[-1].astype(int).to_numpy()
    assert np.allclose(table.p_given, probs[np.arange(30), given])
    assert (table.given_rank == 1 + (probs > probs[np.arange(30), given][:, None]).sum(axis=1)).all()
    for row, p in zip(table.itertuples(), probs):
        chosen = row.predicted.split(";")
        assert set(chosen) == {f"class_{c}" for c in range(3) if p[c] > 0.25} | {f"class_{p.argmax()}"}
        assert row.given_not_predicted == (row.label not in chosen) and math.isclose(row.ambiguity, sorted(p)[-2])
    sheet, page, heat = review.paths(out)
    assert review.wrote(sheet) and review.wrote(heat) and "data:image/png;base64," in page.read_text()
    err = capsys.readouterr().err
    assert "mile on" in err and "2-fold cross-fitting" in err and "2 runs: 0 finished before, 2 to train" in err
    assert "given label not predicted (possible label errors)" in err and "most ambiguous:" in err

    relabel(folder, tmp_path / "store", "--out", str(out), "--folds", "2")  # rewrites its own files
    assert "2 runs: 2 finished before, 0 to train" in capsys.readouterr().err
    assert pd.read_csv(out).equals(table)
    Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(folder / "class_1" / "new.png")
    relabel(folder, tmp_path / "store", "--out", str(out), "--folds", "2")  # a changed folder trains anew
    assert "2 runs: 0 finished before, 2 to train" in capsys.readouterr().err and len(pd.read_csv(out)) == 31


def test_in_sample_and_another_method_say_so(tmp_path, capsys):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=6)
    main(["relabel", str(folder), "--store", str(tmp_path / "store"), "--folds", "1", "--set", "method=sigmoid",
          *[s for s in FAST if not s.startswith("method.")]])
    err = capsys.readouterr().err
    assert "sigmoid on" in err and "in-sample" in err and "1 runs: 0 finished before" in err
    written = next((tmp_path / "store" / "photos").glob("relabelled-*.csv"))
    assert pd.read_csv(written).fold.isna().all()


def test_bad_images_skip_is_honoured_in_every_pass(tmp_path, capsys):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=10)
    (folder / "class_0" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(SystemExit, match=r"broken.jpg is truncated or corrupt"):
        relabel(folder, tmp_path / "store", "--folds", "2")
    assert not (tmp_path / "store").exists()  # a failed start leaves no folder
    relabel(folder, tmp_path / "store", "--folds", "2", settings=["data.bad_images=skip"])
    err = capsys.readouterr().err
    assert "left out 1 unreadable images (bad_images=skip): class_0/broken.jpg" in err and "(20)" in err


@pytest.mark.parametrize("flag, value, message", [
    ("--threshold", "5", r"--threshold must lie in \[0, 1\]"), ("--threshold", "-1", r"--threshold must lie in"),
    ("--threshold", "nan", r"--threshold must lie in"), ("--folds", "0", r"--folds must be >= 2"),
    ("--set", "data=grids", r"relabel reads a folder of images \(data=image_folder\)")])
def test_bad_options_are_refused_in_one_line(tmp_path, flag, value, message):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=6)
    with pytest.raises(SystemExit, match=message):
        main(["relabel", str(folder), "--store", str(tmp_path / "store"), flag, value])
    assert not (tmp_path / "store").exists()


def test_out_never_replaces_a_file_relabel_did_not_write(tmp_path):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=6)
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n1,2\n")
    (tmp_path / "taken.review.html").write_text("<html>my own page</html>")
    (tmp_path / "taken.csv").write_text(R.CSV_HEAD + "x\n")
    for out, message in [(tmp_path, r"is a folder: give a CSV file name"), (tmp_path / "result.json", r"ending in \.csv"),
                         (mine, r"mine.csv exists and was not written by milelib relabel"),
                         (tmp_path / "taken.csv", r"taken.review.html exists and was not written by milelib relabel")]:
        with pytest.raises(SystemExit, match=message):
            main(["relabel", str(folder), "--store", str(tmp_path / "store"), "--out", str(out)])
    assert mine.read_text() == "a,b\n1,2\n" and not (tmp_path / "store").exists()


@pytest.mark.parametrize("classes, message", [(["only"], r"has one class folder \(only\): relabelling needs 2"),
                                              (["cat;dog", "fish"], r"class folder 'cat;dog' holds ';'")])
def test_folders_relabel_cannot_label_are_refused(tmp_path, classes, message):
    for name in classes:
        (tmp_path / "f" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "f" / name / "a.png")
    with pytest.raises(SystemExit, match=message):
        main(["relabel", str(tmp_path / "f"), "--store", str(tmp_path / "store")])


def test_the_table_flags_what_a_hand_computed_case_says():
    folder = Path("/f")
    files = images.ImageFiles([(f"/f/{c}/{i}.png", y) for i, (c, y) in enumerate([("a", 0), ("a", 0), ("b", 1)] * 4)],
                              ["a", "b"])
    probs = np.array([[0.9, 0.3], [0.8, 0.1], [0.2, 0.7]] * 3 + [[0.9, 0.1], [0.1, 0.95], [0.3, 0.9]])
    table = R.label_table(folder, files, probs, np.full(12, -1), 0.25)
    assert table.predicted.tolist()[:3] == ["a;b", "a", "b"] and table.labels_predicted.tolist()[:3] == [2, 1, 1]
    assert table.given_rank.tolist()[-3:] == [1, 2, 1] and table.p_given.tolist()[-2] == 0.1
    assert table.given_not_predicted.tolist() == [False] * 10 + [True, False]  # row 10: given a, predicted b only
    assert table.ambiguity.tolist()[:3] == [0.3, 0.1, 0.2]
    assert table.cleanlab_issue.tolist()[10] and table.cleanlab_quality.idxmin() == 10


def test_warnings_name_collapse_and_memorisation():
    probs = {f"p({c})": [0.9, 0.1] for c in "abcd"}
    one = pd.DataFrame({"labels_predicted": [1, 1], **probs, "fold": [pd.NA, pd.NA]})
    said = R.warnings(one, held_out=0.6, fits=[0.9])
    assert "no image got a second label" in said[0] and "memorised" in said[1] and "use --folds 5" in said[1]
    assert "memorised" not in " ".join(R.warnings(one, held_out=0.7, fits=[0.9]))
    assert R.warnings(one.assign(labels_predicted=[4, 4]), 0.9, [0.95])[0].startswith("WARNING: most images got every")
    assert R.warnings(one.assign(labels_predicted=[2, 1]), 0.9, [0.95]) == []
    assert "near chance (1/4)" in R.warnings(one.assign(labels_predicted=[2, 1]), 0.3, [0.4])[0]


def test_help_shows_every_default_and_where_runs_go(capsys):
    with pytest.raises(SystemExit):
        main(["relabel", "--help"])
    shown = capsys.readouterr().out
    assert all(f"{key}={value}" in shown for key, value in R.DEFAULTS.items() if key not in ("data", "run.checkpoint_every"))
    assert str(R.default_store()) in shown.replace("\n", "").replace(" ", "") or "XDG_CACHE_HOME" in shown
    assert "(default 5)" in shown and "minutes on 2 CPU cores" in shown


def test_the_folder_fingerprint_follows_bytes_not_times(tmp_path):
    import os

    folder = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=2)
    samples = images.class_folders(folder).samples
    before = images.fingerprint(folder, samples)
    path = Path(samples[0][0])
    stat, data = path.stat(), bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time: only the bytes tell
    changed = images.fingerprint(folder, samples)
    assert changed != before
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: the same content
    assert images.fingerprint(folder, samples) == changed


def test_out_inside_the_image_folder_is_refused_before_training(tmp_path):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=5)
    with pytest.raises(SystemExit, match=r"--out .*photos/class_0/x.csv lies inside the image folder"):
        relabel(folder, tmp_path / "store", "--out", str(folder / "class_0" / "x.csv"))
    assert not (tmp_path / "store").exists()
