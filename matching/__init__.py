"""craftmatch's optimizer: a `Problem` in, an exact `Result` out (numpy + scipy only).

`solve` is the one entry point; `build_problem` (features + `RoundConfig` → Problem)
and `score` come from the scoring pipeline.
"""

from matching.problem import Problem, ProblemError
from matching.result import Assignment, Result
from matching.solve import solve

# The scoring side (scipy.sparse, text features) loads on first use: `python -m matching` and other
# callers of the solver alone then start in a fraction of the time.
_LAZY = {"RoundConfig": "matching.config", "build_problem": "matching.pipeline", "score": "matching.scoring"}

__all__ = [
    "Assignment",
    "Problem",
    "ProblemError",
    "Result",
    "RoundConfig",
    "build_problem",
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
