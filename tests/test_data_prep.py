"""data_prep/ on generated trees: a complete one passes, each missing piece is named, and the
fraction lists are written once (a rerun leaves them alone) and read back by the loader."""
import importlib.util
import shutil
from pathlib import Path

from milelib import data as datasets, fixtures
from milelib.config import RunConfig

ROOT = Path(__file__).parents[1]


def script(name):
    spec = importlib.util.spec_from_file_location(f"prep_{name}", ROOT / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imagenet_check_and_fraction_lists(tmp_path, capsys):
    prep, root = script("imagenet"), fixtures.imagenet(tmp_path / "imagenet", train_per_class=30)
    theirs = (root / "subsets" / "50percent.txt").read_text()  # the fixture's, as SimCLR ships subset files
    assert prep.main([str(root), "--partial", "--fractions", "0.5"]) == 1  # a file it did not write: never replaced
    assert "50percent.txt was not written by milelib" in capsys.readouterr().err
    assert (root / "subsets" / "50percent.txt").read_text() == theirs
    (root / "subsets" / "50percent.txt").rename(root / "subsets" / "simclr_50percent.txt")
    assert prep.main([str(root), "--partial", "--fractions", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "train: 90 images in 3 class folders" in out and "ReaL: 9 of 9 val images labelled, 1.33 labels" in out
    written = (root / "subsets" / "50percent.txt").read_text().split()
    cfg = RunConfig().override({"data": "imagenet", "data.root": str(root), "data.subset": "subsets/50percent.txt"})
    assert datasets.build(cfg.data).files["train_files.txt"] == written and len(written) == 30  # 10 of each class's 20 outside the holdout
    assert prep.main([str(root), "--partial", "--fractions", "0.5"]) == 0
    assert "50percent.txt: unchanged (30 images)" in capsys.readouterr().out

    assert prep.main([str(root)]) == 1  # the full ILSVRC-2012 is expected without --partial
    assert "holds 90 images in 3 folders; ILSVRC-2012 has 1,281,167 in 1000" in capsys.readouterr().err
    (root / "real.json").unlink()
    shutil.rmtree(root / "val")
    assert prep.main([str(root), "--partial"]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "val is missing (missing archives: ILSVRC2012_img_train.tar" in err
    assert "real.json not found" in err


def test_webvision_check_names_missing_images(tmp_path, capsys):
    prep = script("webvision")
    root, imagenet = fixtures.webvision(tmp_path / "webvision"), fixtures.imagenet(tmp_path / "imagenet")
    assert prep.main([str(root), "--imagenet", str(imagenet)]) == 0
    out = capsys.readouterr().out
    assert "train_filelist_google.txt: 14 images of 3 classes (2 to 8 per class)" in out
    assert "ImageNet val of the same classes: 9 images" in out
    (root / "flickr" / "q0002" / "00000001.jpg").unlink()
    assert prep.main([str(root)]) == 1
    assert "1 images listed in info/train_filelist_flickr.txt are missing (first: " in capsys.readouterr().err
    assert prep.main([str(root), "--mini"]) == 0  # mini-WebVision reads no Flickr image
