"""`milelib relabel FOLDER`: MILe trained on a generated class-folder dataset writes one CSV row per
image, with its predicted label set and every class's probability; a trained run can be reused."""
import pandas as pd
import pytest

from milelib import fixtures
from milelib.cli import main

FAST = ["model=small_cnn", "model.width=4", "data.image_size=16", "optim.steps=6", "optim.batch_size=6",
        "optim.warmup_steps=0", "method.teacher_steps=2", "method.student_steps=1", "run.progress=false"]


def test_relabel_writes_one_row_per_image_and_reuses_the_run(tmp_path, capsys):
    folder = fixtures.image_folder(tmp_path / "photos", num_classes=3, per_class=10)
    out = tmp_path / "labels.csv"
    main(["relabel", str(folder), "--out", str(out), "--results-dir", str(tmp_path / "results"), "--set", *FAST])
    table = pd.read_csv(out)
    assert len(table) == 30 and table.path.str.startswith("class_").all()
    assert list(table.columns) == ["path", "label", "predicted", "labels_predicted", "p(class_0)", "p(class_1)", "p(class_2)"]
    probs = table[["p(class_0)", "p(class_1)", "p(class_2)"]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    for row, p in zip(table.itertuples(), probs):
        chosen = row.predicted.split(";")
        assert f"class_{p.argmax()}" in chosen and len(chosen) == row.labels_predicted  # never empty
        assert set(chosen) == {f"class_{c}" for c in range(3) if p[c] > 0.25} | {f"class_{p.argmax()}"}
    err = capsys.readouterr().err
    assert "images predicted with 2+ labels (threshold 0.25)" in err and "one row per image (30)" in err

    run = next((tmp_path / "results" / "relabel" / "photos" / "mile").iterdir())
    assert (run / "classes.txt").read_text().split() == ["class_0", "class_1", "class_2"]
    again = tmp_path / "again.csv"
    main(["relabel", str(folder), "--run", str(run), "--out", str(again), "--threshold", "0.9"])
    assert pd.read_csv(again)[["path", "p(class_1)"]].equals(table[["path", "p(class_1)"]])

    other = fixtures.image_folder(tmp_path / "other", num_classes=2, per_class=3)
    with pytest.raises(SystemExit, match=r"has other class folders than the run .* learned \(2 vs 3 classes"):
        main(["relabel", str(other), "--run", str(run)])
