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
