"""tools/verdicts.py --against: two records of one notebook (two machines) side by side."""
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("verdicts", Path(__file__).parents[1] / "tools" / "verdicts.py")
verdicts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verdicts)


def claim(text, gap, low, high, verdict, **more):
    return {"claim": text, "gap": gap, "low": low, "high": high, "verdict": verdict, **more}


def test_a_verdict_that_differs_between_machines_is_marked():
    here = {"controls": [claim("control: oracle above Sigmoid", 4.2, 3.8, 4.6, "holds")],
            "claims": [claim("MILe > Sigmoid on map", -0.32, -0.63, -0.02, "contradicted"),
                       claim("lower rho is better", 0.15, -0.27, 0.56, "inconclusive"),
                       claim("MILe beats BoostLU on mAP", -9.2, -10.3, -8.1, "contradicted", stand_in="Multi-MNIST")]}
    there = {"controls": [claim("control: oracle above Sigmoid", 4.3, 3.8, 4.7, "holds")],
             "claims": [claim("MILe > Sigmoid on map", 0.03, -0.33, 0.39, "inconclusive"),
                        claim("lower rho is better", 0.01, -0.47, 0.49, "inconclusive")]}
    lines = verdicts.compare(here, there).splitlines()[2:]
    assert lines[0].endswith("| +4.30 (+3.80 to +4.70) **holds** | yes |")
    assert lines[1] == ("| MILe > Sigmoid on map | -0.32 (-0.63 to -0.02) **contradicted** | +0.03 (-0.33 to +0.39) "
                        "**inconclusive** | **no** |")
    assert lines[2].endswith("| yes |")
    assert lines[3].startswith("| MILe beats BoostLU on mAP (Multi-MNIST) |") and "not recorded" in lines[3]


def test_untestable_claims_are_compared_by_their_intervals():
    here = {"claims": [claim("MILe > Sigmoid on f1", -0.88, -1.27, -0.49, "untestable here"),
                       claim("MILe > Sigmoid on map", 0.18, -0.10, 0.46, "untestable here")]}
    there = {"claims": [claim("MILe > Sigmoid on f1", -0.10, -0.50, 0.30, "untestable here"),
                        claim("MILe > Sigmoid on map", 0.20, -0.05, 0.45, "inconclusive")]}
    lines = verdicts.compare(here, there).splitlines()[2:]
    assert lines[0] == ("| MILe > Sigmoid on f1 | -0.88 (-1.27 to -0.49) **untestable here** (as measured: contradicted) | "
                        "-0.10 (-0.50 to +0.30) **untestable here** (as measured: inconclusive) | **no** |")
    assert lines[1].endswith("**inconclusive** | yes |")


def test_notebook_08s_older_answers_are_read_by_their_rival():
    old = {"MILe": "MILe", "versus": "LL-R (best SPML)", "gap": -6.1, "low": -7.1, "high": -5.2, "verdict": "contradicted",
           "stand-in": "Multi-MNIST"}
    assert verdicts.key(old) == ("MILe beats LL-R (best SPML) on mAP", "Multi-MNIST")
