"""``python -m matching IN.json [-o OUT.json]``: solve one matching problem in JSON (or IN.npz, columnar).

Exit status 0 with the result (also when it is "infeasible"), 2 with one line on
stderr when the input is malformed.  '-' reads stdin / writes stdout.
"""

from __future__ import annotations

import argparse
import sys

from matching.io import dumps_result, read_problem
from matching.problem import ProblemError
from matching.solve import solve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m matching", description="Solve a craftmatch round exactly."
    )
    parser.add_argument("input", help="problem JSON file (a .npz archive: columnar), or - for JSON on stdin")
    parser.add_argument("-o", "--output", default="-", help="result JSON file, or - for stdout (default)")
    args = parser.parse_args(argv)
    try:
        problem = read_problem(args.input)
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {args.input}: cannot read: {error}", file=sys.stderr)
        return 2
    except ProblemError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    document = dumps_result(solve(problem))
    if args.output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(document)
        return 0
    try:
        with open(args.output, "wb") as handle:
            handle.write(document)
    except OSError as error:  # a missing folder, a folder, no permission
        print(f"error: {args.output}: cannot write: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
