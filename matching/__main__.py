"""``python -m matching IN.json [-o OUT.json]``: solve one matching problem in JSON.

Exit status 0 with the result (also when it is "infeasible"), 2 with one line on
stderr when the input is malformed.  '-' reads stdin / writes stdout.
"""

from __future__ import annotations

import argparse
import json
import sys

from matching.io import loads_json, parse_problem, result_to_json
from matching.problem import ProblemError
from matching.solve import solve


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m matching", description="Solve a craftmatch round exactly."
    )
    parser.add_argument("input", help="problem JSON file, or - for stdin")
    parser.add_argument("-o", "--output", default="-", help="result JSON file, or - for stdout (default)")
    args = parser.parse_args(argv)
    try:
        text = _read(args.input)
        problem = parse_problem(loads_json(text))
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {args.input}: cannot read: {error}", file=sys.stderr)
        return 2
    except ProblemError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    document = json.dumps(result_to_json(solve(problem)), ensure_ascii=False, indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(document)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(document)
    except OSError as error:  # a missing folder, a folder, no permission
        print(f"error: {args.output}: cannot write: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
