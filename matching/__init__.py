"""craftmatch's optimizer: a `Problem` in, an exact `Result` out (numpy + scipy only).

`run_round` is the entry for a whole round (inputs → assignments, alternates, explanations and
warnings); underneath it, `build_problem` (features + `RoundConfig` → Problem), `score` and the exact
`solve`.
"""

from matching.problem import Problem, ProblemError
from matching.result import Assignment, Result
from matching.solve import solve

# The scoring side (scipy.sparse, text features) loads on first use: `python -m matching` and other
# callers of the solver alone then start in a fraction of the time.
_LAZY = {
    "RoundConfig": "matching.config",
    "TrackRecord": "matching.features",
    "RoundInputs": "matching.outcome",
    "RoundOutcome": "matching.outcome",
    "run_round": "matching.outcome",
    "build_problem": "matching.pipeline",
    "score": "matching.scoring",
}

__all__ = [
    "Assignment",
    "Problem",
    "ProblemError",
    "Result",
    "RoundConfig",
    "RoundInputs",
    "RoundOutcome",
    "TrackRecord",
    "build_problem",
    "run_round",
    "score",
    "solve",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'matching' has no attribute {name!r}")
