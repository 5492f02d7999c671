"""grpo.train.EpochSeededRepeatSampler: an epoch's order depends on (seed, epoch) only, so a resumed run that
starts in epoch k draws what an uninterrupted run drew there; groups of G stay together as in TRL's sampler."""

from grpo.train import EpochSeededRepeatSampler


def order(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def sampler(seed=42):
    return EpochSeededRepeatSampler(list(range(10)), mini_repeat_count=4, batch_size=2, repeat_count=1, seed=seed)


def test_an_epoch_order_does_not_depend_on_the_epochs_before():
    uninterrupted = sampler()
    orders = [order(uninterrupted, epoch) for epoch in range(3)]
    assert order(sampler(), 2) == orders[2]  # a fresh sampler (a resumed run) starting in epoch 2
    assert orders[0] != orders[1] != orders[2]  # still reshuffled every epoch
    assert order(sampler(seed=7), 0) != orders[0]


def test_groups_of_g_and_whole_batches_only():
    indices = order(sampler(), 0)
    assert len(indices) == 40  # 10 prompts in batches of 2, each repeated G = 4 times
    groups = [indices[i : i + 4] for i in range(0, len(indices), 4)]
    assert all(len(set(group)) == 1 for group in groups)
    assert sorted(group[0] for group in groups) == list(range(10))
