"""Models whose forward pass crashes the process natively: the subject is hwfit's isolation."""

import ctypes

import torch


class _SegfaultingNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctypes.string_at(0)  # reads address 0: SIGSEGV, as a broken native extension would
        return self.conv(x)


def segfaulting_net() -> torch.nn.Module:
    return _SegfaultingNet()
