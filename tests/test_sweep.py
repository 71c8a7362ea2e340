"""select_alpha: the best perceptual score within a PSNR budget, on sweep records."""

import pytest

from recon_lib import select_alpha


def records(af: int = 8) -> list[dict]:
    # alpha: PSNR falls, VIF falls, HaarPSI peaks at 0.3, HF ratio rises towards and past 1
    table = [
        (0.0, 30.00, 0.60, 0.80, 0.70),
        (0.1, 30.02, 0.59, 0.82, 0.76),
        (0.3, 29.90, 0.57, 0.85, 0.88),
        (0.5, 29.60, 0.55, 0.84, 0.97),
        (0.7, 29.30, 0.53, 0.83, 1.06),
        (1.0, 28.80, 0.50, 0.80, 1.20),
    ]
    out = []
    for mode, shift in (("network", 0.0), ("image", -0.05)):
        for a, psnr, vif, haar, hf in table:
            out.append(
                dict(mode=mode, acceleration=af, alpha=a, psnr=psnr + shift, vif=vif, haarpsi=haar, hf_energy_ratio=hf)
            )
    return out


def test_best_score_within_the_budget():
    r = records()
    # VIF only falls with alpha: the SN itself (ties and budgets cannot buy VIF)
    assert select_alpha(r, 8)["alpha"] == 0.0
    # HaarPSI peaks at 0.3, inside a 0.5 dB budget
    got = select_alpha(r, 8, budget_db=0.5, score="haarpsi")
    assert got["alpha"] == 0.3 and got["psnr_drop"] == pytest.approx(0.1) and got["admissible"] == [0.0, 0.1, 0.3, 0.5]
    # the HF-energy ratio is best closest to 1: 0.5 (0.97) beats 0.7 (1.06) whatever the budget
    assert select_alpha(r, 8, budget_db=0.5, score="hf_energy_ratio")["alpha"] == 0.5
    assert select_alpha(r, 8, budget_db=2.0, score="hf_energy_ratio")["alpha"] == 0.5
    # a zero budget keeps only alphas at least as faithful as the SN
    assert select_alpha(r, 8, budget_db=0.0, score="hf_energy_ratio")["alpha"] == 0.1
    # direction overridable; ties go to the smaller alpha
    assert select_alpha(r, 8, budget_db=5, score="vif", better="lower")["alpha"] == 1.0
    tie = [dict(x, haarpsi=0.9) for x in r]
    assert select_alpha(tie, 8, budget_db=5, score="haarpsi")["alpha"] == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(acceleration=4), r"no 'network' records at AF 4"),
        (dict(acceleration=8, budget_db=-1), "budget_db must be a non-negative"),
        (dict(acceleration=8, budget_db=float("nan")), "budget_db must be a non-negative"),
        (dict(acceleration=8, score="lpips"), r"score 'lpips' is not in the sweep records \(they hold: .*haarpsi"),
        (dict(acceleration=8, score="vif", better="bigger"), "better must be"),
        (dict(acceleration=8, mode="blend"), r"no 'blend' records"),
    ],
)
def test_bad_requests_are_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_alpha(records(), **kwargs)


def test_needs_the_sn_end_point():
    with pytest.raises(ValueError, match="no alpha = 0"):
        select_alpha([x for x in records() if x["alpha"] > 0], 8)
