"""Parameters of several members' networks stacked along a leading member axis, with their Adam state.

A :class:`ParamStack` holds, for ``R`` members whose networks share one :class:`Layout`, the parameters
as rows of one flat tensor ``[R, N]`` (each segment - a layer's weight or bias, or an extra parameter
such as IPPO's log standard deviation - is a column range), the target networks' rows, Adam's moments
``[R, N]`` and per-member step counts, learning rates, betas and eps. One batched forward
(:func:`mlp_forward`, ``baddbmm`` per layer) serves all members; :func:`adam_step` updates the rows with
torch's own fused Adam kernel, one call per member over all its rows (faster here than elementwise Adam over
the whole stack with per-row learning rates: ``benchmarks/results/batched_learning.md``).

Padding: a member narrower than the layout fills the leading block of every segment and leaves the rest
zero; ``mask`` marks its real entries. Padded units have zero incoming and outgoing weights, so they add
exactly nothing to the outputs, and their gradients are zeroed before the Adam step, so they stay zero.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.optim.adam import adam as adam_functional

from evo_marl.errors import ConfigError
from evo_marl.networks import EvolvableMLP
from evo_marl.networks.evolvable_mlp import FUNCTIONAL_ACTIVATIONS
from evo_marl.population.transfer import index_tensor


@dataclass(frozen=True)
class Layout:
    """Shapes of a stacked MLP: ``num_inputs -> widths... -> num_outputs``, then extra parameters."""

    num_inputs: int
    widths: tuple[int, ...]
    num_outputs: int
    activation: str
    output_activation: str | None
    extras: tuple[tuple[int, ...], ...] = ()

    def shapes(self) -> list[tuple[int, ...]]:
        """Stored segment shapes in ``EvolvableMLP.parameters()`` order, then the extras. Weights are stored
        transposed, ``[in, out]``, and biases as rows ``[1, out]``: the batched matmul reads them as they are
        and their gradients come back contiguous (which the fused Adam kernel needs)."""
        dims = (self.num_inputs, *self.widths, self.num_outputs)
        shapes: list[tuple[int, ...]] = []
        for n_in, n_out in zip(dims, dims[1:]):
            shapes += [(n_in, n_out), (1, n_out)]
        return shapes + list(self.extras)

    @property
    def weights(self) -> int:
        """Segments that are layer weights (the first ones: weight, bias, weight, bias ...)."""
        return 2 * (len(self.widths) + 1)

    @staticmethod
    def of(net: EvolvableMLP, extras: list[Tensor]) -> Layout:
        return Layout(net.num_inputs, tuple(net.hidden_size), net.num_outputs, net.activation, net.output_activation,
                      tuple(tuple(e.shape) for e in extras))


@dataclass
class StackEntry:
    """What one member contributes to a stack: its network, extra parameters, target network and optimizer
    (None for a stack that only acts: it has no Adam state and cannot take a step)."""

    net: EvolvableMLP
    extras: list[Tensor]
    target: EvolvableMLP | None
    optimizer: torch.optim.Optimizer | None

    def params(self) -> list[Tensor]:
        return list(self.net.parameters()) + list(self.extras)


_IN_PLACE = {"ReLU": torch.relu_}  # on the matmul's fresh output, which its backward does not need


def mlp_forward(layout: Layout, params: list[Tensor], x: Tensor, hidden_dtype: torch.dtype | None = None) -> Tensor:
    """Forward of ``S`` stacked MLPs: ``params`` are segments ``[S, ...]``, ``x`` is ``[S, ..., num_inputs]``.

    ``hidden_dtype`` (e.g. ``torch.bfloat16``): the hidden layers compute in it, the output layer in the
    parameters' dtype (:mod:`evo_marl.population.precision`)."""
    lead = x.shape[:-1]
    h = x if x.dim() == 3 else x.reshape(x.shape[0], -1, x.shape[-1])
    act = _IN_PLACE.get(layout.activation, FUNCTIONAL_ACTIVATIONS[layout.activation])
    depth = len(layout.widths)
    for layer in range(depth + 1):
        weight, bias = params[2 * layer], params[2 * layer + 1]
        if hidden_dtype is not None:
            dtype = hidden_dtype if layer < depth else weight.dtype
            h, weight, bias = h.to(dtype), weight.to(dtype), bias.to(dtype)
        h = torch.baddbmm(bias, h, weight)
        if layer < depth:
            h = act(h)
    if layout.output_activation:
        h = FUNCTIONAL_ACTIVATIONS[layout.output_activation](h)
    return h if x.dim() == 3 else h.reshape(*lead, layout.num_outputs)


def _adam_hparams(optimizer: torch.optim.Optimizer) -> tuple[float, float, float, float]:
    """``(lr, beta1, beta2, eps)`` of a plain Adam optimizer; ConfigError for anything the stack cannot mirror."""
    groups = optimizer.param_groups
    first = groups[0]
    plain = isinstance(optimizer, torch.optim.Adam) and all(
        not g["amsgrad"] and not g["maximize"] and g["weight_decay"] == 0 and
        (g["lr"], g["betas"], g["eps"]) == (first["lr"], first["betas"], first["eps"]) for g in groups)
    if not plain:
        raise ConfigError("optimizer", type(optimizer).__name__, "batched learning mirrors plain Adam (no weight decay, "
                          "amsgrad or maximize; one lr, betas and eps for every parameter group)")
    return float(first["lr"]), float(first["betas"][0]), float(first["betas"][1]), float(first["eps"])


class ParamStack:
    """Parameters, targets and Adam state of ``R`` members with one layout (see the module docstring).

    ``owners[r]`` is the population index of row ``r``'s member.
    """

    def __init__(self, layout: Layout, entries: list[StackEntry], device: torch.device, owners: list[int]):
        self.layout, self.entries, self.device, self.owners = layout, entries, device, owners
        shapes = layout.shapes()
        sizes = [torch.Size(s).numel() for s in shapes]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.shapes = shapes
        rows, width = len(entries), self.offsets[-1]
        self.flat = torch.zeros(rows, width, device=device)
        self.target = torch.zeros(rows, width, device=device) if entries[0].target is not None else None
        self.exp_avg = torch.zeros(rows, width, device=device)
        self.exp_avg_sq = torch.zeros(rows, width, device=device)
        self.step = torch.zeros(rows, device=device)  # float32 step counts, as torch's Adam keeps them
        mask = torch.zeros(rows, width, device=device)
        hparams = []
        for r, entry in enumerate(entries):
            params = entry.params()
            states = [None if entry.optimizer is None else entry.optimizer.state.get(p) for p in params]
            stepped = [bool(s) for s in states]
            if any(stepped) and not all(stepped):
                raise ConfigError("optimizer.state", f"{sum(stepped)} of {len(params)} parameters",
                                  "batched learning needs every parameter of a network stepped equally often")
            steps = {float(s["step"]) for s in states if s}
            if len(steps) > 1:
                raise ConfigError("optimizer.state.step", sorted(steps), "must be equal for every parameter of a network")
            self.step[r] = steps.pop() if steps else 0.0
            sources = [(mask, [torch.ones_like(p) for p in params]), (self.flat, params)]
            if entry.target is not None:
                sources.append((self.target, list(entry.target.parameters())))
            if all(stepped):
                sources += [(self.exp_avg, [s["exp_avg"] for s in states]),
                            (self.exp_avg_sq, [s["exp_avg_sq"] for s in states])]
            for store, tensors in sources:
                for i, tensor in enumerate(tensors):
                    self._block(store, r, i, tensor.shape).copy_(tensor.detach())
            hparams.append(None if entry.optimizer is None else _adam_hparams(entry.optimizer))
            if entry.target is not None and entry.extras:
                raise ConfigError("extras", len(entry.extras), "networks with extra parameters have no target networks")
        self.mask = None if bool(mask.all()) else mask
        self.adam = hparams  # per row: (lr, beta1, beta2, eps), None without an optimizer
        self.fused = device.type in ("cpu", "cuda")  # as EvolvableAlgorithm builds its optimizers
        self._row_state: list[tuple | None] = [None] * rows

    def __len__(self) -> int:
        return len(self.entries)

    def segments(self, rows: Tensor) -> list[Tensor]:
        """Views ``[R', *shape]`` of every segment of the (already selected) flat rows ``rows [R', N]``."""
        return [rows[:, a:b].view(rows.shape[0], *shape)
                for a, b, shape in zip(self.offsets, self.offsets[1:], self.shapes)]

    @torch.no_grad()
    def prepare_grads(self, rows: Tensor | None, grads: list[Tensor], max_norm: Tensor | None = None) -> list[Tensor]:
        """Segment gradients ``[R', *shape]`` of the given rows (None: all) with padding zeroed and, with
        ``max_norm [R']``, each row's norm clipped as ``torch.nn.utils.clip_grad_norm_`` does (``inf``: never)."""
        if self.mask is not None:
            masks = self.segments(self.mask if rows is None else self.mask.index_select(0, rows))
            grads = [g * m for g, m in zip(grads, masks)]
        if max_norm is not None:
            norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])
            total = torch.linalg.vector_norm(norms, dim=0)
            scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            grads = [g * scale.reshape(-1, *([1] * (g.dim() - 1))) for g in grads]
        return grads

    def row_state(self, row: int) -> tuple[list[Tensor], list[Tensor], list[Tensor], Tensor]:
        """Segment views of one row's parameters and Adam moments, and its step count (updated in place)."""
        if self._row_state[row] is None:
            views = [self.segments(store[row:row + 1]) for store in (self.flat, self.exp_avg, self.exp_avg_sq)]
            self._row_state[row] = tuple([v[0] for v in segs] for segs in views) + (self.step[row],)
        return self._row_state[row]

    @torch.no_grad()
    def soft_update(self, tau: Tensor) -> None:
        """``target <- target + tau * (online - target)`` per row (``tau [R]``, 0 leaves a row exactly as it is)."""
        self.target.lerp_(self.flat, tau.to(self.flat.dtype).unsqueeze(1))

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy every row back into its member's parameters, target and optimizer state."""
        for r, entry in enumerate(self.entries):
            step = float(self.step[r])
            for i, param in enumerate(entry.params()):
                param.copy_(self._block(self.flat, r, i, param.shape))
                if step > 0:
                    entry.optimizer.state[param] = {
                        "step": torch.tensor(step, dtype=torch.float32, device=param.device),
                        "exp_avg": self._block(self.exp_avg, r, i, param.shape).clone(),
                        "exp_avg_sq": self._block(self.exp_avg_sq, r, i, param.shape).clone()}
            if entry.target is not None:
                for i, param in enumerate(entry.target.parameters()):
                    param.copy_(self._block(self.target, r, i, param.shape))

    def _block(self, store: Tensor, row: int, segment: int, shape: torch.Size) -> Tensor:
        """The member's real entries of a segment of one row, as a view shaped like its parameter ``shape``."""
        flat = store[row, self.offsets[segment]:self.offsets[segment + 1]]
        if segment < self.layout.weights:
            if segment % 2:  # a bias, stored as a row
                return flat[:shape[0]]
            return flat.view(self.shapes[segment])[:shape[1], :shape[0]].t()  # a weight, stored transposed
        return flat.view(self.shapes[segment])[tuple(slice(0, n) for n in shape)]


def adam_step(items: list[tuple[ParamStack, int, list[Tensor]]]) -> None:
    """One Adam step of each ``(stack, row, segment gradients)``, with the row's own learning rate, betas, eps
    and step count: one fused Adam call (torch's own kernel, as each member's optimizer uses) per member, over
    all its rows at once."""
    calls: dict[tuple, list[tuple[ParamStack, int, list[Tensor]]]] = defaultdict(list)
    for stack, row, grads in items:
        calls[(stack.owners[row], stack.adam[row], stack.fused)].append((stack, row, grads))
    with torch.no_grad():
        counted: dict[ParamStack, list[int]] = defaultdict(list)
        for stack, row, _ in items:  # torch's Adam counts the step before its kernel runs (which reads it)
            counted[stack].append(row)
        for stack, rows in counted.items():
            if len(rows) == len(stack):
                stack.step.add_(1)
            else:
                stack.step.index_add_(0, index_tensor(rows, stack.device), stack.step.new_ones(len(rows)))
        for (_, (lr, beta1, beta2, eps), fused), group in calls.items():
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            for stack, row, row_grads in group:
                p, m, v, step = stack.row_state(row)
                params += p
                grads += row_grads
                exp_avgs += m
                exp_avg_sqs += v
                steps += [step] * len(p)
            options = dict(lr=lr, beta1=beta1, beta2=beta2, weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
            if fused:
                torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, **options)
            else:  # the single-tensor path counts the step itself: give it copies of the counts before this step
                counts = [step - 1 for step in steps]
                adam_functional(params, grads, exp_avgs, exp_avg_sqs, [], counts, foreach=False, **options)
