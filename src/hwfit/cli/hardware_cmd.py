"""``hwfit hardware``: the inference environment as hwfit sees it."""

from __future__ import annotations

from typing import Annotated

from hwfit.cli.options import json_option

__all__ = ["hardware"]


def hardware(
    json_out: Annotated[bool, json_option("Print JSON instead of the tables.")] = False,
) -> None:
    """Show the CPU, ISA features, memory, GPUs and every runtime with its version and devices."""
    from hwfit.cli.render import console, hardware_table, print_json
    from hwfit.hardware import probe

    profile = probe(include_runtimes=True)
    if json_out:
        print_json(profile.to_dict())
        return
    for table in hardware_table(profile):
        console().print(table)
