"""The documents' LP as written, and the project's reading of the case study."""

from __future__ import annotations

import numpy as np
import pytest

from coassist.plan import seed_lp

CASE = dict(T_i=[1] * 4, H_i=[0.5] * 4, A_i=[0.5] * 4, c=[1] * 4, T=1, H=2, A=2)


def test_case_study_reads_as_a_quarter_of_the_work_per_request():
    result = seed_lp(**CASE)
    assert result.status == "Optimal"
    np.testing.assert_allclose(result.x, [0.25] * 4)
    assert result.objective == pytest.approx(1.0)
    # each request's share is split evenly between people and the AI (H_i = A_i)
    human_share = result.x * np.array(CASE["H_i"])
    ai_share = result.x * np.array(CASE["A_i"])
    np.testing.assert_allclose(human_share, ai_share)
    assert human_share.sum() == pytest.approx(0.5)


def test_case_study_duals_capacity_is_slack_and_work_costs_one():
    duals = seed_lp(**CASE).duals
    assert duals == pytest.approx({"work": 1.0, "human": 0.0, "ai": 0.0})


def test_case_study_optimum_is_degenerate_without_the_tie_break():
    result = seed_lp(**CASE, tie_break=None)
    # any point of the simplex is optimal: same objective, shares summing to T
    assert result.objective == pytest.approx(1.0)
    assert result.x.sum() == pytest.approx(1.0)
    assert (result.x >= -1e-9).all()


def test_binding_human_capacity_has_a_shadow_price():
    # two tasks: the cheap one needs people (1 h per unit), the dear one only the AI
    result = seed_lp(T_i=[1, 1], H_i=[1, 0], A_i=[0, 1], c=[1, 3], T=2, H=1, A=5)
    np.testing.assert_allclose(result.x, [1, 1])
    assert result.objective == pytest.approx(4.0)
    # one more human hour moves a unit from the dear task to the cheap one: saves 2
    assert result.duals["human"] == pytest.approx(-2.0)
    assert result.duals["ai"] == pytest.approx(0.0)


def test_infeasible_seed_lp_reports_status():
    result = seed_lp(T_i=[1], H_i=[1], A_i=[0], c=[1], T=2, H=1, A=1)
    assert result.status == "Infeasible"
    assert np.isnan(result.x).all()


def test_mismatched_lengths_name_the_vectors():
    with pytest.raises(ValueError, match="one entry per task"):
        seed_lp(T_i=[1, 1], H_i=[1], A_i=[0, 0], c=[1, 1], T=1, H=1, A=1)
