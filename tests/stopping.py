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
