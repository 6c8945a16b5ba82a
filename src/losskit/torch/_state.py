"""What an attachment leaves on a module: its weight regularizers and its activity hooks.

Each module that a :class:`~losskit.torch.Regularization` touches gets one
:class:`ModuleState` in its ``__dict__`` (not a parameter, buffer or submodule, so
``state_dict`` and the module's class are unchanged). Its hooks are bound methods of the
state, so ``copy.deepcopy`` and pickling carry them to the copy; the recorded activity
penalties (tensors with autograd history) are not copied.

Keras semantics (docs/tf-semantics.md 5.2, 5.3): an activity penalty is recorded after the
module's forward, one per tensor in its output, divided by that output's first dimension;
the records of a module and its submodules are cleared when an *outermost* forward starts
(a forward that no other hooked forward encloses), so a submodule called twice in one
forward contributes twice and the next forward replaces, not adds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_leaves

from losskit._activity import batch_of

__all__ = ["ATTRIBUTE", "ModuleState", "state_of"]

ATTRIBUTE = "_losskit_regularization"

_OPEN = [0]
"""How many hooked forwards are running (nested) in this process."""


class ModuleState:
    """One module's attached regularizers (a stack per parameter and for its output: the
    last attachment wins, removing it restores the previous one) and activity records."""

    def __init__(self) -> None:
        self.weights: dict[str, list[tuple[Any, Any]]] = {}
        self.activity: list[tuple[Any, Any]] = []
        self.rules: list[Any] = []  # every rule with an entry here
        self.entries: list[Any] = []  # rules that hook this module's forward
        self.records: list[tuple[Any, Any]] = []
        self.handles: list[Any] = []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["records"] = []  # tensors of the last forward: not part of the model
        return state

    def empty(self) -> bool:
        return not (self.rules or self.entries or self.activity or any(self.weights.values()))

    # -- hooks ------------------------------------------------------------------------
    def enter(self, module: torch.nn.Module, args: Any) -> None:
        if _OPEN[0] == 0:  # an outermost forward: clear this subtree's records
            for sub in module.modules():
                state = sub.__dict__.get(ATTRIBUTE)
                if state is not None and state.records:
                    state.records = []
        _OPEN[0] += 1

    def exit(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        _OPEN[0] -= 1
        if not self.activity:
            return
        regularizer = self.activity[-1][1]
        for value in tree_leaves(output):
            if isinstance(value, torch.Tensor):
                # the undivided penalty and the batch: `losses` divides (locally, as Keras,
                # or by a global batch size)
                self.records.append((regularizer(value), batch_of(value)))

    def hook(self, module: torch.nn.Module, rule: Any) -> None:
        """Hook ``module``'s forward for ``rule`` (once per module, whatever the rules)."""
        self.entries.append(rule)
        if len(self.entries) == 1:
            self.handles = [
                module.register_forward_pre_hook(self.enter),
                module.register_forward_hook(self.exit, always_call=True),
            ]

    def unhook(self, rule: Any) -> None:
        self.entries = [entry for entry in self.entries if entry is not rule]
        if not self.entries:
            for handle in self.handles:
                handle.remove()
            self.handles = []
            self.records = []


def state_of(module: torch.nn.Module, *, create: bool = False) -> ModuleState | None:
    state: ModuleState | None = module.__dict__.get(ATTRIBUTE)
    if state is None and create:
        state = ModuleState()
        module.__dict__[ATTRIBUTE] = state
    return state
