"""The built-in students (learned optimizers), registered as the ``amalg.students`` plugin."""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import Student
from amalg.plugins.students.choice import Choice
from amalg.plugins.students.mlp_lopt import MLPLopt
from amalg.plugins.students.nn_adam import NNAdam
from amalg.plugins.students.rnnprop import RNNProp
from amalg.plugins.students.small_fc_lopt import SmallFcLopt

STUDENTS: tuple[type[Student], ...] = (RNNProp, Choice, SmallFcLopt, NNAdam, MLPLopt)


@hookimpl
def register_students(register: Register[Student]) -> None:
    for student in STUDENTS:
        register(student)
