"""A tiny model with fixed weights that really classifies: red, green or blue images.

It gives optimize a labelled task whose FP32 accuracy is known (100%), so the accuracy guard
is tested on real top-1 numbers rather than on a random network's chance level.
"""

import torch


def colour_classifier() -> torch.nn.Module:
    conv = torch.nn.Conv2d(3, 3, 1)
    head = torch.nn.Linear(3, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
        conv.bias.zero_()
        head.weight.copy_(10 * torch.eye(3).flip(0))  # outputs in folder order: blue, green, red
        head.bias.zero_()
    return torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), head
    )


class _TwoHeads(torch.nn.Module):
    """The colour classifier's scores, and a second output: a 4-channel feature map."""

    def __init__(self) -> None:
        super().__init__()
        self.classify = colour_classifier()
        self.features = torch.nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.features.weight.copy_(
                torch.linspace(-1, 1, self.features.weight.numel()).reshape(
                    self.features.weight.shape
                )
            )
            self.features.bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classify(x), self.features(x)


def colour_two_heads() -> torch.nn.Module:
    """Two outputs: ``(N, 3)`` class scores and an ``(N, 4, H, W)`` map."""
    return _TwoHeads()


def colour_segmenter() -> torch.nn.Module:
    """One ``(N, 3, H, W)`` output: per-pixel colour scores (a segmenter's shape)."""
    conv = torch.nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(10 * torch.eye(3).reshape(3, 3, 1, 1))
        conv.bias.zero_()
    return torch.nn.Sequential(conv)


def colour_brightness() -> torch.nn.Module:
    """One number per image (a regressor): no class axis to agree on."""
    return torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1)
    )
