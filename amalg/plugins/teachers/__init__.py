"""The analytical teachers of Huang et al., "Optimizer Amalgamation", ICLR 2022 (Table 3 and
eq. 8), and NAdamW of Metz et al., "Practical tradeoffs between memory, compute, and performance
in learned optimizers", 2022 (Appendix F), and ``trained``, any trained optimizer as a teacher.
Registered as the ``amalg.teachers`` plugin.
"""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import Teacher
from amalg.plugins.teachers.adam import Adam
from amalg.plugins.teachers.momentum import Momentum
from amalg.plugins.teachers.nadamw import NAdamW
from amalg.plugins.teachers.rmsprop import RMSProp
from amalg.plugins.teachers.sgd import SGD
from amalg.plugins.teachers.signs import AddSign, PowerSign
from amalg.plugins.teachers.trained import Trained

TEACHERS: tuple[type[Teacher], ...] = (
    SGD,
    Momentum,
    RMSProp,
    Adam,
    AddSign,
    PowerSign,
    NAdamW,
    Trained,
)

__all__ = [
    "SGD",
    "TEACHERS",
    "Adam",
    "AddSign",
    "Momentum",
    "NAdamW",
    "PowerSign",
    "RMSProp",
    "Trained",
]


@hookimpl
def register_teachers(register: Register[Teacher]) -> None:
    for teacher in TEACHERS:
        register(teacher)
