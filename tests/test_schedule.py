import math

import pytest
import torch

from thermodiff.schedule import Schedule, ScheduleKind, paper_betas, table_from_betas


@pytest.mark.parametrize("kind", [k for k in ScheduleKind if k is not ScheduleKind.CONSTANT])  # constant: continuous only
def test_tables_are_consistent(kind):
    with torch.no_grad():
        table = Schedule(kind, T=50, beta_1=1e-3).table()
    assert table.beta.shape == (51,) and table.beta.dtype == torch.float64
    assert float(table.beta[0]) == 0.0 and float(table.alpha_bar[0]) == 1.0
    assert bool(((table.beta[1:] > 0) & (table.beta[1:] <= 1)).all())
    # alpha_bar is the running product of alpha
    assert torch.allclose(table.alpha_bar, torch.cumprod(table.alpha, 0), rtol=1e-12, atol=1e-15)
    assert bool((table.alpha_bar[1:] <= table.alpha_bar[:-1]).all())
    # beta_tilde lies between 0 and beta (the posterior is narrower than the forward step)
    assert bool((table.beta_tilde[2:] <= table.beta[2:] + 1e-15).all()) and float(table.beta_tilde[1]) == 0.0


def test_paper_schedule_erases_a_constant_fraction_of_what_is_left():
    T = 40
    table = table_from_betas(paper_betas(T, 1e-3))
    t = torch.arange(2, T + 1, dtype=torch.float64)
    # with beta_t = 1/(T - t + 1), alpha_bar_t = (1 - beta_1) (T - t) / (T - 1) for t >= 2: linear, 0 at T
    assert torch.allclose(table.alpha_bar[2:], (1 - 1e-3) * (T - t) / (T - 1), atol=1e-12)
    assert float(table.alpha_bar[-1]) == 0.0


def test_logsnr_schedule_is_evenly_spaced():
    table = Schedule(ScheduleKind.LOGSNR, T=100, beta_1=1e-4).table()
    steps = torch.diff(table.logsnr[1:])
    assert torch.allclose(steps, steps[0].expand_as(steps), rtol=1e-9)
    assert math.isclose(float(table.logsnr[1]), math.log((1 - 1e-4) / 1e-4), rel_tol=1e-9)


def test_learned_schedule_has_gradients_and_starts_at_the_papers():
    learned = Schedule(ScheduleKind.LEARNED, T=30, beta_1=1e-3)
    fixed = Schedule(ScheduleKind.PAPER, T=30, beta_1=1e-3)
    assert torch.allclose(learned.table().beta[:-1], fixed.table().beta[:-1], rtol=1e-9)
    learned.table().log_alpha_bar[15].backward()
    assert learned.theta.grad is not None and bool((learned.theta.grad[:14] != 0).all())
    assert float(learned.beta_1) == 1e-3  # beta_1 stays fixed


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="T must be at least 2"):
        Schedule(ScheduleKind.PAPER, T=1, beta_1=1e-3)
    with pytest.raises(ValueError, match="beta_1"):
        Schedule(ScheduleKind.PAPER, T=10, beta_1=0.0)
