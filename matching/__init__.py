"""craftmatch's optimizer: a `Problem` in, an exact `Result` out (numpy + scipy only).

`run_round` is the entry for a whole round (inputs → assignments, alternates, explanations and
warnings); underneath it, `build_problem` (features + `RoundConfig` → Problem), `score` and the exact
`solve`.
"""

from matching.config import RoundConfig
from matching.features import TrackRecord
from matching.outcome import RoundInputs, RoundOutcome, run_round
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
    "RoundInputs",
    "RoundOutcome",
    "TrackRecord",
    "build_problem",
    "run_round",
    "score",
    "solve",
]
