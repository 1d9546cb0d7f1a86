"""The ``hwfit`` entry point: the one place where errors become one line and an exit code."""

from __future__ import annotations

import logging
import sys

import typer

from hwfit.cli import app
from hwfit.cli.render import EXIT_INTERRUPTED
from hwfit.errors import HwfitError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and exit with) its exit code."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this).

    SIGTERM stops a command as Ctrl-C does, with exit code 143 instead of 130. PyTorch models
    are built and run once in a worker process (:func:`hwfit.bench.spawn.describe_in_worker`),
    so a model that crashes natively is an error line, not the end of the CLI.
    """
    from hwfit.bench.spawn import describe_in_worker
    from hwfit.cli.render import sigterm_as_interrupt
    from hwfit.models.sources import describe_torch_with

    with sigterm_as_interrupt(), describe_torch_with(describe_in_worker):
        return _run(list(sys.argv[1:] if argv is None else argv))


def _run(args: list[str]) -> int:
    from hwfit.cli.render import (
        interrupt_reported,
        interrupted_exit_code,
        print_error,
        print_interrupted,
    )

    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    _configure_logging(args)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="hwfit", standalone_mode=False)
    except HwfitError as exc:
        if debug:
            raise
        print_error(exc.message, exc.hint)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):  # typer turns Ctrl-C into Abort
        print_interrupted()
        return interrupted_exit_code()
    except typer.exceptions.TyperException as exc:  # usage errors: typer's own message
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        return int(getattr(exc, "exit_code", 2))
    if result == EXIT_INTERRUPTED:
        # typer turns a Ctrl-C (or SIGTERM) that no command caught into 130 without a word
        if not interrupt_reported():
            print_interrupted()
        return interrupted_exit_code()
    return result if isinstance(result, int) else 0


def _configure_logging(args: list[str]) -> None:
    from hwfit.cli.render import log_handler

    level = logging.WARNING
    if "-v" in args or "--verbose" in args:
        level = logging.INFO
        for flag in ("-v", "--verbose"):
            while flag in args:
                args.remove(flag)
    logging.basicConfig(level=level, format="%(message)s", handlers=[log_handler()])
    # torch warns on import that a CUDA build finds no CUDA: noise on every CPU machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


if __name__ == "__main__":
    main()
