"""One network of every member (e.g. ``critic1/agent_0``), stacked by layout, and its per-call bindings.

Members whose networks differ in shape go to different :class:`~evo_marl.population.stack.ParamStack`s;
how they are grouped is the ``grouping``:

* ``"shape"``: one stack per exact architecture (no padding; many small stacks once mutations diverge).
* ``"pad"``: one stack per depth and activation, hidden widths padded to the widest member per layer.
* ``"auto"``: as ``pad``, but a depth's members are split (widest first) so that no stack does more than
  ``1 + AUTO_SLACK`` times the multiply-adds its members would do unpadded: few stacks without padding
  everyone to one very wide member.

A :class:`BoundNetwork` serves one call for a selection of members (those learning now): a callable on
inputs ``[S, ..., num_inputs]`` (row ``s`` goes through member ``sel[s]``'s network) whose parameters
are leaf tensors for ``torch.autograd.grad`` when bound for training.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from evo_marl.errors import ConfigError
from evo_marl.population.stack import Layout, ParamStack, StackEntry, adam_step, mlp_forward
from evo_marl.population.transfer import index_tensor, to_device

GROUPINGS = ("pad", "shape", "auto")
AUTO_SLACK = 0.5


def _group_key(layout: Layout, grouping: str) -> tuple:
    if grouping == "shape":
        return (layout,)
    return (layout.num_inputs, len(layout.widths), layout.num_outputs, layout.activation, layout.output_activation,
            layout.extras)


def _work(layout: Layout, widths: tuple[int, ...]) -> int:
    """Multiply-adds per input row of an MLP with these hidden ``widths``."""
    dims = (layout.num_inputs, *widths, layout.num_outputs)
    return sum(a * b for a, b in zip(dims, dims[1:]))


def _split_by_padding(members: list[int], layouts: list[Layout]) -> list[list[int]]:
    """Members of one depth in stacks (widest first) whose padded work stays within ``1 + AUTO_SLACK`` of theirs."""
    stacks: list[tuple[list[int], tuple[int, ...], int]] = []  # members, padded widths, their unpadded work
    for k in sorted(members, key=lambda k: -_work(layouts[k], layouts[k].widths)):
        layout, own = layouts[k], _work(layouts[k], layouts[k].widths)
        for i, (rows, widths, work) in enumerate(stacks):
            padded = tuple(max(a, b) for a, b in zip(widths, layout.widths))
            if _work(layout, padded) * (len(rows) + 1) <= (1 + AUTO_SLACK) * (work + own):
                stacks[i] = (rows + [k], padded, work + own)
                break
        else:
            stacks.append(([k], layout.widths, own))
    return [sorted(rows) for rows, _, _ in stacks]


class StackedNetwork:
    """A network of every member, grouped into stacks (see the module docstring)."""

    def __init__(self, entries: list[StackEntry], grouping: str, device: torch.device):
        if grouping not in GROUPINGS:
            raise ConfigError("grouping", grouping, f"must be one of {GROUPINGS}")
        groups: dict[tuple, list[int]] = defaultdict(list)
        layouts = [Layout.of(e.net, e.extras) for e in entries]
        for k, layout in enumerate(layouts):
            groups[_group_key(layout, grouping)].append(k)
        self.stacks: list[ParamStack] = []
        self.where: list[tuple[int, int]] = [(0, 0)] * len(entries)  # member -> (stack, row)
        stacked = [rows for g in groups.values() for rows in _split_by_padding(g, layouts)] if grouping == "auto" \
            else list(groups.values())
        for members in stacked:
            first = layouts[members[0]]
            widths = tuple(max(layouts[k].widths[i] for k in members) for i in range(len(first.widths)))
            layout = Layout(first.num_inputs, widths, first.num_outputs, first.activation, first.output_activation,
                            first.extras)
            for row, k in enumerate(members):
                self.where[k] = (len(self.stacks), row)
            self.stacks.append(ParamStack(layout, [entries[k] for k in members], device, members))
        self._plans: dict[tuple[int, ...], tuple[list[tuple], Tensor | None]] = {}
        self._views: dict[tuple[int, bool, bool], list[Tensor]] = {}
        self._rates: dict[tuple, list[tuple[ParamStack, Tensor]]] = {}

    def bind(self, sel: Sequence[int], train: bool = False, target: bool = False,
             hidden_dtype: torch.dtype | None = None) -> BoundNetwork:
        """The network of members ``sel`` (in that order); ``train``: parameters are leaves for autograd;
        ``target``: the target network's parameters; ``hidden_dtype``: as :func:`~.stack.mlp_forward`."""
        plan, inverse = self._plan(tuple(sel))
        parts = []
        for s, rows, row_index, positions in plan:
            stack = self.stacks[s]
            if row_index is None:  # every row, in order: views of the stack itself (made once)
                key = (s, train, target)
                if key not in self._views:
                    views = stack.segments(stack.target if target else stack.flat)
                    self._views[key] = [v.detach().requires_grad_() for v in views] if train else views
                segments = self._views[key]
            else:
                segments = stack.segments((stack.target if target else stack.flat).index_select(0, row_index))
                if train:
                    segments = [v.detach().requires_grad_() for v in segments]
            parts.append(_Part(stack, rows, row_index, positions, index_tensor(positions, stack.device), segments))
        return BoundNetwork(parts, inverse, len(sel), hidden_dtype)

    def _plan(self, sel: tuple[int, ...]) -> tuple[list[tuple], Tensor | None]:
        """Per stack holding members of ``sel``: its rows, their positions in ``sel``, and the order to restore."""
        if sel not in self._plans:
            by_stack: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for position, k in enumerate(sel):
                s, row = self.where[k]
                by_stack[s].append((position, row))
            device = self.stacks[0].device
            plan = []
            for s, pairs in by_stack.items():
                rows = [r for _, r in pairs]
                row_index = None if rows == list(range(len(self.stacks[s]))) else index_tensor(rows, device)
                positions = [p for p, _ in pairs]
                plan.append((s, rows, row_index, positions))
            order = [p for _, pairs in by_stack.items() for p, _ in pairs]
            inverse = None if order == list(range(len(sel))) else index_tensor(np.argsort(order).tolist(), device)
            self._plans[sel] = (plan, inverse)
        return self._plans[sel]

    def soft_update(self, sel: Sequence[int], tau: Sequence[float]) -> None:
        """Soft-update the targets of members ``sel`` with their ``tau`` (other members' targets stay as they are)."""
        key = (tuple(sel), tuple(tau))
        if key not in self._rates:
            rates = [torch.zeros(len(s), dtype=torch.float64) for s in self.stacks]
            for k, t in zip(sel, tau):
                s, row = self.where[k]
                rates[s][row] = t
            self._rates[key] = [(stack, to_device(rate.numpy(), stack.device)) for stack, rate in zip(self.stacks, rates)
                                if bool(rate.any())]
        for stack, rate in self._rates[key]:
            stack.soft_update(rate)

    def write_back(self) -> None:
        for stack in self.stacks:
            stack.write_back()


class _Part:
    """The members of one stack within a binding: stack rows, their positions in the selection, parameters."""

    def __init__(self, stack: ParamStack, rows: list[int], row_index: Tensor | None, position_list: list[int],
                 positions: Tensor, segments: list[Tensor]):
        self.stack, self.row_list, self.rows, self.segments = stack, rows, row_index, segments
        self.position_list, self.positions = position_list, positions


class BoundNetwork:
    """A stacked network bound to a selection of members (see the module docstring)."""

    def __init__(self, parts: list[_Part], inverse: Tensor | None, size: int, hidden_dtype: torch.dtype | None = None):
        self.parts, self.inverse, self.size, self.hidden_dtype = parts, inverse, size, hidden_dtype

    def _gather(self, per_part: list[Tensor]) -> Tensor:
        out = per_part[0] if len(per_part) == 1 else torch.cat(per_part)
        return out if self.inverse is None else out.index_select(0, self.inverse)

    def __call__(self, x: Tensor) -> Tensor:
        if len(self.parts) == 1 and self.inverse is None:
            part = self.parts[0]
            return mlp_forward(part.stack.layout, part.segments, x, self.hidden_dtype)
        return self._gather([mlp_forward(p.stack.layout, p.segments, x.index_select(0, p.positions), self.hidden_dtype)
                             for p in self.parts])

    def extra(self, i: int) -> Tensor:
        """The ``i``-th extra parameter of every selected member, ``[S, *shape]``."""
        return self._gather([p.segments[p.stack.layout.weights + i] for p in self.parts])  # per stack: depths differ

    @property
    def leaves(self) -> list[Tensor]:
        return [s for p in self.parts for s in p.segments]

    def adam_items(self, grads: Sequence[Tensor | None], max_norm: Tensor | None = None,
                   keep: Sequence[bool] | None = None) -> list[tuple[ParamStack, int, list[Tensor]]]:
        """``(stack, row, segment gradients)`` of every selected member from the gradients of :attr:`leaves`
        (None: zero), for :func:`~evo_marl.population.stack.adam_step`.

        ``max_norm [S]`` clips each member's gradient norm; ``keep`` (one bool per member) leaves out the others.
        """
        items, i = [], 0
        for p in self.parts:
            n = len(p.segments)
            segment_grads = [torch.zeros_like(s) if g is None else g.contiguous() for s, g in zip(p.segments, grads[i:i + n])]
            i += n
            norms = None if max_norm is None else max_norm.index_select(0, p.positions)
            segment_grads = p.stack.prepare_grads(p.rows, segment_grads, norms)
            chosen = [j for j, position in enumerate(p.position_list) if keep is None or keep[position]]
            rows = list(zip(*(g.unbind(0) for g in segment_grads)))
            items += [(p.stack, p.row_list[j], rows[j]) for j in chosen]
        return items


def optimize(loss: Tensor, nets: Sequence[BoundNetwork], max_norm: Tensor | None = None,
             keep: Sequence[bool] | None = None) -> None:
    """One Adam step of the networks ``nets`` (bound for training) of every member on its own loss ``loss [S]``.

    ``max_norm`` / ``keep`` as :meth:`BoundNetwork.adam_items`.
    """
    leaves = [leaf for net in nets for leaf in net.leaves]
    grads = torch.autograd.grad(loss.sum(), leaves, allow_unused=True)
    items, i = [], 0
    for net in nets:
        n = len(net.leaves)
        items += net.adam_items(grads[i:i + n], max_norm, keep)
        i += n
    adam_step(items)
