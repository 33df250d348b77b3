"""`run.compile`: networks compiled in place (MILe's teacher, a deep copy of a compiled student,
too) train to the weights an uncompiled run reaches, up to float reordering; checkpoints keep
plain keys."""
import json

import torch

from milelib import experiments, train
from milelib.training import load_run

EXP = experiments.get("imagenet_fractions").EXPERIMENT


def test_a_compiled_mile_run_ends_where_an_uncompiled_one_does(tmp_path):
    settings = {"method": "mile", "method.variant": "released", "method.teacher_steps": 4,
                "method.student_steps": 2, "optim.steps": 12, "run.progress": False}
    nets = {}
    for compiled in (False, True):
        out = tmp_path / str(compiled)
        train(EXP.config("smoke", {**settings, "run.compile": compiled, "run.out_dir": str(out)}))
        method, _ = load_run(out)
        assert (method.eval_net._compiled_call_impl is not None) == compiled  # what Module.compile sets
        nets[compiled] = method.eval_net.state_dict()
        assert not any(key.startswith("_orig_mod") for key in nets[compiled])
    assert nets[True].keys() == nets[False].keys()
    for key, value in nets[False].items():
        torch.testing.assert_close(nets[True][key], value, rtol=1e-3, atol=1e-4, msg=key)
    result = json.loads((tmp_path / "True" / "result.json").read_text())
    assert result["run"]["compiled"] is True
