"""`classic NAME`: reproduce a published result (a registered classic) and print ours beside the paper's.

The classic's preset spec runs through the run store like any CLI run (`record_foreground`), so its
progress, cancel from the UI and the stored record work as for other runs, and the Classics page
finds it afterwards.
"""
from __future__ import annotations

import json
import sys


def add_commands(sub) -> None:
    from compress_core.options import add_home, integer

    p = sub.add_parser("classic", help="reproduce a classic result (e.g. lottery-ticket) and show the paper's rows "
                                       "beside ours, with the gap",
                       description="run a classic's preset (the paper's settings scaled to this machine) through the "
                                   "run store and print the paper's table rows beside ours, with the gap and what "
                                   "differs; `classic --list` lists the classics")
    p.add_argument("name", nargs="?", help="the classic (see --list)")
    p.add_argument("--list", action="store_true", help="list the classics and exit")
    p.add_argument("--model", help="one of the paper's models (default: the classic's)")
    p.add_argument("--dataset", help="data set (default: the classic's, digits; mnist when its files are in the data "
                                     "folder)")
    p.add_argument("--seed", type=integer, default=0, help="random seed (default: 0)")
    p.add_argument("--quick", action="store_true", help="shortened settings (for a first look and tests)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_home(p)
    p.set_defaults(handler=_classic)


def _list(as_json: bool) -> int:
    from compress_core.classics.registry import all_classics

    rows = [{"name": c.name, "label": c.label, "citation": c.citation, "models": list(c.models),
             "default_model": c.default_model, "default_dataset": c.default_dataset} for c in all_classics()]
    if as_json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['name']:<18} {row['label']} (models: {', '.join(row['models'])})")
    return 0


def _classic(args) -> int:
    from compress_core.classics.registry import classic_spec, get_classic
    from compress_core.cli.output import ThrottledPrinter, print_result
    from compress_core.errors import CompressError
    from compress_core.present.classics import compare_rows, comparison_text
    from compress_core.runs.jobs import record_foreground

    if args.list:
        return _list(args.json)
    if not args.name:
        raise CompressError("give a classic's name (see `classic --list`)")
    classic = get_classic(args.name)
    spec = classic_spec(args.name, args.model, args.dataset, seed=args.seed, quick=args.quick)
    result = record_foreground(spec.to_dict(), home=args.home, data_dir=args.data_dir,
                               on_progress=None if args.json else ThrottledPrinter())
    paper, ours = list(classic.paper_rows(spec.model)), list(classic.our_rows(result))
    comparison = compare_rows(paper, ours)
    result["classic"] = {"name": classic.name, "label": classic.label, "citation": classic.citation,
                         "differs": classic.differs, "quick": args.quick, "paper_rows": paper, "our_rows": ours,
                         "comparison": comparison}
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    print_result(result)
    print(f"\n{classic.label}: {classic.citation}")
    print(comparison_text(comparison))
    print(f"what differs: {classic.differs}")
    if args.quick:
        print("note: --quick settings; the full classic runs longer", file=sys.stderr)
    return 0
