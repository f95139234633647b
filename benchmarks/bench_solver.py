"""Exact `solve()` end to end versus bare `linear_sum_assignment` on the slot-expanded
dense matrix of the same random instance (which alone is only a relaxation).

    .venv/bin/python benchmarks/bench_solver.py [--craftsmen 5000] [--demands 2000]
    .venv/bin/python benchmarks/bench_solver.py --peers [--sizes 3000x1200,10000x4000,100000x50000]
        [--penalties 0,0.05] [--repeat 3] [--format json|npz]

Prints measured times and their ratio (target ≤ 1.3); asserts nothing about time.
Then the same instance with random relevance tiers, solved with relevance "first" and "off":
their time ratio (target ≤ 1.5) and the relevance rate (share of filled slots whose craftsman
is relevant) of each.

``--peers``: ours (on sparse rounds itself OR-Tools' min-cost flow, `matching.min_cost_flow`) against
OR-Tools' min-cost flow (``SimpleMinCostFlow``, scores scaled to integers) and HiGHS's dual simplex on
the whole LP, on the same flow network of random sparse instances (bench_scale.py's, 20 candidates per
demand), with and without the load penalty: solve alone (best of ``--repeat`` in this process) and the
whole process (``python -m matching FILE`` against a child that reads the same file and runs the peer),
peak memory, and the ratios ours / peer (< 1: ours is faster).  Objectives must agree to 1e-7 relative.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matching import Problem


def random_dense_problem(n_craftsmen: int, n_demands: int, seed: int, load_penalty: float = 0.0) -> Problem:
    from matching import Problem  # here, not at the top: --peer-process children must not import matching

    rng = np.random.default_rng(seed)
    return Problem(
        [f"c{i}" for i in range(n_craftsmen)],
        [f"d{j}" for j in range(n_demands)],
        capacity=rng.integers(1, 4, n_craftsmen),
        slots=rng.integers(1, 4, n_demands),
        scores=rng.random((n_craftsmen, n_demands)),
        load_penalty=load_penalty,
    )


def _timed(function, *args, repeat: int = 1, **kwargs):
    """The value and the best wall time of `repeat` calls (the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return value, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--craftsmen", type=int, default=5000)
    parser.add_argument("--demands", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load-penalty", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--peers", action="store_true", help="ours vs OR-Tools and HiGHS (see above)")
    parser.add_argument("--sizes", type=_sizes, default=PEER_SIZES, help="with --peers: CxD,CxD,…")
    parser.add_argument("--penalties", type=lambda text: [float(v) for v in text.split(",")],
                        default=PEER_PENALTIES, help="with --peers: load penalties, comma-separated")
    parser.add_argument("--format", choices=("json", "npz"), default="json", help="with --peers: the input file")
    parser.add_argument("--peer-process", nargs=2, metavar=("PEER", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_process:
        return peer_process(*args.peer_process)  # before anything imports matching
    if args.peers:
        compare_peers(args.sizes, args.penalties, args.repeat, args.format, args.seed)
        return 0
    from scipy.optimize import linear_sum_assignment

    from matching import solve
    from matching.solve import slot_matrix


    problem = random_dense_problem(args.craftsmen, args.demands, args.seed, args.load_penalty)
    matrix, _, _ = slot_matrix(problem)
    matrix_shape = matrix.shape
    (rows, cols), lsa_seconds = _timed(linear_sum_assignment, matrix, maximize=True, repeat=args.repeat)
    relaxation = float(matrix[rows, cols].sum())
    del matrix
    result, solve_seconds = _timed(solve, problem, repeat=args.repeat)

    print(f"instance: {args.craftsmen} craftsmen x {args.demands} demands, load_penalty={args.load_penalty}")
    print(f"slot matrix {matrix_shape[0]} x {matrix_shape[1]}; best of {args.repeat} runs each")
    print(f"bare linear_sum_assignment on the slot matrix: {lsa_seconds:.3f} s (relaxation {relaxation:.4f})")
    print(f"solve() end to end ({result.solver}): {solve_seconds:.3f} s (objective {result.objective:.4f})")
    print("  phases: " + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in result.timings.items()))
    print(f"ratio solve / bare LSA: {solve_seconds / max(lsa_seconds, 1e-9):.2f} (target <= 1.3)")
    relevance_ratio(problem, args.seed, args.repeat)
    print(f"load average now {os.getloadavg()[0]:.1f} (a shared machine: best-of-{args.repeat} times)")
    return 0


def relevance_ratio(problem: Problem, seed: int, repeat: int) -> None:
    """Relevance first vs off on random tiers: 25 % of pairs hold a required skill, 10 % the family."""
    from matching import solve

    tiers = np.random.default_rng(seed + 1).choice(
        np.array([0, 1, 2], dtype=np.int8), problem.shape, p=[0.65, 0.10, 0.25]
    )
    timings = {}
    for mode in ("off", "first"):
        variant = dataclasses.replace(problem, relevance=tiers, relevance_mode=mode)
        result, timings[mode] = _timed(solve, variant, repeat=repeat)
        print(
            f"relevance {mode}: {timings[mode]:.3f} s ({result.solver}), relevance rate "
            f"{result.metrics['relevance_rate']:.4f}, objective {result.objective:.4f}, "
            f"slots filled {result.metrics['slot_fill_rate']:.4f}"
        )
    print(f"ratio relevance first / off: {timings['first'] / max(timings['off'], 1e-9):.2f} (target <= 1.5)")


# ---------------------------------------------------------------------------------------------
# Peers: OR-Tools' min-cost flow and HiGHS's LP on the same flow network, side by side with ours.

PEER_SIZES = ((3_000, 1_200), (10_000, 4_000), (100_000, 50_000))
PEER_CANDIDATES = 20  # candidates per demand, as bench_scale.py's sparse instance
PEER_PENALTIES = (0.0, 0.05)
# OR-Tools' cost scaling multiplies costs by the node count: 2^31 per unit of the largest profit keeps
# that product inside int64 for a million nodes, and rounds each profit by at most 2^-32 of the largest.
ORTOOLS_COST_UNIT = 2**31
# HiGHS as `matching.solve` sets it up (dual simplex, steepest edge, tight tolerances); the peer child
# does not import matching, so that its process pays only for what the peer needs.
HIGHS_OPTIONS = {"output_flag": False, "simplex_strategy": 1, "simplex_dual_edge_weight_strategy": 2,
                 "primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


def _bench_scale():
    """benchmarks/bench_scale.py as a module (its sparse random instance), wherever this file is run from."""
    spec = importlib.util.spec_from_file_location("bench_scale", Path(__file__).with_name("bench_scale.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flow_network(
    n_c: int, n_d: int, capacity, slots, priority, pair_c, pair_d, score, load_penalty: float
) -> dict[str, np.ndarray]:
    """The flow network of a sparse problem without locks, forbidden pairs or a minimum score, as
    `matching.solve`'s LP models it: source → craftsman copies (copy k costs λ·k; one arc of the whole
    capacity when λ = 0), craftsman → demand unit arcs at minus priority·score, demand → sink with the
    slots, and a free source → sink arc so that flow need not be maximal.  Pairs of weight 0 are left out."""
    weight = np.asarray(priority)[pair_d] * score
    keep = weight > 0
    pair_c, pair_d, weight = np.asarray(pair_c)[keep], np.asarray(pair_d)[keep], weight[keep]
    copies = np.minimum(capacity, np.bincount(pair_c, minlength=n_c))
    if load_penalty:
        copy_c = np.repeat(np.arange(n_c), copies)
        copy_k = np.arange(copy_c.size) - np.repeat(np.cumsum(copies) - copies, copies)
        copy_capacity, copy_cost = np.ones(copy_c.size, np.int64), load_penalty * copy_k
    else:
        copy_c, copy_capacity, copy_cost = np.arange(n_c), copies, np.zeros(n_c)
    return {
        "n_c": n_c, "n_d": n_d, "pair_c": pair_c, "pair_d": pair_d, "weight": weight,
        "copy_c": copy_c, "copy_capacity": np.asarray(copy_capacity, np.int64), "copy_cost": copy_cost,
        "slots": np.asarray(slots, np.int64), "load_penalty": load_penalty,
    }


def network_of(problem: Problem) -> dict[str, np.ndarray]:
    """`flow_network` of a plain sparse `Problem`."""
    if not problem.is_sparse or problem.locked or problem.forbidden or problem.min_score:
        raise ValueError("the peer network takes a plain sparse problem")
    return flow_network(
        *problem.shape, problem.capacity, problem.slots, problem.priority, problem.pair_craftsman,
        problem.pair_demand, problem.pair_score, problem.load_penalty,
    )


def network_objective(network: dict, chosen: np.ndarray) -> float:
    """Σ priority·score − λ·Σ L(L−1)/2 of the chosen pairs (a bool mask over the network's pairs)."""
    load = np.bincount(network["pair_c"][chosen], minlength=network["n_c"])
    return float(network["weight"][chosen].sum() - network["load_penalty"] * np.sum(load * (load - 1)) / 2)


def ortools_min_cost_flow(network: dict) -> np.ndarray:
    """OR-Tools' SimpleMinCostFlow on the network, costs scaled to integers; the chosen pairs."""
    from ortools.graph.python import min_cost_flow

    n_c, n_d = network["n_c"], network["n_d"]
    source, sink = n_c + n_d, n_c + n_d + 1
    unit = ORTOOLS_COST_UNIT / max(float(network["weight"].max(initial=0.0)), 1e-300)
    n_copies, n_pairs = network["copy_c"].size, network["pair_c"].size
    tails = np.concatenate([np.full(n_copies, source), network["pair_c"], n_c + np.arange(n_d), [source]])
    heads = np.concatenate([network["copy_c"], n_c + network["pair_d"], np.full(n_d, sink), [sink]])
    total = int(min(network["copy_capacity"].sum(), network["slots"].sum()))
    capacities = np.concatenate([network["copy_capacity"], np.ones(n_pairs, np.int64), network["slots"], [total]])
    costs = np.concatenate([
        np.round(network["copy_cost"] * unit), -np.round(network["weight"] * unit), np.zeros(n_d + 1)
    ]).astype(np.int64)
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), capacities.astype(np.int64), costs
    )
    supplies = np.zeros(sink + 1, np.int64)
    supplies[source], supplies[sink] = total, -total
    flow.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"OR-Tools min cost flow: {status}")
    return flow.flows(arcs[n_copies : n_copies + n_pairs]) > 0


def highs_lp(network: dict) -> np.ndarray:
    """HiGHS's dual simplex on the whole LP of the network (every pair a column at once, the same
    options as `matching.solve`'s LP); the chosen pairs."""
    import highspy

    n_c, n_d = network["n_c"], network["n_d"]
    n_copies, n_pairs = network["copy_c"].size, network["pair_c"].size
    unit = max(float(network["weight"].max(initial=0.0)), 1e-300)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_copies + n_pairs, n_c + n_d
    lp.col_cost_ = np.r_[network["copy_cost"] / unit, -network["weight"] / unit]
    lp.col_lower_ = np.zeros(n_copies + n_pairs)
    lp.col_upper_ = np.r_[network["copy_capacity"], np.ones(n_pairs)].astype(np.float64)
    lp.row_lower_ = np.r_[np.full(n_c, -highspy.kHighsInf), np.full(n_d, -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[np.zeros(n_c), network["slots"].astype(np.float64)]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[np.arange(n_copies), n_copies + 2 * np.arange(n_pairs + 1)].astype(np.int32)
    index = np.empty(n_copies + 2 * n_pairs, np.int32)
    index[:n_copies] = network["copy_c"]
    index[n_copies::2], index[n_copies + 1 :: 2] = network["pair_c"], n_c + network["pair_d"]
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = np.r_[-np.ones(n_copies), np.ones(2 * n_pairs)]
    highs = highspy.Highs()
    for option, value in HIGHS_OPTIONS.items():
        highs.setOptionValue(option, value)
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS: {highs.modelStatusToString(highs.getModelStatus())}")
    return np.asarray(highs.getSolution().col_value)[n_copies:] > 0.5


PEERS = {"ortools": ortools_min_cost_flow, "highs": highs_lp}


def peer_process(peer: str, path: str) -> int:
    """What a peer's whole process does: read the problem file (orjson or .npz, no checks), build its
    network, solve, write the chosen pairs as JSON to stdout (the measured child of `compare_peers`)."""
    if path.endswith(".npz"):
        with np.load(path) as archive:
            columns = {name: archive[name] for name in archive.files}
        craftsmen, demands = columns["craftsmen"].tolist(), columns["demands"].tolist()
        pair_c, pair_d, score = columns["pair_craftsman"], columns["pair_demand"], columns["pair_score"]
        capacity, slots, priority = columns["capacity"], columns["slots"], columns["priority"]
        load_penalty = float(columns["load_penalty"])
    else:
        import orjson

        with open(path, "rb") as handle:
            document = orjson.loads(handle.read())
        craftsmen = [item["id"] for item in document["craftsmen"]]
        demands = [item["id"] for item in document["demands"]]
        c_index, d_index = {c: i for i, c in enumerate(craftsmen)}, {d: j for j, d in enumerate(demands)}
        scores = document["scores"]
        pair_c = np.array([c_index[item["craftsman"]] for item in scores], dtype=np.int64)
        pair_d = np.array([d_index[item["demand"]] for item in scores], dtype=np.int64)
        score = np.array([item["score"] for item in scores], dtype=np.float64)
        capacity = np.array([item["capacity"] for item in document["craftsmen"]], dtype=np.int64)
        slots = np.array([item["slots"] for item in document["demands"]], dtype=np.int64)
        priority = np.array([item.get("priority", 1.0) for item in document["demands"]], dtype=np.float64)
        load_penalty = float(document.get("load_penalty", 0.0))
    network = flow_network(len(craftsmen), len(demands), capacity, slots, priority, pair_c, pair_d, score, load_penalty)
    chosen = PEERS[peer](network)
    pairs = [
        {"craftsman": craftsmen[c], "demand": demands[d]}
        for c, d in zip(network["pair_c"][chosen].tolist(), network["pair_d"][chosen].tolist(), strict=True)
    ]
    sys.stdout.write(json.dumps({"objective": network_objective(network, chosen), "assignments": pairs}) + "\n")
    return 0


def _child_seconds(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident MB of one child process, by GNU time
    (the rusage of a child forked from this big process would start at this process's size)."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%U %S %M", *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:  # the objectives are compared in-process; here only time and memory
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr}")
        user, system, peak_kb = report.read().split()[-3:]
        return seconds, float(user) + float(system), int(peak_kb) / 1024


def _timed_in_turn(solvers: dict, repeat: int) -> dict[str, tuple[object, float, float]]:
    """Per solver: (its last value, best wall seconds, best CPU seconds of this process) over `repeat` calls each,
    the solvers taking turns (one call of each per pass), so that a shared machine's slow spells fall on all of them.
    Only the last value is kept: earlier Results alive would make the collector's passes longer for the next solves."""
    last, walls, cpus = {}, {name: [] for name in solvers}, {name: [] for name in solvers}
    for _ in range(repeat):
        for name, solver in solvers.items():
            last.pop(name, None)
            start, cpu_start = time.perf_counter(), time.process_time()
            last[name] = solver()
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(time.process_time() - cpu_start)
    return {name: (last[name], min(walls[name]), min(cpus[name])) for name in solvers}


def _write_instance(problem: Problem, folder: str, fmt: str) -> str:
    from matching.io import problem_to_json, write_npz

    path = os.path.join(folder, f"problem.{fmt}")
    if fmt == "npz":
        write_npz(problem, path)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(problem_to_json(problem), handle)
    return path


PEER_NAMES = {"ours": "ours (matching)", "ortools": "OR-Tools min-cost flow", "highs": "HiGHS whole LP"}


def compare_peers(sizes, penalties, repeat: int, fmt: str, seed: int) -> list[dict]:
    """Ours, OR-Tools' min-cost flow and HiGHS's whole LP on the same random sparse instances: solve
    alone (in this process) and the whole process (a child reading the problem file), best of `repeat`
    in wall and in CPU seconds (CPU time is what a shared machine disturbs least), with the ratios
    ours / peer; the objectives must agree."""
    from matching import solve
    from matching.solve import new_highs

    new_highs()  # HiGHS's banner, silenced once: ours may not construct HiGHS before the in-process peer does
    bench_scale = _bench_scale()
    solve(bench_scale.random_sparse_problem(30, 12, 5, seed, 0.0))  # its imports, paid before anything is timed
    rows = []
    print(f"peers: random sparse instances, {PEER_CANDIDATES} candidates per demand, seed {seed}; "
          f"best of {repeat}; input file .{fmt}; ratio < 1: ours is faster")
    with tempfile.TemporaryDirectory() as folder:
        for n_c, n_d in sizes:
            for penalty in penalties:
                problem = bench_scale.random_sparse_problem(n_c, n_d, PEER_CANDIDATES, seed, penalty)
                network = network_of(problem)
                row = {"craftsmen": n_c, "demands": n_d, "load_penalty": penalty, "load": os.getloadavg()[0]}
                optimise = []  # ours' optimisation alone, each solve

                def solve_ours(p=problem, seen=optimise):
                    result = solve(p)
                    seen.append(result.timings["optimise"])
                    return result

                timed = _timed_in_turn({"ours": solve_ours, **{
                    peer: lambda r=run, p=problem: r(network_of(p)) for peer, run in PEERS.items()}}, repeat)
                for name, (_, wall, cpu) in timed.items():
                    row[f"{name}_solve"], row[f"{name}_solve_cpu"] = wall, cpu
                ours = timed["ours"][0]
                row["ours_optimise"], row["ours_route"] = min(optimise), ours.solver
                for peer in PEERS:
                    objective = network_objective(network, timed[peer][0])
                    row[f"{peer}_gap"] = abs(objective - ours.objective) / max(abs(ours.objective), 1e-12)
                    if row[f"{peer}_gap"] > 1e-7:
                        raise AssertionError(f"{peer} objective {objective!r} differs from ours {ours.objective!r}")
                path = _write_instance(problem, folder, fmt)
                commands = {
                    "ours": [sys.executable, "-m", "matching", path, "-o", os.devnull],
                    **{peer: [sys.executable, __file__, "--peer-process", peer, path] for peer in PEERS},
                }
                runs = {name: [] for name in commands}
                for _ in range(repeat):  # in turn, as the solves
                    for name, argv in commands.items():
                        runs[name].append(_child_seconds(argv))
                for name, measured in runs.items():
                    row[f"{name}_process"] = min(run[0] for run in measured)
                    row[f"{name}_process_cpu"] = min(run[1] for run in measured)
                    row[f"{name}_peak_mb"] = max(run[2] for run in measured)
                rows.append(row)
                _print_peer_row(row, problem.pair_score.size, ours.objective)
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine: best-of-{repeat})")
    return rows


def _print_peer_row(row: dict, pairs: int, objective: float) -> None:
    print(f"\n{row['craftsmen']:,} x {row['demands']:,}, load penalty {row['load_penalty']:g}, {pairs:,} pairs, "
          f"objective {objective:.6f} (peers' relative gap {row['ortools_gap']:.1e}, {row['highs_gap']:.1e}); "
          f"load {row['load']:.1f}")
    print(f"  {'':<24} {'solve wall s':>12} {'CPU s':>8} | {'process wall s':>14} {'CPU s':>8} {'peak MB':>8}")
    for name, label in PEER_NAMES.items():
        print(f"  {label:<24} {row[f'{name}_solve']:>12.3f} {row[f'{name}_solve_cpu']:>8.3f} | "
              f"{row[f'{name}_process']:>14.2f} {row[f'{name}_process_cpu']:>8.2f} {row[f'{name}_peak_mb']:>8.0f}")
    print(f"  {'ours: ' + row['ours_route'] + ' alone':<24} {row['ours_optimise']:>12.3f}  (the best optimisation of "
          f"the solves: network and flow, without reading the problem or writing its result; "
          f"{row['ours_optimise'] / max(row['ortools_solve'], 1e-9):.2f} x OR-Tools' solve)")
    for peer in PEERS:
        ratios = [row[f"ours_{kind}"] / max(row[f"{peer}_{kind}"], 1e-9)
                  for kind in ("solve", "solve_cpu", "process", "process_cpu", "peak_mb")]
        print(f"  {'ratio ours / ' + peer:<24} {ratios[0]:>12.2f} {ratios[1]:>8.2f} | "
              f"{ratios[2]:>14.2f} {ratios[3]:>8.2f} {ratios[4]:>8.2f}", flush=True)


def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(n) for n in size.split("x")) for size in text.split(",")]


if __name__ == "__main__":
    raise SystemExit(main())
