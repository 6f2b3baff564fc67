"""Any amalg update rule, a student or a teacher, as a ``torch.optim.Optimizer``.

The functional rules of meta-training (``delta, state = rule.update(grads, state, params,
step)``, nothing mutated) run here under ``torch.no_grad()`` and write ``params - lr * delta``
into the user's parameters in place. What the optimizer adds around the rule:

- **The warmup of evaluation.** Every trajectory a student met in meta-training, and every
  evaluation, starts after ``warmup`` plain SGD steps at ``warmup_lr`` (Huang et al. 2022,
  Appendix C.3: 100 at 0.01). A learned optimizer dropped on fresh parameters has never seen
  them, so its first ``warmup`` steps are those SGD steps, computed exactly as
  :func:`amalg.core.warm_start.warm_start` does; the rule's own step count starts after them.
  ``warmup=0`` turns it off.
- **Param groups.** Each group has its own rule state and step count. A group's ``lr`` scales
  the learned step (``params - lr * delta``, 1.0 by default), so ``torch.optim.lr_scheduler``
  schedules work on it; for a teacher with a learning rate, the group's ``lr`` is that
  learning rate. A group's parameters share one device and dtype, and the rule (a student's
  meta-parameters included) follows them.
- **Parameters without a gradient** are left alone. Where the rule keeps its state per
  parameter (every teacher, small_fc_lopt, mlp_lopt) their state is left alone too. RNNProp,
  the choice network and nn_adam keep one state across all parameters: they step the
  parameters that had a gradient at their first step, and need a gradient for each of those at
  every step after.

The state (``state_dict()``) is the rule's state per group, stored under the group's first
parameter, and the group's step count: a round trip resumes identically. ``load_state_dict``
casts every tensor it finds to the parameter's dtype and device (torch's rule), so a rule's
state is floating-point tensors in dicts, lists and tuples, as every built-in rule's is. The
step count is the group's: a parameter that first gets a gradient late starts its rule at the
group's step, not at 0 (``torch.optim`` counts per parameter).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from amalg.core.compiled import NoCompiledPathError
from amalg.core.errors import AmalgError
from amalg.core.interfaces import Student, Teacher, UpdateRule
from amalg.optim._tree import merge, per_parameter, restrict

__all__ = ["OptimizerUsageError", "RuleOptimizer"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_group(group: dict[str, Any]) -> None:
    """A param group amalg can step, or one line saying what is wrong with it."""
    if not (_number(group["lr"]) and group["lr"] >= 0):
        raise OptimizerUsageError(f"lr must be a number >= 0, not {group['lr']!r}")
    warmup = group["warmup"]
    if not (isinstance(warmup, int) and not isinstance(warmup, bool) and warmup >= 0):
        raise OptimizerUsageError(f"warmup must be a whole number >= 0, not {warmup!r}")
    if not (_number(group["warmup_lr"]) and group["warmup_lr"] > 0):
        raise OptimizerUsageError(f"warmup_lr must be a number > 0, not {group['warmup_lr']!r}")
    tensors = group["params"]
    kinds = sorted({f"{p.device}/{p.dtype}" for p in tensors})
    if len(kinds) > 1:
        raise OptimizerUsageError(
            f"a param group mixes devices or dtypes ({', '.join(kinds)}): put each in its own group"
        )
    if any(not p.is_floating_point() for p in tensors):
        raise OptimizerUsageError("amalg optimizers step floating-point parameters only")


class OptimizerUsageError(AmalgError):
    """An amalg optimizer was given something it cannot step."""


def _compiling(rule: UpdateRule[Any]) -> UpdateRule[Any]:
    """A copy of ``rule`` on its compiled path (the caller's rule is left as it was), or one
    line saying why there is none."""
    try:
        return copy.deepcopy(rule).use_compiler()
    except NoCompiledPathError as error:
        raise OptimizerUsageError(f"compile=True: {error}") from None


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` stepping parameters with an amalg update rule.

    Build one with :func:`amalg.optim.load` (a trained student) or
    :class:`amalg.optim.Teacher`; ``RuleOptimizer(params, rule)`` takes any rule.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        rule: UpdateRule[Any],
        *,
        lr: float | None = None,
        warmup: int = 100,
        warmup_lr: float = 0.01,
        compile: bool = False,
    ) -> None:
        if compile:
            rule = _compiling(rule)
        if lr is None:
            # A teacher's own learning rate, or an unscaled learned step.
            has_lr = isinstance(rule, Teacher) and "lr" in type(rule.config).model_fields
            lr = float(rule.config.lr) if has_lr else 1.0
        self.rule = rule
        # A student's meta-parameters follow each group's device and dtype (one copy each).
        self._copies: dict[tuple[torch.device, torch.dtype], UpdateRule[Any]] = {}
        self._teachers: dict[tuple[float, torch.device, torch.dtype], UpdateRule[Any]] = {}
        # Each group's mask of tracked parameters and its names: decoded once, not per step
        # (keyed by the mask and its version: a checkpoint may be loaded into it in place).
        self._masks: dict[int, tuple[Tensor, int, tuple[str, ...]]] = {}
        super().__init__(params, {"lr": lr, "warmup": warmup, "warmup_lr": warmup_lr})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's, then the checks a group must pass (the constructor's groups too)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            _check_group(group)
        except OptimizerUsageError:
            self.param_groups.pop()
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.rule.kind} {self.rule.name!r})"

    # -- the rule a group uses ------------------------------------------------------------

    def _tracked(self, mask: Tensor) -> list[str]:
        """The names of the parameters ``mask`` marks (a group's state tracks them)."""
        known = self._masks.get(id(mask))
        if known is not None and known[0] is mask and known[1] == mask._version:
            return list(known[2])
        names = [str(index) for index in mask.nonzero().flatten().tolist()]
        self._masks[id(mask)] = (mask, mask._version, tuple(names))
        return names

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._masks.clear()  # the loaded masks are new tensors
        super().load_state_dict(state_dict)

    def _rule_for(self, group: dict[str, Any], like: Tensor) -> tuple[UpdateRule[Any], float]:
        """The rule for ``group`` on ``like``'s device and dtype, and the scale of its step."""
        rule, scale = self.rule, float(group["lr"])
        if isinstance(rule, Teacher) and "lr" in type(rule.config).model_fields:
            # The group's lr is the teacher's own: a schedule changes the rule, not a scale.
            key = (scale, like.device, like.dtype)
            if key not in self._teachers:
                if len(self._teachers) > 16:
                    self._teachers.clear()  # a schedule visits most learning rates once
                fresh = type(rule)(rule.config.model_copy(update={"lr": scale}))
                self._teachers[key] = fresh.use_compiler(rule.compiling)
            return self._teachers[key], 1.0
        if isinstance(rule, Student):
            key2 = (like.device, like.dtype)
            if key2 not in self._copies:
                own = next(rule.parameters(), None)
                same = own is None or (own.device, own.dtype) == key2
                self._copies[key2] = rule if same else copy.deepcopy(rule).to(*key2)
            return self._copies[key2], scale
        return rule, scale

    # -- stepping -------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step of every group; ``closure`` (re-evaluating the loss, with gradients) is
        called once, first, and its loss returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        params: list[Tensor] = group["params"]
        if not params:
            return
        grads: dict[str, Tensor] = {}
        for index, param in enumerate(params):
            if param.grad is None:
                continue
            if param.grad.is_sparse:
                raise OptimizerUsageError(
                    f"{self!r} cannot step sparse gradients: use dense gradients (for "
                    "nn.Embedding, sparse=False)"
                )
            grads[str(index)] = param.grad
        if not grads:
            return
        holder = self.state[params[0]]
        count = int(holder["step"]) if "step" in holder else 0
        if count < group["warmup"]:
            lr = group["warmup_lr"]
            for key, grad in grads.items():
                param = params[int(key)]
                # As warm_start computes it (one rounding of lr * grad, one of the difference),
                # so a loaded optimizer retraces evaluation exactly.
                param.sub_(lr * grad)
            holder["step"] = torch.tensor(count + 1)
            return
        rule, scale = self._rule_for(group, params[0])
        values = {str(index): param.detach() for index, param in enumerate(params)}
        if "rule_state" in holder:
            state = holder["rule_state"]
            tracked = self._tracked(holder["tracked"])
        else:
            # The parameters with a gradient now; a per-parameter rule adds others later.
            state, tracked = rule.init({key: values[key] for key in grads}), list(grads)
        names = frozenset(tracked)
        per_param = per_parameter(state, names)
        if not (set(grads) == names or per_param):
            raise OptimizerUsageError(
                f"{self.rule.kind} {self.rule.name!r} keeps one state across all its parameters "
                f"and started with {len(names)} of this group's; at this step "
                f"{len(grads)} have a gradient, not the same ones. Give each of them a gradient "
                "at every step (freeze a parameter with requires_grad=False before its first "
                "step)"
            )
        new = [key for key in grads if key not in names]
        if new:
            state = merge(state, rule.init({key: values[key] for key in new}), names)
            tracked, names = sorted([*tracked, *new], key=int), names | set(new)
        active = [key for key in tracked if key in grads]
        full = len(active) == len(tracked)
        # The state is the optimizer's own: the rule may write the new one into it. The
        # parameters' detached views share their storage: the rule writes the new values.
        new_state = rule.step_in_place(
            {key: grads[key] for key in active},
            state if full else restrict(state, names, active),
            {key: values[key] for key in active},
            count - group["warmup"],
            scale,
        )
        if new or "tracked" not in holder:
            # A mask, not a list of names: load_state_dict casts what it finds to tensors.
            mask = torch.zeros(len(params), dtype=params[0].dtype, device=params[0].device)
            mask[[int(key) for key in tracked]] = 1
            if "tracked" in holder:
                self._masks.pop(id(holder["tracked"]), None)
            holder["tracked"] = mask
            self._masks[id(mask)] = (mask, mask._version, tuple(tracked))
        holder["rule_state"] = new_state if full else merge(state, new_state, names)
        holder["step"] = torch.tensor(count + 1)
