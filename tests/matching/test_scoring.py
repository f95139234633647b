"""Scoring components: hand-computed examples, ranges, and equality with a slow per-pair reference."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.candidates import candidate_pairs
from matching.config import COMPONENTS, RoundConfig
from matching.features import (
    CraftsmanFeatures,
    DemandFeatures,
    FeatureError,
    History,
    TrackRecord,
    Windows,
    synthetic_features,
)
from matching.scoring import block_indices, component_values, explain, prepare, score

CHENGDU = (30.67, 104.07)
CHONGQING = (29.56, 106.55)
ONLY = {name: 0.0 for name in COMPONENTS}


def only(name: str) -> RoundConfig:
    """A config weighting one component, so the total equals that component."""
    return RoundConfig(weights={**ONLY, name: 1.0})


def craftsmen(n: int, **values) -> CraftsmanFeatures:
    return CraftsmanFeatures.build([f"c{i}" for i in range(n)], n_skills=3, n_industries=3, **values)


def demands(n: int, **values) -> DemandFeatures:
    return DemandFeatures.build([f"d{i}" for i in range(n)], n_skills=3, n_industries=3, **values)


def values_of(name, crafts, dems, history=None) -> np.ndarray:
    return score(crafts, dems, only(name), history).total


# ---------------------------------------------------------------- each component by hand
def test_skill_is_importance_weighted_coverage_by_proficiency():
    crafts = craftsmen(2, skills=[[5, 0, 2.5], [0, 5, 0]])
    dems = demands(2, required_skills=[[2, 1, 0], [0, 0, 0]])
    got = values_of("skill", crafts, dems)
    np.testing.assert_allclose(got, [[2 / 3, 0.0], [1 / 3, 0.0]])  # no required skill → 0


def test_industry_is_share_of_demand_industries_covered():
    crafts = craftsmen(3, industries=[[1, 0, 0], [0, 0, 1], [1, 1, 1]])
    dems = demands(2, industries=[[1, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(values_of("industry", crafts, dems), [[0.5, 0], [0, 0], [1, 0]])


def test_text_ranks_the_welder_above_the_plc_engineer_for_a_welding_demand():
    crafts = craftsmen(
        2,
        profile_text=(
            "东方锅炉焊接技能大师，擅长压力容器焊接工艺和焊缝无损检测，带徒弟三十余人",
            "智能制造工程师，精通PLC编程、工业互联网设备联网与预测性维护",
        ),
    )
    dems = demands(
        2,
        description=(
            "新招焊工20余名，压力容器焊缝一次合格率偏低。希望焊接领域工匠现场指导并签订师带徒协议",
            "约60台数控机床未联网，希望工业互联网方向工匠指导设备联网和故障预警方案（PLC）",
        ),
    )
    text = values_of("text", crafts, dems)
    assert text[0, 0] > text[1, 0]
    assert text[1, 1] > text[0, 1]
    assert ((text >= 0) & (text <= 1)).all()


def test_text_of_identical_documents_is_one_and_of_empty_is_zero():
    crafts = craftsmen(2, profile_text=("铝合金压铸模具设计", ""))
    dems = demands(1, description=("铝合金压铸模具设计",))
    np.testing.assert_allclose(values_of("text", crafts, dems), [[1.0], [0.0]])


def test_text_ignores_width_case_and_punctuation():
    crafts = craftsmen(2, profile_text=("ＰＬＣ编程，工业互联网。", "焊接"))
    dems = demands(1, description=("plc编程 工业互联网",))
    np.testing.assert_allclose(values_of("text", crafts, dems), [[1.0], [0.0]])


def haversine_km(a, b) -> float:
    (lat1, lon1), (lat2, lon2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def test_distance_decays_by_mode_and_urgency_and_handles_unknown_places():
    crafts = craftsmen(2, lat=[CHENGDU[0], np.nan], lon=[CHENGDU[1], np.nan])
    dems = demands(
        4,
        lat=[CHONGQING[0]] * 4,
        lon=[CHONGQING[1]] * 4,
        mode=("onsite", "hybrid", "remote", "onsite"),
        urgency=[0, 0, 0, 2],
    )
    km = haversine_km(CHENGDU, CHONGQING)
    assert 260 < km < 275
    decay = math.exp(-km / 150)
    got = values_of("distance", crafts, dems)
    np.testing.assert_allclose(got[0], [decay, 0.5 + 0.5 * decay, 1.0, math.exp(-km / 75)])
    np.testing.assert_allclose(got[1], [0.5, 0.75, 1.0, 0.5])  # unknown place: neutral decay 0.5


def test_distance_of_the_same_place_is_one():
    crafts = craftsmen(1, lat=[CHENGDU[0]], lon=[CHENGDU[1]])
    dems = demands(1, lat=[CHENGDU[0]], lon=[CHENGDU[1]])
    np.testing.assert_allclose(values_of("distance", crafts, dems), [[1.0]])


def test_honour_meets_the_rank_a_demand_difficulty_asks_for():
    crafts = craftsmen(6, honour_rank=[0, 1, 2, 3, 4, 3], model_worker=[0, 0, 0, 0, 0, 1])
    dems = demands(3, difficulty=[0, 1, 2])
    expected = [
        [0, 0, 0],
        [1 / 2, 1 / 3, 1 / 4],  # trainee
        [1, 2 / 3, 2 / 4],  # municipal: enough for training, half of a 联合攻关
        [1, 1, 3 / 4],
        [1, 1, 1],  # 大国工匠
        [1, 1, 1],  # provincial + 劳模 counts as national
    ]
    np.testing.assert_allclose(values_of("honour", crafts, dems), expected)


def test_availability_is_the_covered_share_of_the_demand_window():
    crafts = craftsmen(4, availability=[[(0, 9)], [(0, 4), (10, 14)], [], [(100, 200)]])
    dems = demands(2, window_start=[0, 5], window_end=[19, 5])
    np.testing.assert_allclose(values_of("availability", crafts, dems), [[0.5, 1], [0.5, 0], [1, 1], [0, 0]])


def test_windows_merge_overlaps_and_reject_unsorted_arrays():
    merged = Windows.from_lists([[(5, 9), (0, 6), (10, 12)]])
    assert merged.start.tolist() == [0] and merged.end.tolist() == [12]
    with pytest.raises(FeatureError) as err:
        Windows(np.array([0, 2]), np.array([5, 0]), np.array([9, 6]))
    assert err.value.field == "availability.start"



def _merged_one_by_one(lists):
    """Each craftsman's windows sorted and merged one at a time (touching days merge too): what `Windows` holds."""
    indptr, starts, ends = [0], [], []
    for own in lists:
        merged: list[list[int]] = []
        for start, end in sorted(own):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        starts += [start for start, _ in merged]
        ends += [end for _, end in merged]
        indptr.append(len(starts))
    return np.array(indptr, dtype=np.int64), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@pytest.mark.parametrize("seed", range(20))
def test_windows_from_arrays_and_lists_merge_as_one_by_one(seed):
    rng = np.random.default_rng(seed)
    n, count = int(rng.integers(0, 12)), int(rng.integers(0, 40))
    owners = rng.integers(0, max(n, 1), count) if n else np.zeros(0, dtype=np.int64)
    starts = rng.integers(-30, 60, owners.size)  # before 2000 too; overlapping, touching, nested and equal windows
    ends = starts + rng.integers(0, 12, owners.size)
    lists = [[] for _ in range(n)]
    for owner, start, end in zip(owners.tolist(), starts.tolist(), ends.tolist(), strict=True):
        lists[owner].append((start, end))
    reference = _merged_one_by_one(lists)
    for built in (Windows.from_arrays(n, owners, starts, ends), Windows.from_lists(lists)):
        for part, expected in zip(("indptr", "start", "end"), reference, strict=True):
            assert getattr(built, part).dtype == expected.dtype
            assert np.array_equal(getattr(built, part), expected)

def test_continuity_is_the_mean_rating_with_the_enterprise():
    crafts = craftsmen(3)
    dems = demands(2, enterprise_id=("E1", "E2"))
    history = History(
        craftsman_id=("c0", "c0", "c1", "c2", "ghost"),
        enterprise_id=("E1", "E1", "E1", "E9", "E1"),
        rating=np.array([4, 5, np.nan, 5, 5]),
    )
    np.testing.assert_allclose(values_of("continuity", crafts, dems, history), [[0.9, 0], [0.6, 0], [0, 0]])


# ---------------------------------------------------------------- table properties
def test_contributions_sum_to_total_and_stay_in_range():
    crafts, dems, history = synthetic_features(np.random.default_rng(7), 40, 25)
    table = score(crafts, dems, RoundConfig(), history)
    assert table.total.shape == (40, 25)
    assert set(table.components) == set(COMPONENTS)
    np.testing.assert_allclose(sum(table.components.values()), table.total, atol=1e-6)
    assert (table.total >= 0).all() and (table.total <= 1 + 1e-12).all()
    for name, contribution in table.components.items():
        assert (contribution >= 0).all() and (contribution <= table.weights[name] + 1e-6).all()
    assert math.isclose(sum(table.weights.values()), 1.0)


def test_zero_weight_components_are_left_out():
    crafts, dems, _ = synthetic_features(np.random.default_rng(1), 5, 4)
    table = score(crafts, dems, RoundConfig(weights={"skill": 2.0, "distance": 2.0}))
    assert set(table.components) == {"skill", "distance"}
    assert table.weights["skill"] == 0.5


def test_explain_lists_components_best_first():
    breakdown = explain({"skill": 0.2, "distance": 0.05}, {"skill": 0.35, "distance": 0.15})
    assert [row["component"] for row in breakdown["components"]] == ["skill", "distance"]
    assert math.isclose(breakdown["total"], 0.25)
    assert math.isclose(breakdown["components"][0]["value"], 0.2 / 0.35)


# ---------------------------------------------------------------- against a slow reference
def reference_components(crafts, dems, history, config, track_record=None, skill_parent=None) -> dict[str, np.ndarray]:
    """Plain per-pair Python, written from the documented definitions."""
    skills, required = crafts.skills.toarray(), dems.required_skills.toarray()
    c_ind, d_ind = crafts.industries.toarray() > 0, dems.industries.toarray() > 0
    windows = crafts.availability
    n_c, n_d = len(crafts), len(dems)
    out = {name: np.zeros((n_c, n_d)) for name in COMPONENTS}
    out["text"] = reference_text(crafts.profile_text, dems.description)
    for c in range(n_c):
        rank = min(int(crafts.honour_rank[c]) + int(crafts.model_worker[c]), 4)
        own = list(
            zip(
                windows.start[windows.indptr[c] : windows.indptr[c + 1]],
                windows.end[windows.indptr[c] : windows.indptr[c + 1]],
                strict=True,
            )
        )
        for d in range(n_d):
            total_imp = required[d].sum()
            out["skill"][c, d] = (required[d] * skills[c] / 5).sum() / total_imp if total_imp else 0.0
            n_ind = d_ind[d].sum()
            out["industry"][c, d] = (c_ind[c] & d_ind[d]).sum() / n_ind if n_ind else 0.0
            if np.isnan(crafts.lat[c]) or np.isnan(dems.lat[d]):
                decay = 0.5
            else:
                km = haversine_km((crafts.lat[c], crafts.lon[c]), (dems.lat[d], dems.lon[d]))
                decay = math.exp(-km / (config.distance_scale_km / (1 + dems.urgency[d] / 2)))
            out["distance"][c, d] = {"onsite": decay, "hybrid": 0.5 + 0.5 * decay, "remote": 1.0}[
                dems.mode[d]
            ]
            out["honour"][c, d] = min(1.0, rank / (2 + dems.difficulty[d]))
            length = dems.window_end[d] - dems.window_start[d] + 1
            covered = sum(
                max(0, min(e, dems.window_end[d]) - max(s, dems.window_start[d]) + 1) for s, e in own
            )
            out["availability"][c, d] = min(1.0, covered / length) if own else 1.0
            ratings = [
                r
                for cid, eid, r in zip(
                    history.craftsman_id, history.enterprise_id, history.rating, strict=True
                )
                if cid == crafts.ids[c] and eid == dems.enterprise_id[d]
            ]
            rated = [r for r in ratings if not np.isnan(r)]
            out["continuity"][c, d] = np.mean(rated) / 5 if rated else (0.6 if ratings else 0.0)
            out["track_record"][c, d] = reference_track_record(crafts.ids[c], required[d], track_record, skill_parent)
    return out


def reference_track_record(craftsman, importance, record, parent) -> float:
    """0.6 + Σ over the demand's skill families of (share of its importance) × (shrunk mean service value − 0.6)."""
    def family(column):
        return column if parent is None or parent[column] < 0 else int(parent[column])

    total = importance.sum()
    if record is None or not total:
        return 0.6
    share = {}
    for column in np.flatnonzero(importance):
        share[family(column)] = share.get(family(column), 0.0) + importance[column] / total
    value = 0.6
    for fam, weight in share.items():
        services = [
            min(1.0, (0.6 if np.isnan(rating) else rating / 5) + (0.2 if outcomes > 0 else 0.0))
            for n, (owner, rating, outcomes) in enumerate(zip(record.craftsman_id, record.rating, record.outcomes,
                                                              strict=True))
            if owner == craftsman and fam in {family(col) for col in record.skills[n].indices}
        ]
        if services:
            value += weight * ((sum(services) + 0.6) / (len(services) + 1) - 0.6)
    return min(1.0, max(0.0, value))


def reference_text(profiles, descriptions) -> np.ndarray:
    """Char 2–3-gram TF-IDF cosine with dicts: smooth idf over both corpora, sublinear tf."""
    breaks = set(" \t\n，。、；：？！（）,.;:?!()-/")

    def grams(text):
        counts = {}
        for n in (2, 3):
            for i in range(len(text) - n + 1):
                gram = text[i : i + n].lower()
                if not breaks & set(gram):
                    counts[gram] = counts.get(gram, 0) + 1
        return counts

    docs = [grams(t) for t in (*profiles, *descriptions)]
    df = {}
    for doc in docs:
        for gram in doc:
            df[gram] = df.get(gram, 0) + 1
    vectors = []
    for doc in docs:
        vec = {g: (1 + math.log(tf)) * (math.log((1 + len(docs)) / (1 + df[g])) + 1) for g, tf in doc.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({g: v / norm for g, v in vec.items()})
    left, right = vectors[: len(profiles)], vectors[len(profiles) :]
    return np.array([[sum(v * b.get(g, 0.0) for g, v in a.items()) for b in right] for a in left])


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n_c=st.integers(1, 12), n_d=st.integers(1, 8))
def test_vectorised_scoring_equals_the_per_pair_reference(seed, n_c, n_d):
    rng = np.random.default_rng(seed)
    crafts, dems, history = synthetic_features(rng, n_c, n_d)
    config = RoundConfig()
    n_skills = crafts.skills.shape[1]
    parent = np.where(rng.random(n_skills) < 0.7, rng.integers(0, 8, n_skills), -1)
    parent[:8] = -1  # eight family roots
    n_services = 3 * n_c
    services = sp.csr_matrix(
        (np.ones(2 * n_services), (np.repeat(np.arange(n_services), 2), rng.integers(0, n_skills, 2 * n_services))),
        shape=(n_services, n_skills))
    services.data[:] = 1.0
    rating = rng.integers(1, 6, n_services).astype(float)
    rating[rng.random(n_services) < 0.3] = np.nan
    record = TrackRecord(tuple(rng.choice(crafts.ids, n_services)), services, rating, rng.integers(0, 2, n_services))
    rnd = prepare(crafts, dems, config, history=history, track_record=record, skill_parent=parent)
    block = component_values(rnd, *block_indices(np.arange(n_c), np.arange(n_d)))
    expected = reference_components(crafts, dems, history, config, record, parent)
    for name, values in expected.items():
        np.testing.assert_allclose(block[name], values, atol=1e-9, err_msg=name)
    # pairs evaluated one by one through the pair path give the block's values
    ci, di = np.divmod(np.arange(n_c * n_d), n_d)
    pairs = component_values(rnd, ci, di)
    for name in block:
        np.testing.assert_allclose(pairs[name], block[name].ravel(), atol=1e-12, err_msg=name)


# ---------------------------------------------------------------- validation
def test_features_name_the_offending_field():
    with pytest.raises(FeatureError) as err:
        craftsmen(2, skills=[[6, 0, 0], [0, 0, 0]])
    assert err.value.field == "skills"
    with pytest.raises(FeatureError) as err:
        demands(1, mode=("teleport",))
    assert err.value.field == "mode"
    with pytest.raises(FeatureError) as err:
        craftsmen(2, lat=[1.0, np.nan], lon=[np.nan, np.nan])
    assert err.value.field == "lat"
    with pytest.raises(FeatureError) as err:
        craftsmen(1, capacity=[1, 2])
    assert err.value.field == "capacity"
    with pytest.raises(FeatureError) as err:
        score(craftsmen(1), DemandFeatures.build(["d"], n_skills=4, n_industries=3))
    assert err.value.field == "required_skills"
    assert isinstance(err.value, ValueError)


def test_features_are_read_only():
    crafts = craftsmen(2, skills=sp.csr_matrix([[1, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError):
        crafts.capacity[0] = 5


def test_round_config_round_trips_and_refuses_unknown_settings():
    config = RoundConfig(weights={"skill": 1.0, "text": 0.5}, min_score=0.3, cross_province_allowed=False)
    assert RoundConfig.from_dict(config.to_dict()) == config
    with pytest.raises(FeatureError) as err:
        RoundConfig.from_dict({"min_scor": 0.3})
    assert err.value.field == "min_scor"
    with pytest.raises(FeatureError) as err:
        RoundConfig(weights={"skill": -1})
    assert err.value.field == "weights"
    with pytest.raises(FeatureError) as err:
        RoundConfig(weights={"charm": 1})
    assert err.value.field == "weights"
    with pytest.raises(FeatureError) as err:
        RoundConfig(top_k=0)
    assert err.value.field == "top_k"


# ---------------------------------------------------------------- sparse candidates
def dense_top_k(crafts, dems, config, history, k) -> list[np.ndarray]:
    """Reference: the k best allowed craftsmen of each demand from the dense matrices."""
    from matching.rules import allowed_mask

    total = score(crafts, dems, config, history).total
    allowed, _ = allowed_mask(crafts, dems, config)
    masked = np.where(allowed, total, -np.inf)
    best = []
    for d in range(len(dems)):
        order = np.lexsort((np.arange(len(crafts)), -masked[:, d]))[:k]
        best.append(order[np.isfinite(masked[order, d])])
    return best


@pytest.mark.parametrize(
    "weights",
    [
        None,  # defaults: most demands settle on the craftsmen sharing a skill or an industry
        {"skill": 0.0, "industry": 0.0, "text": 1.0, "distance": 1.0},  # nothing settles early: full blocks
        {"skill": 1.0, "text": 0.0, "honour": 0.2},  # no text refinement
    ],
)
def test_candidate_pairs_equal_the_dense_top_k(weights):
    crafts, dems, history = synthetic_features(np.random.default_rng(11), 600, 150)
    chosen = {"weights": weights} if weights else {}
    config = RoundConfig(**chosen, top_k=7, chunk_cells=600 * 16)  # 16 demands per chunk
    candidates = candidate_pairs(crafts, dems, config, history)
    expected = dense_top_k(crafts, dems, config, history, 7)
    for d in range(len(dems)):
        np.testing.assert_array_equal(
            candidates.craftsman[candidates.demand == d], expected[d], err_msg=f"d{d}"
        )
    dense = score(crafts, dems, config, history)
    np.testing.assert_allclose(
        candidates.total, dense.total[candidates.craftsman, candidates.demand], atol=1e-12
    )
    for name, values in candidates.components.items():
        np.testing.assert_allclose(
            values, dense.components[name][candidates.craftsman, candidates.demand], atol=1e-6
        )
    assert (np.diff(candidates.demand) >= 0).all()


def test_candidate_pairs_keep_fewer_when_few_are_allowed():
    crafts = craftsmen(3, active=[True, False, True], skills=[[1, 0, 0], [5, 0, 0], [0, 0, 0]])
    dems = demands(2, required_skills=[[1, 0, 0], [0, 1, 0]])
    candidates = candidate_pairs(crafts, dems, RoundConfig(top_k=5))
    assert candidates.craftsman.tolist() == [0, 2, 0, 2]  # c1 is inactive; c0 knows the skill of d0
    assert candidates.demand.tolist() == [0, 0, 1, 1]


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 9), cross=st.booleans())
def test_candidate_pairs_equal_the_dense_top_k_on_random_rounds(seed, k, cross):
    crafts, dems, history = synthetic_features(
        np.random.default_rng(seed), 90, 30, n_skills=20, n_industries=6
    )
    config = RoundConfig(top_k=k, chunk_cells=90 * 7, cross_province_allowed=cross)
    candidates = candidate_pairs(crafts, dems, config, history)
    expected = dense_top_k(crafts, dems, config, history, k)
    for d in range(len(dems)):
        np.testing.assert_array_equal(
            candidates.craftsman[candidates.demand == d], expected[d], err_msg=f"d{d}"
        )


def test_scoring_is_deterministic_whatever_the_thread_schedule(monkeypatch):
    import matching.threads as threads

    crafts, dems, history = synthetic_features(np.random.default_rng(2), 700, 900)  # several row chunks
    threaded = score(crafts, dems, RoundConfig(), history)
    monkeypatch.setattr(threads, "MAX_THREADS", 1)
    single = score(crafts, dems, RoundConfig(), history)
    np.testing.assert_array_equal(threaded.total, single.total)
    for name in threaded.components:
        np.testing.assert_array_equal(threaded.components[name], single.components[name])


def test_round_config_is_hashable_and_equal_after_a_round_trip():
    config = RoundConfig(weights={"skill": 1.0}, top_k=5)
    assert {config, RoundConfig.from_dict(config.to_dict())} == {config}


@pytest.mark.parametrize("seed", range(3))
def test_pairs_give_the_block_values_bit_for_bit(seed):
    # sparse mode scores pairs, dense mode blocks: equal bits keep their near-ties breaking alike.
    # Text is the exception (row-wise dots sum in another order), within one rounding of the cosine.
    crafts, dems, history = synthetic_features(np.random.default_rng(seed), 400, 300)
    rnd = prepare(crafts, dems, RoundConfig(), history=history)
    rows, cols = np.arange(400), np.arange(300)
    block = component_values(rnd, *block_indices(rows, cols))
    pairs = component_values(rnd, np.repeat(rows, cols.size), np.tile(cols, rows.size))
    for name in COMPONENTS:
        if name == "text":
            np.testing.assert_allclose(pairs[name].reshape(block[name].shape), block[name], rtol=0, atol=1e-15)
        else:
            np.testing.assert_array_equal(pairs[name].reshape(block[name].shape), block[name], err_msg=name)
