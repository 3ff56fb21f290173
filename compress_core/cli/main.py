"""`python -m compress_core`: the command line, a thin layer over `api.run` and the run store.

Every command has `--help`. Bad input exits with status 2 and one line naming the bad
value and what is allowed; no traceback reaches the user.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

from compress_core.cli import classic_commands, explain_commands, explore_commands, speed_commands
from compress_core.cli import store_commands as cli_store
from compress_core.cli.output import ThrottledPrinter, print_result
from compress_core.devices import check_runnable_here
from compress_core.errors import CompressError
from compress_core.methods.registry import all_methods
from compress_core.options import OneLineParser
from compress_core.runs import mlflow_log, ray_backend
from compress_core.runs.backends import add_backend_options, get_backend
from compress_core.runs.jobs import record_foreground

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m compress_core",
                           description="Compression Lab: prune, distil and quantize neural networks, and measure the result.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for method in all_methods():  # one command per run kind, from the method registry
        if method.add_arguments is None:
            continue
        p = sub.add_parser(method.kind, help=method.help, description=method.help)
        method.add_arguments(p)
        p.add_argument("--mlflow", metavar="URI",
                       help="also log the finished run to MLflow at URI (a tracking server, sqlite:///file.db or "
                            "file:/folder; default: $COMPRESS_LAB_MLFLOW_URI, else off; needs "
                            "requirements-optional.txt)")
        add_backend_options(p)
        p.set_defaults(handler=lambda args, method=method: run_command(args, method.spec_from_args))
    cli_store.add_commands(sub)
    explore_commands.add_commands(sub)
    speed_commands.add_commands(sub)
    explain_commands.add_commands(sub)
    classic_commands.add_commands(sub)
    return parser


def run_command(args, builder: Callable) -> int:
    """Build the spec, run it (recorded in the run store) and print the result."""
    spec = builder(args)
    check_runnable_here(spec)  # a --device or --precision this machine cannot honour: one line, nothing recorded
    mlflow_uri = mlflow_log.uri_from(getattr(args, "mlflow", None))
    if mlflow_uri:
        mlflow_log.require()  # before the run: a missing MLflow is said at once, not after the work
    progress = None if args.json else ThrottledPrinter()
    backend = get_backend(getattr(args, "backend", None), getattr(args, "ray_address", None))
    if backend.name == "ray":  # one Ray task, recorded in the store by this process; the record has its `node`
        result = ray_backend.run_foreground(spec.to_dict(), args.home, backend.address, data_dir=args.data_dir,
                                            on_progress=progress)
    else:
        result = record_foreground(spec.to_dict(), home=args.home, data_dir=args.data_dir, on_progress=progress)
    if mlflow_uri:
        result["mlflow"] = mlflow_log.log_run(result["id"], mlflow_uri, home=args.home, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print_result(result)
        if mlflow_uri:
            logged = result["mlflow"]
            print(f"logged to MLflow {logged['uri']}: run {logged['mlflow_run_id']} (experiment "
                  f"{mlflow_log.EXPERIMENT}; {logged['params']} params, {logged['metrics']} metrics, "
                  f"artifacts {', '.join(logged['artifacts'])})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.handler(args) or 0
    except CompressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head -1`: the reader left; what was done is recorded, stay quiet
        from compress_core.runs.jobs import silence_closed_streams

        silence_closed_streams()
        return 0
    except Exception as exc:  # an engine bug: one line for users, the traceback on request
        if os.environ.get("COMPRESS_LAB_DEBUG"):
            raise
        print(f"error: internal error ({type(exc).__name__}: {exc}); set COMPRESS_LAB_DEBUG=1 for the traceback",
              file=sys.stderr)
        return 1
