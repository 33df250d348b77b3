"""Every make target the README and the pages under docs/ tell users to run has a recipe (a target kept
in .PHONY without one answers "Nothing to be done" and does nothing), and the tools answer --help."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# --no-print-directory: under `make test` the inner make would otherwise add "Entering directory" lines
MAKE_N = ["make", "--no-print-directory", "-n", "-o", ".venv/.milelib-installed"]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def targets(page: Path) -> set[str]:
    return set(re.findall(r"(?:^|`)make ([a-z][a-z-]*)", page.read_text(), re.MULTILINE))


TARGETS = sorted(set().union(*(targets(page) for page in PAGES)))


def test_the_readme_names_the_main_targets():
    assert {"env", "reproduce", "test", "lab", "notebooks"} <= targets(ROOT / "README.md")


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_the_docs_name_does_something(target):
    # -o: the environment counts as built, so only the target's own recipe is printed; `env` is that
    # environment, shown as if its requirements had changed (-W)
    command = ["make", "--no-print-directory", "-n", "-W", "requirements/reference.txt", "env"] if target == "env" else [
        *MAKE_N, target]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "Nothing to be done" not in done.stdout, target


@pytest.mark.parametrize("tool", sorted(p.name for p in (ROOT / "tools").glob("*.py")))
def test_tools_answer_help_without_acting(tool, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / tool), "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage:"), done.stderr


def test_make_reproduce_passes_jobs_launcher_gpus_and_settings_on():
    done = subprocess.run([*MAKE_N, "reproduce", "PROFILE=paper", "JOBS=2",
                           "LAUNCHER=torchrun", "GPUS=4", "SETTINGS=run.workers=12 optim.steps=100"], cwd=ROOT,
                          capture_output=True, text=True)
    assert re.search(r"milelib reproduce --profile paper --jobs 2\s*\\?\s*--launcher torchrun --gpus 4 "
                     r"--set run.workers=12 optim.steps=100", done.stdout), done.stdout
    plain = subprocess.run([*MAKE_N, "reproduce"], cwd=ROOT,
                           capture_output=True, text=True)
    assert re.search(r"milelib reproduce --profile quick\s*\\?\s*$", plain.stdout.strip()), plain.stdout


def test_the_running_guide_keeps_the_gpu_and_cluster_instructions():
    # a rewrite of another section once deleted these with it, and no test noticed; they moved from the
    # README to docs/running.md, which the README links
    text = (ROOT / "docs" / "running.md").read_text()
    assert "## Profiles\n" in text and "## The paper's datasets, on your GPUs\n" in text
    assert "(docs/running.md" in (ROOT / "README.md").read_text()
    for needed in ("requirements/cuda12.txt", "run.device=cpu", 'LAUNCHER = "slurm"', "MILELIB_SLURM", "--nnodes",
                   "--nproc_per_node", "run.timeout_minutes", "CUDA_VISIBLE_DEVICES", "data_prep/imagenet.py"):
        assert needed in text, needed
