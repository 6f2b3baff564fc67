"""The typed contracts every component implements, one module per kind."""

from amalg.core.interfaces.estimator import (
    MetaGradient,
    MetaGradientEstimator,
    TruncationFn,
    TruncationResult,
)
from amalg.core.interfaces.perturbation import Perturbation
from amalg.core.interfaces.scheme import (
    AmalgamationScheme,
    PolicyTrainer,
    TeacherCountError,
    TruncationLosses,
)
from amalg.core.interfaces.strategy import Period, PeriodDecision, Strategy, StrategyState
from amalg.core.interfaces.student import Student
from amalg.core.interfaces.task import Batch, Split, Task
from amalg.core.interfaces.teacher import (
    ElementwiseTeacher,
    Hyper,
    Slots,
    Teacher,
    TensorUpdate,
    UpdateRule,
)

__all__ = [
    "AmalgamationScheme",
    "Batch",
    "ElementwiseTeacher",
    "Hyper",
    "MetaGradient",
    "MetaGradientEstimator",
    "Period",
    "PeriodDecision",
    "Perturbation",
    "PolicyTrainer",
    "Slots",
    "Split",
    "Strategy",
    "StrategyState",
    "Student",
    "Task",
    "Teacher",
    "TeacherCountError",
    "TensorUpdate",
    "TruncationFn",
    "TruncationLosses",
    "TruncationResult",
    "UpdateRule",
]
