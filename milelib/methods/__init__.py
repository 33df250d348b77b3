"""Methods behind one interface (`base.Method`). A method is one module with a settings dataclass
and a `Method` subclass, and one line here."""
from ..registry import METHODS
from . import simclr, supervised, teacher_student
from .base import Method, Parts

METHODS.add("softmax", supervised.Plain, supervised.Softmax)        # CE on the single labels
METHODS.add("sigmoid", supervised.Plain, supervised.Sigmoid)        # BCE on one-hot labels, eq. (1)
METHODS.add("oracle", supervised.Plain, supervised.Oracle)          # BCE on the true label sets
METHODS.add("elr", supervised.ELRSettings, supervised.ELR)          # early-learning regularisation
METHODS.add("mile", teacher_student.MileSettings, teacher_student.TeacherStudent)
METHODS.add("hard_distillation", teacher_student.Distillation, teacher_student.TeacherStudent)
METHODS.add("soft_distillation", teacher_student.Distillation, teacher_student.TeacherStudent)
METHODS.add("simclr", simclr.SimCLRSettings, simclr.SimCLR)          # self-supervised pretraining, no labels


def build(cfg, parts: Parts) -> Method:
    """The method a run's `cfg.method` names, its networks built through `parts`."""
    return METHODS.get(cfg.method.name).builder(cfg, parts)


__all__ = ["build", "Method", "Parts"]
