"""The typed contracts every component implements, one module per kind."""

from amalg.core.interfaces.estimator import (
    MetaGradient,
    MetaGradientEstimator,
    TruncationFn,
    TruncationLog,
    TruncationResult,
)
from amalg.core.interfaces.perturbation import Perturbation
from amalg.core.interfaces.scheme import (
    AmalgamationScheme,
    PolicyPhase,
    TeacherCountError,
    TruncationLosses,
)
from amalg.core.interfaces.strategy import Period, PeriodDecision, Strategy, StrategyState
from amalg.core.interfaces.student import Student
from amalg.core.interfaces.task import Batch, Optimizee, Split, Task
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
    "Optimizee",
    "Period",
    "PeriodDecision",
    "Perturbation",
    "PolicyPhase",
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
    "TruncationLog",
    "TruncationLosses",
    "TruncationResult",
    "UpdateRule",
]
