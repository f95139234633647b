"""`python -m matching` starts light: a plain round loads neither scipy nor the scoring side (they
cost most of its start-up), which load when a route or a caller needs them."""

import json
import subprocess
import sys

from .test_io import VALID


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_solving_a_plain_round_from_json_loads_no_scipy(tmp_path):
    source = tmp_path / "in.json"
    source.write_text(json.dumps(VALID), encoding="utf-8")
    loaded = loaded_after(
        f"from matching.__main__ import main\nassert main([{str(source)!r}, '-o', {str(tmp_path / 'out.json')!r}]) == 0"
    )
    assert not [name for name in loaded if name.split(".")[0] == "scipy"]
    assert not {"matching.scoring", "matching.pipeline", "matching.features"} & loaded
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["status"] == "optimal"


def test_the_scoring_names_load_on_first_use():
    loaded = loaded_after(
        "import matching\nfrom matching import RoundConfig, build_problem, score\n"
        "import matching.config, matching.pipeline, matching.scoring\n"
        "assert RoundConfig is matching.config.RoundConfig and build_problem is matching.pipeline.build_problem\n"
        "assert score is matching.scoring.score and callable(matching.solve)"
    )
    assert "matching.scoring" in loaded


def test_the_round_entry_loads_the_max_flows_before_its_first_round():
    loaded = loaded_after("import matching.outcome")
    assert {"matching.relevant_fill", "scipy.sparse.csgraph", "matching.min_cost_flow",
            "ortools.graph.python.min_cost_flow"} <= loaded
