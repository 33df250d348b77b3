"""Writes docs/errors.md: every bad input of tests/bad_input_cases.py run for real, each in a fresh
temporary folder, and the one line a user sees for it (about 4 minutes on 2 cores).

    python tools/write_errors.py                   # rewrites docs/errors.md
    python tools/write_errors.py --out /tmp/e.md   # elsewhere, to compare
"""
import argparse
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description="Write docs/errors.md from the bad-input cases of "
                                                 "tests/bad_input_cases.py, each run for real.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "errors.md", help="where to write the table")
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":  # set orders in messages, here and in the processes cases start
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    spec = importlib.util.spec_from_file_location("bad_input_cases", ROOT / "tests" / "bad_input_cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    args.out.write_text(cases.markdown(cases.collect()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
