import pytest
import torch

from restore.priors import Schedule, cosine_schedule, linear_schedule


def test_linear_defaults():
    s = linear_schedule()
    assert len(s) == 1000 and s.T == 1000 and s.betas.dtype == torch.float64
    assert torch.allclose(s.betas[[0, -1]], torch.tensor([1e-4, 0.02], dtype=torch.float64))
    assert torch.allclose(s.abar, torch.cumprod(1 - s.betas, 0))
    assert torch.equal(s.t, torch.arange(1, 1001))


def test_beta_tilde_is_posterior_variance():
    s = linear_schedule()
    i = torch.arange(1, 1000)
    expected = (1 - s.abar[i - 1]) / (1 - s.abar[i]) * s.betas[i]
    assert torch.allclose(s.beta_tilde[i], expected) and s.beta_tilde[0] == 0


@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
@pytest.mark.parametrize("k", [1, 7, 50, 1000])
def test_respace_rederives_betas_from_abar(spacing, k):
    s = cosine_schedule()
    r = s.respace(k, spacing)
    assert len(r) == k and r.T == 1000 and int(r.t[-1]) == 1000 and int(r.t[0]) == (1 if k > 1 else 1000)
    assert bool((r.t[1:] > r.t[:-1]).all())
    assert torch.allclose(r.abar, s.abar[r.t - 1])
    assert torch.allclose(torch.cumprod(1 - r.betas, 0), r.abar)  # betas re-derived from abar


def test_respace_keeps_original_time_index():
    r10 = linear_schedule().respace(10)
    r = r10.respace(5)
    assert r10.t.tolist() == [1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]
    assert set(r.t.tolist()) <= set(r10.t.tolist()) and r.t[-1] == 1000 and r.t[0] == 1
    assert torch.allclose(r.abar, linear_schedule().abar[r.t - 1])


def test_schedule_is_frozen_and_validated():
    s = linear_schedule()
    with pytest.raises(Exception):
        s.abar = s.abar
    with pytest.raises(ValueError):
        Schedule(torch.tensor([0.9, 0.95]), torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        s.respace(0)
    with pytest.raises(ValueError):
        s.respace(10, "cubic")


@pytest.mark.parametrize("make", [lambda: linear_schedule(), lambda: cosine_schedule().respace(7, "quadratic"),
                                  lambda: linear_schedule().upto(400).respace(5)])
def test_steps_walk_the_schedule_backwards(make):
    """schedule.steps(): one Step (i, t, abar, abar_prev) per position, from the noisiest (a warm
    chain's: its t0) down to i = 0, whose abar_prev is 1; the values are the schedule's own."""
    s = make()
    steps = list(s.steps())
    assert [st.i for st in steps] == list(reversed(range(len(s))))
    for i, t, abar, abar_prev in steps:
        assert isinstance(t, int) and isinstance(abar, float) and isinstance(abar_prev, float)
        assert t == int(s.t[i]) and abar == float(s.abar[i]) and abar_prev == float(s.abar_prev[i])
        assert s.step(i) == (i, t, abar, abar_prev)
    assert steps[0].t == int(s.t[-1]) and steps[-1].i == 0 and steps[-1].abar_prev == 1.0
    assert all(a.abar_prev == b.abar for a, b in zip(steps, steps[1:]))  # each step ends where the next starts
