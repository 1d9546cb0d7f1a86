"""NAS-Bench-201's cell space (Dong & Yang, ICLR 2020), written in plain PyTorch.

A cell is a DAG of 4 nodes; each of its 6 edges ``j <- i`` (``i < j``) carries one of 5 ops:
``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``, so the space
has 5**6 = 15625 cells. The macro skeleton is the benchmark's: a 3x3 stem (C = 16), three stages
of N = 5 cells with C = 16, 32, 64, separated by residual reduction blocks, then BN-ReLU,
global average pooling and a linear classifier; CIFAR input (32x32 by default).

Architectures are written as the benchmark writes them::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

(node 1 | node 2 | node 3; ``op~i`` is the edge from node ``i``). The modules mirror the
benchmark's ``InferCell`` / ``ResNetBasicblock`` / ``ReLUConvBN`` layer for layer, so parameter
counts match the published ones (1,531,546 for the all-``nor_conv_3x3`` cell on CIFAR-10).

The baseline is the benchmark's ResNet cell,
``|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|``.
"""

from __future__ import annotations

import torch
from torch import nn

from hwfit.errors import UserError
from hwfit.nas.space import Arch, Dimension, SearchSpace
from hwfit.nas.spaces import register_space

__all__ = ["ALIASES", "EDGES", "NAME", "OPS", "NB201Network", "NB201Space"]

NAME = "nb201"
ALIASES = ("nb201", "nas-bench-201", "nasbench201")
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The cell's edges ``(to, from)`` in the order of the arch string."""

_RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, batch norm (the benchmark's ``nor_conv_*``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ResNetBasicBlock(nn.Module):
    """The benchmark's reduction block: two ReLUConvBN 3x3 (stride 2) plus a pooled shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual plus the conv branch."""
        out: torch.Tensor = self.downsample(x) + self.conv_b(self.conv_a(x))
        return out


def _op(name: str, channels: int) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(name)


class Cell(nn.Module):
    """One NAS-Bench-201 cell: node ``j`` is the sum of its incoming edges' ops.

    ``none`` edges contribute zero and are left out of the graph; a node whose edges are all
    ``none`` is zero (``x * 0``, as the benchmark's ``Zero`` op computes it), so every one of
    the 15625 cells builds and exports.

    Args:
        ops: The op of each edge, in `EDGES` order.
        channels: Channels of every node.
    """

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.ops = ops
        self.edges = nn.ModuleDict()
        for (to, src), name in zip(EDGES, ops, strict=True):
            if name != "none":
                self.edges[f"{to}_{src}"] = _op(name, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the DAG; the cell's output is node 3."""
        nodes = [x]
        for to in (1, 2, 3):
            terms = [
                self.edges[f"{to}_{src}"](nodes[src])
                for src in range(to)
                if f"{to}_{src}" in self.edges
            ]
            if not terms:
                nodes.append(x * 0.0)
                continue
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            nodes.append(total)
        return nodes[3]


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around one cell (C = 16, N = 5).

    Args:
        ops: The cell's op per edge, in `EDGES` order.
        num_classes: Classifier outputs.
        channels: Channels of the first stage (doubled at each reduction).
        cells_per_stage: Cells per stage.
    """

    def __init__(
        self,
        ops: tuple[str, ...],
        num_classes: int,
        channels: int = 16,
        cells_per_stage: int = 5,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(width, width * 2))
                width *= 2
            layers += [Cell(ops, width) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a ``(batch, 3, H, W)`` input."""
        out = self.lastact(self.cells(self.stem(x)))
        logits: torch.Tensor = self.classifier(torch.flatten(self.global_pooling(out), 1))
        return logits


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201's 15625-cell space; dimensions ``edge_J_I`` (edge from node I to node J).

    Args:
        name: ``"nb201"`` (or an alias).
        num_classes: Classifier outputs (10 for CIFAR-10, 100 for CIFAR-100).
        resolution: Input resolution; 32 (CIFAR) by default. It is fixed, not searched.

    The space has no width or depth dimension, so `scaled` returns the baseline.
    """

    family = "nb201"
    baseline_help = "nb201"

    @classmethod
    def baselines(cls) -> tuple[str, ...]:  # noqa: D102
        return (NAME,)

    @classmethod
    def accepts(cls, name: str) -> bool:  # noqa: D102
        return name in ALIASES

    def __init__(
        self, name: str = NAME, num_classes: int = 10, resolution: int | None = None
    ) -> None:
        self.name = NAME
        self.num_classes = num_classes
        self.fixed_resolution = resolution or 32
        base = parse_arch_string(_RESNET_CELL)
        self._dims = [
            Dimension(f"edge_{to}_{src}", OPS, op)
            for (to, src), op in zip(EDGES, base, strict=True)
        ]

    def dimensions(self) -> list[Dimension]:  # noqa: D102
        return list(self._dims)

    def ops(self, arch: Arch) -> tuple[str, ...]:
        """The op of each edge of ``arch``, in `EDGES` order."""
        self._check(arch)
        return tuple(str(arch.value(f"edge_{to}_{src}")) for to, src in EDGES)

    def build(self, arch: Arch) -> nn.Module:  # noqa: D102
        return NB201Network(self.ops(arch), self.num_classes).eval()

    def describe(self, arch: Arch) -> str:  # noqa: D102
        return arch_string(self.ops(arch))

    def from_string(self, text: str) -> Arch:
        """The `Arch` of a benchmark arch string.

        Raises:
            UserError: The string is not a NAS-Bench-201 cell.
        """
        ops = parse_arch_string(text)
        return self.decode(
            {f"edge_{to}_{src}": op for (to, src), op in zip(EDGES, ops, strict=True)}
        )


def arch_string(ops: tuple[str, ...]) -> str:
    """The benchmark's arch string of a cell's ops (in `EDGES` order).

    Example:
        >>> arch_string(("nor_conv_3x3",) * 6)[:32]
        '|nor_conv_3x3~0|+|nor_conv_3x3~0'
    """
    nodes = []
    for to in (1, 2, 3):
        nodes.append(
            "|"
            + "|".join(f"{op}~{src}" for (t, src), op in zip(EDGES, ops, strict=True) if t == to)
            + "|"
        )
    return "+".join(nodes)


def parse_arch_string(text: str) -> tuple[str, ...]:
    """The ops (in `EDGES` order) of a benchmark arch string.

    Raises:
        UserError: The string is not a NAS-Bench-201 cell.
    """
    hint = "Expected a form like '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|'."
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise UserError(f"Not a NAS-Bench-201 arch string: {text!r}.", hint=hint)
    ops: list[str] = []
    for to, node in enumerate(nodes, start=1):
        items = [item for item in node.strip().split("|") if item]
        if len(items) != to:
            raise UserError(f"Node {to} of {text!r} needs {to} edges.", hint=hint)
        for src, item in enumerate(items):
            op, _, index = item.partition("~")
            if op not in OPS or index != str(src):
                raise UserError(
                    f"Bad edge {item!r} in {text!r}.", hint=f"Ops: {', '.join(OPS)}. {hint}"
                )
            ops.append(op)
    return tuple(ops)
