"""craftmatch's optimizer: a `Problem` in, an exact `Result` out (numpy + scipy only).

`solve` is the one entry point; `build_problem` (features + `RoundConfig` → Problem)
and `score` come from the scoring pipeline.
"""

from matching.config import RoundConfig
from matching.pipeline import build_problem
from matching.problem import Problem, ProblemError
from matching.result import Assignment, Result
from matching.scoring import score
from matching.solve import solve

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
