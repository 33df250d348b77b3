"""Methods behind one interface (`base.Method`). A method is one module with a settings dataclass
and a `Method` subclass, and one line here."""
from ..registry import METHODS
from . import acknowledge_unknown, large_loss, simclr, single_positive as spml, supervised, mile
from . import generalized_robust
from . import boost_lu
from .base import Method, Parts

METHODS.add("softmax", supervised.Plain, supervised.Softmax)        # CE on the single labels
METHODS.add("sigmoid", supervised.Plain, supervised.Sigmoid)        # BCE on one-hot labels, eq. (1)
METHODS.add("oracle", supervised.Plain, supervised.Oracle)          # BCE on the true label sets
METHODS.add("elr", supervised.ELRSettings, supervised.ELR)          # early-learning regularisation
METHODS.add("mile", mile.MileSettings, mile.MILe)
METHODS.add("hard_distillation", mile.ScheduleSettings, mile.MILe)
METHODS.add("soft_distillation", mile.ScheduleSettings, mile.MILe)
# single-positive multi-label losses (notebook 08); "sigmoid" is their AN
METHODS.add("an_ls", spml.SmoothingSettings, spml.SmoothedAssumeNegative)   # AN + label smoothing
METHODS.add("wan", supervised.Plain, spml.WeakAssumeNegative)       # weak assume negative
METHODS.add("epr", spml.EPRSettings, spml.ExpectedPositive)         # expected positive regulariser
METHODS.add("role", spml.ROLESettings, spml.ROLE)                   # online label estimates
METHODS.add("ll_r", large_loss.LargeLossSettings, large_loss.LargeLoss)             # large-loss rejection
METHODS.add("ll_ct", large_loss.LargeLossSettings, large_loss.LargeLossCorrection)  # large-loss correction
METHODS.add("boost_lu", boost_lu.BoostLUSettings, boost_lu.BoostLU)  # LL-R on boosted class maps (CAM head)
METHODS.add("em_apl", acknowledge_unknown.EMAPLSettings, acknowledge_unknown.EMAPL)  # entropy max. + pseudo-negatives
METHODS.add("gr_loss", generalized_robust.GRLossSettings, generalized_robust.GeneralizedRobust)  # generalized robust loss
METHODS.add("simclr", simclr.SimCLRSettings, simclr.SimCLR)          # self-supervised pretraining, no labels


def build(cfg, parts: Parts) -> Method:
    """The method a run's `cfg.method` names, its networks built through `parts`."""
    return METHODS.get(cfg.method.name).builder(cfg, parts)


__all__ = ["build", "Method", "Parts"]
