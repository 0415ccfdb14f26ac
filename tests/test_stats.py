"""The paired bootstrap against scipy's bootstrap and against cases whose answer is known."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from munchables.evaluate import Score
from munchables.experiments.stats import bootstrap_interval, f1_from_counts, paired_bootstrap


def _runs(rng, n, seeds, tp_rate):
    """Per-sentence counts of `seeds` runs: 0-3 gold entities a sentence, each found with tp_rate."""
    gold = rng.integers(0, 4, size=n)
    runs = []
    for _ in range(seeds):
        tp = rng.binomial(gold, tp_rate)
        fp = rng.binomial(1, 1 - tp_rate, size=n)
        runs.append(np.stack([tp, fp, gold - tp], axis=1))
    return runs


def test_f1_from_counts_is_the_evaluation_f1():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 5, size=(50, 3))
    counts[:5] = 0
    expected = [Score(*map(int, c)).f1 for c in counts]
    assert np.allclose(f1_from_counts(counts.astype(float)), expected)


def test_identical_systems_differ_by_nothing():
    runs = _runs(np.random.default_rng(2), 300, 3, 0.7)
    c = paired_bootstrap(runs, runs, resamples=500)
    assert c.delta == 0 and c.low == 0 and c.high == 0 and c.p == 1.0 and c.within_noise


def test_a_clearly_better_system_is_significant_and_a_slightly_better_one_is_not():
    rng = np.random.default_rng(3)
    base = _runs(rng, 400, 3, 0.6)
    better = [r.copy() for r in base]
    for r in better:  # half of the false negatives found, in every run
        gain = r[:, 2] // 2
        r[:, 0] += gain
        r[:, 2] -= gain
    c = paired_bootstrap(better, base, resamples=1000)
    assert c.delta > 0.02 and c.low > 0 and c.p < 0.01 and not c.within_noise
    tiny = [r.copy() for r in base]
    tiny[0][0] = [tiny[0][0, 0] + tiny[0][0, 2], tiny[0][0, 1], 0]  # one sentence of one seed
    c = paired_bootstrap(tiny, base, resamples=1000)
    assert 0 <= c.delta < 0.01 and c.within_noise and c.p > 0.05


def test_observed_difference_is_the_mean_over_seeds_of_corpus_f1():
    rng = np.random.default_rng(4)
    a, b = _runs(rng, 200, 3, 0.8), _runs(rng, 200, 3, 0.5)
    f1 = lambda runs: np.mean([Score(*map(int, r.sum(axis=0))).f1 for r in runs])  # noqa: E731
    c = paired_bootstrap(a, b, resamples=200)
    assert c.a == pytest.approx(f1(a)) and c.b == pytest.approx(f1(b)) and c.delta == pytest.approx(f1(a) - f1(b))


def test_interval_agrees_with_scipy_bootstrap():
    """One seed each: scipy.stats.bootstrap resampling sentence indices, paired, percentile interval."""
    rng = np.random.default_rng(5)
    a, b = _runs(rng, 300, 1, 0.75), _runs(rng, 300, 1, 0.65)

    def statistic(idx):
        idx = idx.astype(int)
        return f1_from_counts(a[0][idx].sum(axis=0)) - f1_from_counts(b[0][idx].sum(axis=0))

    ref = scipy_stats.bootstrap((np.arange(300),), statistic, vectorized=False, n_resamples=3000,
                                method="percentile", random_state=0).confidence_interval
    ours = paired_bootstrap(a, b, resamples=3000)
    assert ours.low == pytest.approx(ref.low, abs=0.01) and ours.high == pytest.approx(ref.high, abs=0.01)
    low, high = bootstrap_interval(a, resamples=3000)
    ref = scipy_stats.bootstrap((np.arange(300),), lambda i: f1_from_counts(a[0][i.astype(int)].sum(axis=0)),
                                vectorized=False, n_resamples=3000, method="percentile", random_state=0)
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_runs_over_different_sentences_are_refused():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="same sentences"):
        paired_bootstrap(_runs(rng, 10, 1, 0.5), _runs(rng, 11, 1, 0.5))


def test_a_p_below_the_resolution_is_never_zero_and_weak_comparisons_say_why():
    rng = np.random.default_rng(5)
    base = _runs(rng, 400, 1, 0.3)
    better = _runs(rng, 400, 1, 0.95)
    c = paired_bootstrap(better, base, resamples=2000)
    assert c.p == 0.0 and c.sentences == 400
    assert c.p_text == "< 0.001 (1 seed: sentence noise only)"
    assert paired_bootstrap(better, base, resamples=200).p_text.startswith("< 0.005 ")  # resolution 1/200
    few = paired_bootstrap([r[:12] for r in better + better], [r[:12] for r in base + base], resamples=500)
    assert few.seeds == 2 and few.p_text.endswith("(only 12 sentences)")
    from munchables.experiments.stats import p_text

    assert p_text(0.0123, 2000, 3, 400) == "0.012" and p_text(0.0004, 2000, 3, 400) == "< 0.001"
