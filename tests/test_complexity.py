"""Lempel-Ziv complexity: known parsings, an independent reference, normalisations."""
import math

import numpy as np
import pytest

from analysis.complexity import lempel_ziv


def kaspar_schuster_reference(s):
    """The textbook Kaspar & Schuster (1987) loop, kept deliberately literal."""
    n = len(s)
    if n == 1:
        return 1
    i, k, l, c, k_max = 0, 1, 1, 1, 1
    while True:
        if s[i + k - 1] == s[l + k - 1]:
            k += 1
            if l + k > n:
                c += 1
                break
        else:
            if k > k_max:
                k_max = k
            i += 1
            if i == l:  # no earlier start gives a longer copy: the phrase ends
                c += 1
                l += k_max
                if l + 1 > n:
                    break
                i, k, k_max = 0, 1, 1
            else:
                k = 1
    return c


def bits(text):
    return [int(ch) for ch in text]


# ----------------------------------------------------------------------------- known values
def test_kaspar_schuster_example_has_six_phrases():
    # 0 . 001 . 10 . 100 . 1000 . 101
    assert kaspar_schuster_reference(bits("0001101001000101")) == 6
    assert lempel_ziv(bits("0001101001000101")) == 6


@pytest.mark.parametrize("n", [2, 3, 10, 1000, 100_000])
def test_constant_sequence_has_two_phrases(n):
    assert lempel_ziv(np.zeros(n, dtype=int)) == 2
    assert lempel_ziv(np.ones(n, dtype=bool)) == 2


def test_single_symbol_is_one_phrase():
    assert lempel_ziv([0]) == 1
    assert lempel_ziv([1]) == 1


def test_alternating_sequence_has_three_phrases():
    # 0 . 1 . 0101... (a copy of the start)
    assert lempel_ziv([0, 1] * 50) == 3
    assert lempel_ziv([0, 1] * 250_000) == 3


def test_hand_parsed_short_sequences():
    assert lempel_ziv(bits("01")) == 2          # 0 . 1
    assert lempel_ziv(bits("0110")) == 3        # 0 . 1 . 10
    assert lempel_ziv(bits("1001111011")) == 5  # 1 . 0 . 01 . 1110 . 11 (a copy)


# ----------------------------------------------------------------------------- reference
def _random_sequences(seed, count, max_len):
    rng = np.random.default_rng(seed)
    for trial in range(count):
        n = int(rng.integers(1, max_len))
        kind = trial % 4
        if kind == 0:  # any density
            yield rng.random(n) < rng.random()
        elif kind == 1:  # sparse
            yield rng.random(n) < 0.1 * rng.random()
        elif kind == 2:  # a noisy periodic pattern
            period = rng.random(int(rng.integers(1, 12))) < 0.4
            yield np.resize(period, n) ^ (rng.random(n) < 0.03)
        else:  # long runs
            yield np.repeat(rng.random(n) < 0.5, rng.integers(1, 12, size=n))[:n]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_random_sequences(seed):
    for seq in _random_sequences(seed, 400, 400):
        as_list = seq.astype(int).tolist()
        assert lempel_ziv(seq) == kaspar_schuster_reference(as_list), "".join(map(str, as_list))


def test_matches_reference_on_longer_sparse_and_dense_sequences():
    rng = np.random.default_rng(11)
    for density in (0.003, 0.02, 0.05, 0.3, 0.5, 0.97):
        for _ in range(3):
            seq = rng.random(int(rng.integers(1500, 3000))) < density
            assert lempel_ziv(seq) == kaspar_schuster_reference(seq.astype(int).tolist())


def test_matches_reference_on_time_major_spike_matrices():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n_neurons, n_bins = int(rng.integers(2, 30)), int(rng.integers(2, 80))
        x = rng.random((n_neurons, n_bins)) < 0.05
        x[:, : n_bins // 3] = False  # runs that diverge only later
        expected = kaspar_schuster_reference(x.T.ravel().astype(int).tolist())
        assert lempel_ziv(x) == expected
        assert lempel_ziv(x.astype(np.uint8)) == expected


def test_relabelling_symbols_leaves_count_unchanged():
    rng = np.random.default_rng(3)
    for density in (0.01, 0.4, 0.5, 0.6):
        seq = rng.random(20_000) < density
        assert lempel_ziv(seq) == lempel_ziv(~seq)


# ----------------------------------------------------------------------------- layout
def test_matrix_is_read_time_major():
    x = np.array([[0, 0, 1],
                  [0, 1, 1]])
    # columns (bins) one after the other: 00 01 11 -> 000111 = 0 . 001 . 11
    assert lempel_ziv(x) == kaspar_schuster_reference([0, 0, 0, 1, 1, 1])
    assert lempel_ziv(x) == lempel_ziv(x.T.ravel())
    rows = np.array([[1, 1, 1, 0, 0, 0],
                     [0, 0, 0, 0, 0, 0]])
    # time-major 10 10 10 00 00 00 = 1 . 0 . 10100 . 00000, four phrases;
    # row-major 111000 000000 would be 1 . 110 . 000000, three
    assert lempel_ziv(rows) == 4
    assert lempel_ziv(rows.ravel()) == 3


# ----------------------------------------------------------------------------- normalisations
def test_normalisation_by_log2_n_over_n():
    value = lempel_ziv(bits("0001101001000101"), normalize=True)
    assert isinstance(value, float)
    assert value == pytest.approx(6 * 4 / 16)


def test_entropy_normalisation():
    seq = bits("0001101001000101")  # 6 ones out of 16
    p = 6 / 16
    entropy = -p * math.log2(p) - (1 - p) * math.log2(1 - p)
    value = lempel_ziv(seq, normalize="entropy")
    assert isinstance(value, float)
    assert value == pytest.approx(6 * 4 / 16 / entropy)


def test_entropy_normalisation_is_zero_without_entropy():
    assert lempel_ziv(np.zeros(50, int), normalize="entropy") == 0.0
    assert lempel_ziv(np.ones(50, int), normalize="entropy") == 0.0


def test_entropy_normalised_random_sequences_are_close_to_one():
    rng = np.random.default_rng(8)
    for density in (0.02, 0.5):
        value = lempel_ziv(rng.random(200_000) < density, normalize="entropy")
        assert 0.85 < value < 1.05


def test_count_is_a_python_int():
    assert type(lempel_ziv(np.array([0, 1, 1], dtype=np.int8))) is int


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("normalize", ["yes", "Entropy", None, 1, 0, 2.0])
def test_unknown_normalisation_is_rejected(normalize):
    with pytest.raises(ValueError, match="normalize"):
        lempel_ziv([0, 1, 1], normalize=normalize)


@pytest.mark.parametrize("x, match", [
    ([0, 1, 2], "only 0 and 1"),
    ([0.0, 0.5], "only 0 and 1"),
    ([0, float("nan")], "only 0 and 1"),
    ([], "empty"),
    (np.zeros((0, 5)), "empty"),
    (np.zeros((2, 2, 2)), "1-D or 2-D"),
    (1, "1-D or 2-D"),
    (["0", "1"], "dtype"),
])
def test_invalid_input_is_rejected(x, match):
    with pytest.raises(ValueError, match=match):
        lempel_ziv(x)


@pytest.mark.slow
def test_speed_on_a_large_sparse_matrix():
    import time
    x = np.random.default_rng(0).random((1000, 500)) < 0.02
    lempel_ziv([0, 1] * 100)  # import numba and load (or compile) the counter first
    start = time.perf_counter()
    lempel_ziv(x)
    assert time.perf_counter() - start < 0.2


def test_lempel_ziv_all_matches_the_three_forms():
    """One parsing gives the count and both normalisations of lempel_ziv."""
    import numpy as np

    from analysis.complexity import lempel_ziv, lempel_ziv_all

    bits = (np.random.default_rng(3).random((40, 60)) < 0.05).astype(np.uint8)
    every = lempel_ziv_all(bits)
    assert every["count"] == lempel_ziv(bits)
    assert every["plain"] == lempel_ziv(bits, normalize=True)
    assert every["entropy"] == lempel_ziv(bits, normalize="entropy")


# ----------------------------------------------------------------------------- compiled counter
def _counters():
    from analysis import complexity
    return complexity._phrase_count_compiled, complexity._phrase_count_numpy


def _edge_sequences():
    """Lengths 0, 1, 2 and the degenerate patterns, as bool arrays."""
    yield np.zeros(0, dtype=bool)
    for n in (1, 2, 3, 17, 1000):
        yield np.zeros(n, dtype=bool)
        yield np.ones(n, dtype=bool)
        yield np.arange(n) % 2 == 0
    yield np.array([True, False])
    yield np.array([False, True])
    for period in (3, 7, 64):
        for n in (period, 5 * period + 1, 2000):
            pattern = np.random.default_rng(period).random(period) < 0.4
            pattern[0] = True
            yield np.resize(pattern, n)


def test_compiled_counter_matches_numpy_reference_on_edge_cases():
    compiled, reference = _counters()
    for seq in _edge_sequences():
        assert compiled(seq) == reference(seq), seq.astype(int).tolist()[:40]


def test_empty_sequence_has_no_phrases():
    compiled, reference = _counters()
    assert compiled(np.zeros(0, dtype=bool)) == 0
    assert reference(np.zeros(0, dtype=bool)) == 0


@pytest.mark.parametrize("text, expected", [
    ("0001101001000101", 6),  # 0 . 001 . 10 . 100 . 1000 . 101
    ("01", 2), ("0110", 3), ("1001111011", 5), ("0", 1), ("1", 1),
])
def test_compiled_counter_on_hand_parsed_strings(text, expected):
    compiled, reference = _counters()
    seq = np.array(bits(text), dtype=bool)
    assert compiled(seq) == reference(seq) == expected


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_counter_matches_numpy_reference_on_random_sequences(seed):
    compiled, reference = _counters()
    for seq in _random_sequences(seed + 20, 500, 600):
        assert compiled(seq) == reference(seq), "".join(map(str, seq.astype(int)))


def test_compiled_counter_matches_numpy_reference_on_matrices_of_many_densities():
    compiled, reference = _counters()
    rng = np.random.default_rng(12)
    for density in (0.001, 0.005, 0.02, 0.2, 0.5, 0.8, 0.999):
        x = rng.random((300, 200)) < density
        seq = x.T.ravel()
        assert compiled(seq) == reference(seq), density
    periodic = np.tile(rng.random((300, 7)) < 0.3, (1, 30))  # columns repeat every 7 bins
    half = rng.random((300, 200)) < 0.5
    half[:, :100] = half[:, 100:]  # the second half copies the first
    for x in (periodic, half):
        assert compiled(x.T.ravel()) == reference(x.T.ravel())


def test_automaton_kernel_runs_as_plain_python():
    # the kernel is ordinary Python too: check it uncompiled against the textbook loop
    from analysis.complexity import _automaton_states, _suffix_automaton_phrase_count

    rng = np.random.default_rng(4)
    for _ in range(40):
        seq = (rng.random(int(rng.integers(1, 40))) < rng.random()).astype(np.uint8)
        workspace = np.full(5 * _automaton_states(seq.size), -7, dtype=np.int32)  # stale values
        count = _suffix_automaton_phrase_count(seq, workspace)
        assert count == kaspar_schuster_reference(seq.tolist())


def test_dispatch_uses_each_counter_where_it_is_faster(monkeypatch):
    from analysis import complexity

    used = []
    for name in ("numpy", "compiled"):
        monkeypatch.setattr(complexity, f"_phrase_count_{name}",
                            lambda bits, name=name: used.append(name) or 1)
    sparse = np.zeros(10_000, dtype=bool)
    sparse[::200] = True  # 0.5 % ones
    complexity._phrase_count(sparse)
    complexity._phrase_count(~sparse)  # 0.5 % zeros: the rarer symbol decides
    complexity._phrase_count(np.arange(10_000) % 3 == 0)
    assert used == ["numpy", "numpy", "compiled"]


def test_importing_the_module_does_not_import_numba():
    import subprocess
    import sys

    code = "import sys, analysis.complexity; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_speed_on_dense_and_periodic_matrices():
    import time
    rng = np.random.default_rng(0)
    lempel_ziv([0, 1] * 100)  # compile first
    for x in (rng.random((1000, 500)) < 0.5, np.tile(rng.random((1000, 7)) < 0.3, (1, 72))):
        start = time.perf_counter()
        lempel_ziv(x)
        assert time.perf_counter() - start < 0.2
