"""The command line: one small module per command, each a thin layer over ``thermodiff.Run``.

Options for the settings are generated from the configuration dataclasses (``options.py``), so
their defaults and help texts live in one place. Errors a user can cause (``ThermodiffError``)
print as one line and exit 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import ThermodiffError, ThermodiffWarning
from . import demo, evaluate, plot, posterior, sample, train
from .common import EPILOG

COMMANDS = {"demo": demo.run, "train": train.run, "evaluate": evaluate.run, "sample": sample.run, "plot": plot.run,
            "inpaint": posterior.run_inpaint, "denoise": posterior.run_denoise}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thermodiff",
        description="Diffusion probabilistic models (Sohl-Dickstein et al. 2015): train on your data, sample "
                    "exactly, and get a lower bound on log-likelihood in bits with its standard error.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (demo.add_parser, train.add_parser, evaluate.add_parser, sample.add_parser, plot.add_parser,
                posterior.add_inpaint_parser, posterior.add_denoise_parser):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", ThermodiffWarning)
        warnings.showwarning = _one_line(args.command, warnings.showwarning)
        try:
            return COMMANDS[args.command](args)
        except ThermodiffError as err:
            if os.environ.get("THERMODIFF_DEBUG"):
                raise
            print(f"thermodiff {args.command}: error: {err}", file=sys.stderr)
            return 2


def _one_line(command: str, show):
    """Print a ThermodiffWarning as one line, as errors are; other warnings as Python does."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ThermodiffWarning):
            print(f"thermodiff {command}: warning: {message}", file=sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning
