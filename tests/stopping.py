"""Stopping a run at a chosen optimizer step, as a kill would, for the resume tests."""


class Stop(BaseException):
    """Stands in for a kill: raised inside an optimizer step, after the last checkpoint was written."""


def stop_on_call(monkeypatch, module, n):
    """Make `module.sgd_step` raise Stop on its n-th call from now; return the real one."""
    calls, real = [], module.sgd_step

    def step(*args):
        calls.append(1)
        if len(calls) == n:
            raise Stop
        return real(*args)

    monkeypatch.setattr(module, "sgd_step", step)
    return real


def stopped_and_resumed(monkeypatch, module, run, stops=(13, 7)):
    """Call `run()` (a training run into one folder) once per entry of `stops`, each time killed at
    that optimizer step counted from its start, then once more to the end; its result."""
    real = module.sgd_step
    for n in stops:
        stop_on_call(monkeypatch, module, n)
        try:
            run()
        except Stop:
            pass
        else:
            raise AssertionError(f"the run finished before its {n}th optimizer step: nothing was stopped")
        monkeypatch.setattr(module, "sgd_step", real)
    return run()
