"""The built-in perturbations, registered as the ``amalg.perturbations`` plugin."""

from __future__ import annotations

from amalg.core.hookspecs import Register, hookimpl
from amalg.core.interfaces import Perturbation
from amalg.plugins.perturbations.cgd import ClippedGradient
from amalg.plugins.perturbations.fgsm import FastGradientSign
from amalg.plugins.perturbations.gaussian import Gaussian
from amalg.plugins.perturbations.gaussian_rel import RelativeGaussian
from amalg.plugins.perturbations.input import InputNoise
from amalg.plugins.perturbations.pgd import ProjectedGradient

PERTURBATIONS: tuple[type[Perturbation], ...] = (
    Gaussian,
    RelativeGaussian,
    FastGradientSign,
    ProjectedGradient,
    ClippedGradient,
    InputNoise,
)


@hookimpl
def register_perturbations(register: Register[Perturbation]) -> None:
    for perturbation in PERTURBATIONS:
        register(perturbation)
