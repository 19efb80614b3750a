"""WarmupDecayLR matches DeepSpeed's own implementation value by value."""

import pytest
import torch

from soulchat.train.schedule import WarmupDecayLR


def _lrs(scheduler, opt, steps):
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])  # the lr this optimizer step uses
        opt.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("total,warmup,kind", [(300, 30, "log"), (50, 10, "linear"), (20, 1, "log")])
def test_matches_deepspeed(total, warmup, kind):
    lr_schedules = pytest.importorskip("deepspeed.runtime.lr_schedules")
    p1 = torch.nn.Parameter(torch.zeros(2))
    p2 = torch.nn.Parameter(torch.zeros(2))
    opt_ours = torch.optim.SGD([p1], lr=5e-3)
    opt_ds = torch.optim.SGD([p2], lr=5e-3)
    ours = WarmupDecayLR(opt_ours, total_steps=total, warmup_steps=warmup, warmup_type=kind)
    ds = lr_schedules.WarmupDecayLR(opt_ds, total_num_steps=total, warmup_min_lr=0.0,
                                    warmup_max_lr=5e-3, warmup_num_steps=warmup, warmup_type=kind)
    got, want = _lrs(ours, opt_ours, total + 3), _lrs(ds, opt_ds, total + 3)
    assert got == pytest.approx(want, abs=1e-12)
    assert max(got) == pytest.approx(5e-3, rel=1e-6)
    assert got[-1] == 0.0


def test_state_dict_round_trip():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = WarmupDecayLR(opt, total_steps=100, warmup_steps=10)
    for _ in range(17):
        opt.step()
        s.step()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s2 = WarmupDecayLR(opt2, total_steps=100, warmup_steps=10)
    s2.load_state_dict(s.state_dict())
    opt.step(), s.step(), opt2.step(), s2.step()
    assert s.get_last_lr() == s2.get_last_lr()


def test_bad_arguments():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_type"):
        WarmupDecayLR(opt, 10, 2, warmup_type="cosine")
