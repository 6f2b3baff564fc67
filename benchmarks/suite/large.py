"""(g) The optimizer step on a large model: small_fc_lopt and Adam on the parameters of
ViT-B/16 (86M), against ``torch.optim.Adam`` fused (the baseline) and foreach.

The figure to compare with is PyLO's (a CUDA kernel brings a naive small_fc_lopt step on
ViT-B/16 from 757 to 100 ms on an A100). Only the step is timed, with fixed gradients; the
shapes are ViT-B/16's (patch embedding, 12 blocks of attention and MLP with their norms, the
head), not a model. Meant for a GPU (``--device cuda``): on a CPU a small_fc_lopt step on 86M
parameters takes seconds, so the section runs only when asked for (``--sections g``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from suite.timing import Series, alternate
from suite.updates import Shapes, stepper

import amalg
import amalg.optim

BASE = "torch.optim.Adam (fused)"


def vit_b16() -> Shapes:
    """The parameter shapes of ViT-B/16 on 224x224 images, 1000 classes (86.6M)."""
    width, mlp, patches = 768, 3072, (224 // 16) ** 2
    shapes: Shapes = {
        "patch.weight": (width, 3, 16, 16), "patch.bias": (width,),
        "cls": (1, 1, width), "position": (1, patches + 1, width),
        "norm.weight": (width,), "norm.bias": (width,),
        "head.weight": (1000, width), "head.bias": (1000,),
    }  # fmt: skip
    for block in range(12):
        shapes |= {
            f"{block}.norm1.weight": (width,), f"{block}.norm1.bias": (width,),
            f"{block}.qkv.weight": (3 * width, width), f"{block}.qkv.bias": (3 * width,),
            f"{block}.proj.weight": (width, width), f"{block}.proj.bias": (width,),
            f"{block}.norm2.weight": (width,), f"{block}.norm2.bias": (width,),
            f"{block}.fc1.weight": (mlp, width), f"{block}.fc1.bias": (mlp,),
            f"{block}.fc2.weight": (width, mlp), f"{block}.fc2.bias": (width,),
        }  # fmt: skip
    return shapes


def run(device: str, rounds: int, quick: bool) -> tuple[int, list[Series]]:
    shapes = vit_b16()
    count = sum(torch.Size(shape).numel() for shape in shapes.values())
    steps = 1 if quick else 3
    student = amalg.create("student", "small_fc_lopt")
    candidates: dict[str, Callable[[], float]] = {
        BASE: stepper(lambda p: torch.optim.Adam(p, 1e-3, fused=True), device, steps, shapes),
        "torch.optim.Adam (foreach)": stepper(
            lambda p: torch.optim.Adam(p, 1e-3, foreach=True), device, steps, shapes
        ),
        "teacher adam": stepper(lambda p: amalg.optim.Teacher("adam", p), device, steps, shapes),
        "student small_fc_lopt": stepper(
            lambda p: amalg.optim.RuleOptimizer(p, student, warmup=0), device, steps, shapes
        ),
    }
    return count, alternate(candidates, rounds, BASE)
