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
    ForeachUpdate,
    Hyper,
    Numbers,
    SlotLists,
    Slots,
    Teacher,
    Tensors,
    TensorUpdate,
    UpdateRule,
)

__all__ = [
    "AmalgamationScheme",
    "Batch",
    "ElementwiseTeacher",
    "ForeachUpdate",
    "Hyper",
    "MetaGradient",
    "MetaGradientEstimator",
    "Numbers",
    "Optimizee",
    "Period",
    "PeriodDecision",
    "Perturbation",
    "PolicyPhase",
    "SlotLists",
    "Slots",
    "Split",
    "Strategy",
    "StrategyState",
    "Student",
    "Task",
    "Teacher",
    "TeacherCountError",
    "TensorUpdate",
    "Tensors",
    "TruncationFn",
    "TruncationLog",
    "TruncationLosses",
    "TruncationResult",
    "UpdateRule",
]
