"""The training-loop benchmark runs end to end (a few steps): the numbers benchmarks/README.md quotes
come from its one command, so it must not rot. Speed itself is measured by the benchmark, not asserted here."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_training_loop_benchmark_writes_every_configuration(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "training_loop.py"), "--repeats", "1",
                          "--steps", "8", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "training_loop_grids_cpu.json").read_text())
    assert sorted(result["configs"]) == sorted(["reference loop", "milelib Sigmoid", "milelib MILe (released)",
                                               "milelib MILe (algorithm1)"])
    for r in result["configs"].values():  # batch 64
        assert r["images_per_s_median"] == pytest.approx(64 * r["steps_per_s_median"]) and r["images_per_s_median"] > 0
    summary = result["summary"]
    assert summary["step_flops"] > 1e6 and 0 < summary["share_of_matmul"] < 1.5
    for ratio in ("sigmoid_vs_reference_images_per_s", "mile_released_vs_sigmoid_wall_time",
                  "mile_algorithm1_vs_sigmoid_wall_time"):
        low, high = summary[ratio]["range"]
        assert 0 < low <= summary[ratio]["median"] <= high
    assert 0 < summary["teacher_forward_share_of_step"] < 1
    theory = 1 + summary["imitation_step_share"] * summary["teacher_forward_share_of_step"]
    assert summary["mile_theory_wall_time"] == theory
    assert json.loads((tmp_path / "training_loop_grids_cpu.provenance.json").read_text())["git"]["revision"]


def test_loader_benchmark_reports_images_per_second_per_core_for_each_decoder(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "loaders.py"), "--repeats", "1",
                          "--images-per-class", "4", "--batches", "2", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "loaders.json").read_text())
    cases = {(c["split"], c["decoder"], c["workers"]): c for c in result["cases"]}
    splits = {split for split, _, _ in cases}
    assert len(splits) == 3 and {decoder for _, decoder, _ in cases} == {"pil", "torchvision"}
    for split in splits:  # decoding alone runs in process; the feeds with 0 and 2 workers
        workers = [0] if split.startswith("decode only") else [0, 2]
        assert {(d, w) for s, d, w in cases if s == split} == {(d, w) for d in ("pil", "torchvision") for w in workers}
    for c in cases.values():
        assert c["cores"] == max(1, c["workers"]) and c["median_images_per_s"] > 0
        assert c["median_images_per_s_per_core"] == pytest.approx(c["median_images_per_s"] / c["cores"], abs=0.1)
    assert len(result["torchvision_vs_pil_images_per_s"]) == 5
    assert json.loads((tmp_path / "loaders.provenance.json").read_text())["git"]["revision"]


def test_device_check_runs_end_to_end_in_its_cpu_mode(tmp_path):
    """`make device-check` without a GPU: the ResNet-50 loop, the JPEG loader and a paper-profile MILe
    run stopped and resumed, without the notebook stack; on the CPU the resume is exact."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_check.py"), "--device", "cpu",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "device_check_cpu" / "summary.json").read_text())
    assert report["loop"]["case"] == "resnet50" and report["loader"]["cases"]
    assert report["resume"]["resumed_from_steps"] == [4] and report["resume"]["exact"]
    assert report["notebook_stack_imported"] == []
    # one verdict line per check, each against its stated threshold
    checks = ["loop", "mile", "loader", "jpeg feed", "resume", "compile", "ELR state", "evaluation", "processes"]
    assert [v["check"] for v in report["verdicts"]] == checks and all(v["pass"] for v in report["verdicts"])
    lines = [line for line in run.stdout.splitlines() if line.startswith(("pass ", "FAIL "))]
    assert [line.split(":")[0].split(maxsplit=1)[1] for line in lines] == checks
    assert all("(threshold: " in line for line in lines) and "9 of 9 checks passed" in run.stdout
    feed = report["jpeg_feed"]
    assert {v["batch"] for v in feed.values()} == {4, 2} and all(v["images_per_s"] > 0 for v in feed.values())
    assert report["elr_state"]["equal"] and report["elr_state"]["rows"] == 12_700
    assert report["evaluation"]["images"] == 2_000 and report["evaluation"]["classes"] == 1000
