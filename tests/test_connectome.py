"""models.connectome: generated networks, connectome files, input spike trains.

Expectations are computed independently of the implementation: connection
probabilities from dense adjacency matrices and pair counts, weight moments
from the log-normal formulas, spike statistics from the Bernoulli process.
"""
import doctest
import os
import h5py
import numpy as np
import pytest
import scipy.sparse

from models import connectome as cm
from models.connectome import (CELL_TYPES, Connectome, ConnectomeError, assembly_network,
                               feedforward_weights, input_rates, load_connectome, poisson_input,
                               save_connectome)

# distinct values per block, so a transposed or swapped block is caught
P_WITHIN = ((0.2, 0.3), (0.4, 0.25))
P_BETWEEN = ((0.02, 0.03), (0.04, 0.05))
W_MEAN = ((0.3, 0.6), (0.9, 1.2))
W_STD = ((0.2, 0.1), (0.3, 0.05))


@pytest.fixture(scope="module")
def net2000():
    """A 2000-neuron network (1600 E, 400 I, 20 assemblies) with distinct block parameters."""
    return assembly_network(2000, p_within=P_WITHIN, p_between=P_BETWEEN, w_mean=W_MEAN,
                            w_std=W_STD, rng=np.random.default_rng(7))


def rng(seed=0):
    return np.random.default_rng(seed)


def test_module_doctests_pass():
    assert doctest.testmod(cm).failed == 0


# --------------------------------------------------------------------------- #
# assembly_network
# --------------------------------------------------------------------------- #
def test_types_are_ordered_excitatory_first_with_rounded_counts(net2000):
    assert net2000.cell_types == CELL_TYPES == ("excitatory", "inhibitory")
    assert net2000.cell_type.dtype == np.int8
    assert net2000.cell_type.tolist() == [0] * 1600 + [1] * 400
    assert net2000.counts() == {"excitatory": 1600, "inhibitory": 400}
    assert net2000.n == 2000 and net2000.source == "assembly network (seeded)"
    odd = assembly_network(101, n_assemblies=3, rng=rng())
    assert odd.counts() == {"excitatory": 81, "inhibitory": 20}  # round(80.8) = 81


@pytest.mark.parametrize("n_neurons,n_assemblies", [(2000, 20), (101, 7), (53, 10)])
def test_assemblies_are_contiguous_nearly_equal_blocks_per_type(n_neurons, n_assemblies):
    net = assembly_network(n_neurons, n_assemblies=n_assemblies, rng=rng())
    assert net.assembly.dtype == np.int32
    for t in (0, 1):
        a = net.assembly[net.cell_type == t]
        n_t = a.size
        assert (np.diff(a) >= 0).all() and a[0] == 0 and a[-1] == n_assemblies - 1
        sizes = np.bincount(a, minlength=n_assemblies)
        assert set(sizes.tolist()) <= {n_t // n_assemblies, -(-n_t // n_assemblies)}
        assert sizes.sum() == n_t


def test_connection_probabilities_match_p_per_type_pair_and_assembly(net2000):
    adjacency = net2000.weights.toarray() > 0
    t, a = net2000.cell_type, net2000.assembly
    same = a[:, None] == a[None, :]
    not_self = ~np.eye(net2000.n, dtype=bool)
    for pre in (0, 1):
        for post in (0, 1):
            pair = (t[:, None] == pre) & (t[None, :] == post) & not_self
            for within, p in ((True, P_WITHIN[pre][post]), (False, P_BETWEEN[pre][post])):
                mask = pair & (same == within)
                n_pairs = int(mask.sum())
                observed = int(adjacency[mask].sum())
                se = np.sqrt(n_pairs * p * (1 - p))
                assert abs(observed - n_pairs * p) < 5 * se, (pre, post, within, observed / n_pairs)


def test_default_probabilities_put_inhibitory_to_excitatory_at_0_4_within():
    net = assembly_network(1000, n_assemblies=10, rng=rng(3))
    adjacency = net.weights.toarray() > 0
    same = net.assembly[:, None] == net.assembly[None, :]
    i_to_e = (net.cell_type[:, None] == 1) & (net.cell_type[None, :] == 0) & same
    e_to_i = (net.cell_type[:, None] == 0) & (net.cell_type[None, :] == 1) & same
    assert abs(adjacency[i_to_e].mean() - 0.4) < 0.03
    assert abs(adjacency[e_to_i].mean() - 0.2) < 0.03


def test_no_autapses_even_when_every_pair_connects():
    net = assembly_network(60, n_assemblies=3, p_within=np.ones((2, 2)), p_between=np.ones((2, 2)),
                           rng=rng())
    assert net.n_synapses == 60 * 59
    assert not net.weights.diagonal().any()


def test_no_autapses_and_no_stored_zeros(net2000):
    assert not net2000.weights.diagonal().any()
    assert (net2000.weights.data > 0).all()
    assert net2000.n_synapses == net2000.weights.nnz == np.count_nonzero(net2000.weights.data)
    assert isinstance(net2000.weights, scipy.sparse.csr_matrix)
    assert net2000.weights.dtype == np.float64


def test_weights_are_lognormal_with_the_linear_mean_and_std_per_block(net2000):
    for pre in (0, 1):
        for post in (0, 1):
            w = net2000.block(pre, post).data
            m, s = W_MEAN[pre][post], W_STD[pre][post]
            assert w.size > 4000
            assert abs(w.mean() - m) < 5 * s / np.sqrt(w.size), (pre, post, w.mean(), m)
            assert abs(w.std() - s) < 0.06 * s, (pre, post, w.std(), s)
            # log-space: sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2 / 2
            sigma = np.sqrt(np.log(1 + s ** 2 / m ** 2))
            log_w = np.log(w)
            assert abs(log_w.std() - sigma) < 0.04 * sigma
            assert abs(log_w.mean() - (np.log(m) - sigma ** 2 / 2)) < 5 * sigma / np.sqrt(w.size)


def test_zero_std_gives_the_mean_exactly():
    net = assembly_network(100, n_assemblies=2, w_std=np.zeros((2, 2)), rng=rng())
    expected = np.array([[0.3, 0.3], [0.5, 0.3]])  # default means
    coo = net.weights.tocoo()
    np.testing.assert_allclose(coo.data, expected[net.cell_type[coo.row], net.cell_type[coo.col]])


def test_same_generator_state_gives_the_same_network_and_another_seed_does_not():
    a = assembly_network(500, n_assemblies=5, rng=rng(11))
    b = assembly_network(500, n_assemblies=5, rng=rng(11))
    c = assembly_network(500, n_assemblies=5, rng=rng(12))
    assert (a.weights != b.weights).nnz == 0
    np.testing.assert_array_equal(a.weights.indices, b.weights.indices)
    assert (a.weights != c.weights).nnz > 0


def test_block_size_does_not_change_the_network(monkeypatch):
    reference = assembly_network(300, n_assemblies=5, rng=rng(4))
    monkeypatch.setattr(cm, "_BLOCK_ENTRIES", 1000)  # 3 rows per block
    blocked = assembly_network(300, n_assemblies=5, rng=rng(4))
    assert (reference.weights != blocked.weights).nnz == 0


def test_default_network_has_the_expected_synapse_count():
    # expected synapses per presynaptic cell (5000 neurons, 20 assemblies of 200 E + 50 I)
    per_e = 199 * 0.2 + 3800 * 0.02 + 50 * 0.2 + 950 * 0.02
    per_i = 200 * 0.4 + 3800 * 0.02 + 49 * 0.2 + 950 * 0.02
    expected = 4000 * per_e + 1000 * per_i
    net = assembly_network(rng=rng(0))
    assert abs(net.n_synapses - expected) < 5 * np.sqrt(expected)


@pytest.mark.parametrize("kwargs,name,shown", [
    ({"n_neurons": 1}, "n_neurons", "1"),
    ({"n_neurons": 2.5}, "n_neurons", "2.5"),
    ({"fractions": (0.7, 0.2)}, "fractions", "(0.7, 0.2)"),
    ({"fractions": (1.0, 0.0)}, "fractions", "(1.0, 0.0)"),
    ({"fractions": (0.5, 0.3, 0.2)}, "fractions", "(0.5, 0.3, 0.2)"),
    ({"n_assemblies": 0}, "n_assemblies", "0"),
    ({"n_neurons": 50, "n_assemblies": 11}, "n_assemblies", "11"),
    ({"p_within": ((0.2, 1.2), (0.4, 0.2))}, "p_within", "1.2"),
    ({"p_between": ((0.02, -0.1), (0.02, 0.02))}, "p_between", "-0.1"),
    ({"p_within": ((0.2, 0.2, 0.2),)}, "p_within", "(1, 3)"),
    ({"w_mean": ((0.0, 0.3), (0.5, 0.3))}, "w_mean", "0.0"),
    ({"w_std": ((0.2, 0.2), (0.1, -0.1))}, "w_std", "-0.1"),
    ({"w_std": ((0.2, float("nan")), (0.1, 0.1))}, "w_std", "nan"),
])
def test_invalid_arguments_raise_value_error_naming_argument_and_value(kwargs, name, shown):
    kwargs = {"n_neurons": 100, "n_assemblies": 2, **kwargs}
    with pytest.raises(ValueError) as info:
        assembly_network(rng=rng(), **kwargs)
    assert name in str(info.value) and shown in str(info.value)
    assert "\n" not in str(info.value)


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng"):
        assembly_network(100, rng=42)


# --------------------------------------------------------------------------- #
# Connectome
# --------------------------------------------------------------------------- #
def test_block_selects_presynaptic_rows_and_postsynaptic_columns(net2000):
    dense = net2000.weights.toarray()
    t = net2000.cell_type
    np.testing.assert_array_equal(net2000.block(1).toarray(), dense[t == 1])
    np.testing.assert_array_equal(net2000.block(0, 1).toarray(), dense[t == 0][:, t == 1])
    assert net2000.block(1, 0).shape == (400, 1600)
    with pytest.raises(ValueError, match="pre_type.*2"):
        net2000.block(2)


def test_assembly_weights_sum_weights_between_assemblies(net2000):
    dense = net2000.weights.toarray()
    a = net2000.assembly
    expected = np.array([[dense[np.ix_(a == i, a == j)].sum() for j in range(20)]
                         for i in range(20)])
    np.testing.assert_allclose(net2000.assembly_weights(), expected)
    # assemblies are denser inside: the diagonal dominates every row
    m = net2000.assembly_weights()
    assert (np.diag(m) > np.delete(m, np.arange(20) * 21).reshape(20, 19).max(axis=1)).all()


def test_connectome_is_immutable_and_rejects_negative_weights():
    w = scipy.sparse.csr_matrix(np.array([[0.0, 1.0], [0.5, 0.0]]))
    net = Connectome(CELL_TYPES, np.array([0, 1]), w, np.array([-1, -1]), "x")
    with pytest.raises(ValueError):
        net.cell_type[0] = 1
    with pytest.raises(AttributeError):
        net.source = "y"
    with pytest.raises(ValueError, match="assembly"):
        net.assembly_weights()
    with pytest.raises(ValueError, match="non-negative"):
        Connectome(CELL_TYPES, np.array([0, 1]), -w, np.array([0, 0]), "x")
    with pytest.raises(ValueError, match="shape"):
        Connectome(CELL_TYPES, np.array([0, 1, 1]), w, np.array([0, 0, 0]), "x")
    with pytest.raises(ValueError, match="cell_type"):
        Connectome(CELL_TYPES, np.array([0, 300]), w, np.array([0, 0]), "x")


# --------------------------------------------------------------------------- #
# files: round trips
# --------------------------------------------------------------------------- #
def assert_same_network(a: Connectome, b: Connectome, assembly=True):
    assert a.n == b.n
    assert (a.weights != b.weights).nnz == 0
    np.testing.assert_array_equal(a.cell_type, b.cell_type)
    if assembly:
        np.testing.assert_array_equal(a.assembly, b.assembly)


@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
def test_h5_round_trip_keeps_weights_types_and_assemblies(tmp_path, suffix):
    net = assembly_network(400, n_assemblies=4, rng=rng(1))
    target = tmp_path / f"net{suffix}"
    assert save_connectome(net, target) == target
    back = load_connectome(target)
    assert_same_network(net, back)
    assert back.source == str(target)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left
    # overwriting replaces the file whole
    other = assembly_network(100, n_assemblies=2, rng=rng(2))
    save_connectome(other, str(target))
    assert_same_network(other, load_connectome(str(target)))


def test_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    net = assembly_network(50, n_assemblies=2, rng=rng())

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(cm.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        save_connectome(net, tmp_path / "net.h5")
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_other_suffixes_and_missing_directories(tmp_path):
    net = assembly_network(50, n_assemblies=2, rng=rng())
    with pytest.raises(ConnectomeError, match=r"net\.npz.*\.h5"):
        save_connectome(net, tmp_path / "net.npz")
    with pytest.raises(ConnectomeError, match="does not exist"):
        save_connectome(net, tmp_path / "missing" / "net.h5")
    with pytest.raises(TypeError, match="connectome"):
        save_connectome(net.weights, tmp_path / "net.h5")


@pytest.mark.parametrize("labels_kind", ["txt", "npy", "array", "npy-int"])
def test_npz_from_save_npz_with_a_labels_file_or_array(tmp_path, labels_kind):
    net = assembly_network(300, n_assemblies=3, rng=rng(5))
    target = tmp_path / "w.npz"
    scipy.sparse.save_npz(target, net.weights)
    names = np.array(["exc", "inh"])[net.cell_type]
    if labels_kind == "txt":
        labels = tmp_path / "labels.txt"
        mixed_case = [n.upper() if i % 2 else n for i, n in enumerate(names)]
        labels.write_text("\n".join(mixed_case) + "\n\n")  # blank lines are skipped
    elif labels_kind == "npy":
        labels = tmp_path / "labels.npy"
        np.save(labels, names)
    elif labels_kind == "npy-int":
        labels = str(tmp_path / "labels.npy")
        np.save(labels, net.cell_type.astype(np.int64))
    else:
        labels = list(names)
    back = load_connectome(target, labels=labels)
    assert_same_network(net, back, assembly=False)
    assert (back.assembly == -1).all()


def test_npz_without_labels_says_how_to_give_them(tmp_path):
    target = tmp_path / "w.npz"
    scipy.sparse.save_npz(target, scipy.sparse.csr_matrix(np.eye(3)))
    with pytest.raises(ConnectomeError) as info:
        load_connectome(target)
    message = str(info.value)
    assert str(target) in message and "labels=" in message and "cell_types" in message


def test_npz_with_stored_labels_and_assemblies_and_labels_override(tmp_path):
    net = assembly_network(200, n_assemblies=4, rng=rng(6))
    target = tmp_path / "w.npz"
    scipy.sparse.save_npz(target, net.weights, compressed=False)
    with np.load(target) as z:
        arrays = dict(z)
    np.savez(target, **arrays, cell_types=np.array(["e", "i"])[net.cell_type],
             assembly=net.assembly)
    assert_same_network(net, load_connectome(target))
    flipped = load_connectome(target, labels=1 - net.cell_type.astype(int))
    np.testing.assert_array_equal(flipped.cell_type, 1 - net.cell_type)


def test_npz_of_other_sparse_formats_and_sparse_arrays_load(tmp_path):
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for i, matrix in enumerate([scipy.sparse.csc_matrix(dense), scipy.sparse.coo_array(dense)]):
        target = tmp_path / f"w{i}.npz"
        scipy.sparse.save_npz(target, matrix)
        back = load_connectome(target, labels=[0, 0, 1])
        np.testing.assert_array_equal(back.weights.toarray(), dense)


@pytest.mark.parametrize("labels", [
    np.array([b"excitatory", b"Inhibitory", b"E"]),
    np.array(["exc", "i", "e"], dtype=object),
    np.array([0, 1, 0], dtype=np.int16),
])
def test_h5_dense_weights_with_string_bytes_or_int_labels(tmp_path, labels):
    target = tmp_path / "dense.h5"
    dense = np.array([[0.0, 0.5, 0.0], [0.2, 0.3, 0.0], [0.0, 0.0, 0.0]])  # a self-connection
    with h5py.File(target, "w") as f:
        f["weights"] = dense
        if labels.dtype == object:
            f.create_dataset("cell_types", data=labels, dtype=h5py.string_dtype())
        else:
            f["cell_types"] = labels
    back = load_connectome(target)
    np.testing.assert_array_equal(back.weights.toarray(), dense)
    assert back.cell_type.tolist() == [0, 1, 0]
    assert back.weights[1, 1] == 0.3  # self-connections are kept in loaded files


def test_h5_csr_group_with_shape_dataset_and_explicit_zeros_dropped(tmp_path):
    target = tmp_path / "csr.hdf5"
    with h5py.File(target, "w") as f:
        g = f.create_group("weights")
        g["data"] = np.array([0.5, 0.0, 1.5])
        g["indices"] = np.array([1, 0, 0])
        g["indptr"] = np.array([0, 1, 2, 3])
        g["shape"] = np.array([3, 3])
        f["cell_types"] = np.array([b"e", b"e", b"i"])
        f["assembly"] = np.array([0, 0, 1])
    back = load_connectome(target)
    assert back.n_synapses == 2  # the stored zero is gone
    np.testing.assert_array_equal(back.weights.toarray(), [[0, 0.5, 0], [0, 0, 0], [1.5, 0, 0]])
    assert back.assembly.tolist() == [0, 0, 1]


def test_a_network_of_one_type_loads(tmp_path):
    target = tmp_path / "w.npz"
    scipy.sparse.save_npz(target, scipy.sparse.csr_matrix(np.ones((4, 4))))
    net = load_connectome(target, labels=["inh"] * 4)
    assert net.counts() == {"excitatory": 0, "inhibitory": 4}


# --------------------------------------------------------------------------- #
# files: hostile input, every one a one-line ConnectomeError naming the file
# --------------------------------------------------------------------------- #
def write_h5(path, weights=None, labels=None, assembly=None):
    with h5py.File(path, "w") as f:
        if weights is not None:
            f["weights"] = weights
        if labels is not None:
            f["cell_types"] = labels
        if assembly is not None:
            f["assembly"] = assembly
    return path


def make_missing(d):
    return d / "missing.h5", {}


def make_directory(d):
    (d / "net.h5").mkdir()
    return d / "net.h5", {}


def make_unknown_suffix(d):
    (d / "net.csv").write_text("0,1\n1,0\n")
    return d / "net.csv", {}


def make_truncated_npz(d):
    path = d / "w.npz"
    scipy.sparse.save_npz(path, scipy.sparse.random(50, 50, density=0.2, random_state=0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, {"labels": [0] * 50}


def make_garbage_npz(d):
    path = d / "w.npz"
    path.write_bytes(os.urandom(64))
    return path, {"labels": [0] * 2}


def make_plain_savez_npz(d):
    path = d / "w.npz"
    np.savez(path, weights=np.eye(2))
    return path, {"labels": [0, 1]}


def make_truncated_h5(d):
    path = write_h5(d / "w.h5", np.ones((20, 20)), np.zeros(20, dtype=int))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path, {}


def make_garbage_h5(d):
    path = d / "w.h5"
    path.write_bytes(b"this is not HDF5" * 10)
    return path, {}


def make_h5_without_weights(d):
    return write_h5(d / "w.h5", labels=np.zeros(2, dtype=int)), {}


def make_1d_weights(d):
    return write_h5(d / "w.h5", np.ones(4), np.zeros(4, dtype=int)), {}


def make_3d_weights(d):
    return write_h5(d / "w.h5", np.ones((2, 2, 2)), np.zeros(2, dtype=int)), {}


def make_non_square(d):
    return write_h5(d / "w.h5", np.ones((3, 4)), np.zeros(3, dtype=int)), {}


def make_empty(d):
    return write_h5(d / "w.h5", np.zeros((0, 0)), np.zeros(0, dtype=int)), {}


def make_wrong_label_count(d):
    return write_h5(d / "w.h5", np.ones((5, 5)), np.zeros(4, dtype=int)), {}


def make_wrong_label_count_in_file_argument(d):
    path = d / "w.npz"
    scipy.sparse.save_npz(path, scipy.sparse.csr_matrix(np.ones((5, 5))))
    (d / "labels.txt").write_text("e\ne\ni\n")
    return path, {"labels": d / "labels.txt"}


def make_unknown_labels(d):
    labels = np.array([b"e", b"pyramidal", b"i", b"glia", b"2"])
    return write_h5(d / "w.h5", np.ones((5, 5)), labels), {}


def make_negative(d):
    w = np.ones((4, 4))
    w[2, 1] = -0.5
    w[3, 0] = -1.0
    return write_h5(d / "w.h5", w, np.zeros(4, dtype=int)), {}


def make_nan(d):
    w = np.ones((4, 4))
    w[1, 3] = np.nan
    return write_h5(d / "w.h5", w, np.zeros(4, dtype=int)), {}


def make_inf(d):
    w = np.ones((4, 4))
    w[0, 2] = np.inf
    return write_h5(d / "w.h5", w, np.zeros(4, dtype=int)), {}


def make_wrong_assembly_length(d):
    return write_h5(d / "w.h5", np.ones((4, 4)), np.zeros(4, dtype=int), np.zeros(3, dtype=int)), {}


def make_inconsistent_csr(d):
    path = d / "w.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("weights")
        g["data"] = np.array([1.0, 2.0])
        g["indices"] = np.array([0, 7])  # column 7 of a 3 x 3 matrix
        g["indptr"] = np.array([0, 1, 2, 2])
        g.attrs["shape"] = (3, 3)
        f["cell_types"] = np.zeros(3, dtype=int)
    return path, {}


def make_csr_without_indptr(d):
    path = d / "w.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("weights")
        g["data"] = np.array([1.0])
        g["indices"] = np.array([0])
        g.attrs["shape"] = (1, 1)
        f["cell_types"] = np.zeros(1, dtype=int)
    return path, {}


def make_missing_labels_file(d):
    path = d / "w.npz"
    scipy.sparse.save_npz(path, scipy.sparse.csr_matrix(np.ones((2, 2))))
    return path, {"labels": d / "nowhere.txt"}


HOSTILE = {
    # name: (maker, words the message must contain)
    "missing file": (make_missing, ["no such file"]),
    "directory": (make_directory, ["directory"]),
    "unknown suffix": (make_unknown_suffix, ["'.csv'", ".npz", ".h5", ".hdf5"]),
    "truncated npz": (make_truncated_npz, ["damaged"]),
    "garbage npz": (make_garbage_npz, ["damaged"]),
    "plain savez npz": (make_plain_savez_npz, ["save_npz", "weights"]),
    "truncated h5": (make_truncated_h5, ["damaged"]),
    "garbage h5": (make_garbage_h5, ["damaged"]),
    "h5 without weights": (make_h5_without_weights, ["no 'weights'"]),
    "1-D weights": (make_1d_weights, ["2-D", "(4,)"]),
    "3-D weights": (make_3d_weights, ["2-D", "(2, 2, 2)"]),
    "non-square weights": (make_non_square, ["square", "(3, 4)"]),
    "empty network": (make_empty, ["empty"]),
    "wrong label count": (make_wrong_label_count, ["4 labels", "5 neurons"]),
    "wrong label count, labels file": (make_wrong_label_count_in_file_argument,
                                       ["labels.txt", "3 labels", "5 neurons"]),
    "unknown labels": (make_unknown_labels, ["'glia'", "'pyramidal'", "'2'", "excitatory",
                                             "inhibitory"]),
    "negative weights": (make_negative, ["2 negative", "(2, 1)", "Dale"]),
    "NaN weight": (make_nan, ["1 NaN or infinite", "(1, 3)"]),
    "infinite weight": (make_inf, ["NaN or infinite", "(0, 2)"]),
    "assembly of wrong length": (make_wrong_assembly_length, ["assembly", "4", "3"]),
    "inconsistent CSR": (make_inconsistent_csr, ["CSR", "indices"]),
    "CSR without indptr": (make_csr_without_indptr, ["indptr"]),
    "missing labels file": (make_missing_labels_file, ["nowhere.txt", "no such file"]),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_files_raise_one_line_connectome_error_naming_the_file(tmp_path, case):
    maker, words = HOSTILE[case]
    path, kwargs = maker(tmp_path)
    with pytest.raises(ConnectomeError) as info:
        load_connectome(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for word in words:
        assert word in message, (case, word, message)
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- #
# feedforward weights
# --------------------------------------------------------------------------- #
def test_feedforward_probabilities_and_weights_per_target_type():
    types = np.repeat([0, 1], [800, 200])
    ff = feedforward_weights(1500, types, p=(0.05, 0.1), w_mean=(0.4, 0.8), w_std=(0.2, 0.1),
                             rng=rng(9))
    assert ff.shape == (1500, 1000) and isinstance(ff, scipy.sparse.csr_matrix)
    for t, p, m, s in ((0, 0.05, 0.4, 0.2), (1, 0.1, 0.8, 0.1)):
        block = ff[:, types == t]
        n_pairs = 1500 * (types == t).sum()
        assert abs(block.nnz - n_pairs * p) < 5 * np.sqrt(n_pairs * p * (1 - p))
        assert abs(block.data.mean() - m) < 5 * s / np.sqrt(block.nnz)
        assert abs(block.data.std() - s) < 0.05 * s
    assert (ff.data > 0).all()


def test_feedforward_defaults_reach_excitatory_neurons_only_and_are_deterministic():
    types = np.array([1, 0] * 500)
    a = feedforward_weights(300, types, rng=rng(1))
    b = feedforward_weights(300, types, rng=rng(1))
    assert a[:, types == 1].nnz == 0 and a[:, types == 0].nnz > 0
    assert (a != b).nnz == 0


@pytest.mark.parametrize("kwargs,name", [
    ({"n_inputs": 0}, "n_inputs"),
    ({"cell_type": np.array([0, 2])}, "cell_type"),
    ({"cell_type": np.zeros((2, 2), dtype=int)}, "cell_type"),
    ({"p": (1.5, 0.0)}, "p"),
    ({"p": (0.1, 0.1)}, "w_mean"),  # default w_mean is 0 for inhibitory targets
    ({"w_std": (-1.0, 0.0)}, "w_std"),
])
def test_feedforward_validation(kwargs, name):
    kwargs = {"n_inputs": 10, "cell_type": np.array([0, 1]), **kwargs}
    with pytest.raises(ValueError, match=name):
        feedforward_weights(rng=rng(), **kwargs)


# --------------------------------------------------------------------------- #
# input rates
# --------------------------------------------------------------------------- #
def test_spontaneous_rates_are_one_row_at_the_baseline():
    rates = input_rates(rng=rng())
    assert rates.shape == (1, 1500)
    assert (rates == 6.0).all()


def test_each_odour_moves_disjoint_fractions_up_and_down():
    rates = input_rates(1000, 6.0, n_odours=5, modulated_fraction=0.15, modulation=0.4, rng=rng(3))
    assert rates.shape == (5, 1000)
    for row in rates:
        up, down, base = row == 6.0 * 1.4, row == 6.0 * 0.6, row == 6.0
        assert up.sum() == 150 and down.sum() == 150 and base.sum() == 700
        assert abs(row.mean() - 6.0) < 1e-12
    ups = [frozenset(np.flatnonzero(row > 6.0)) for row in rates]
    assert len(set(ups)) == 5  # odours differ


@pytest.mark.parametrize("kwargs,name", [
    ({"modulated_fraction": 0.6}, "modulated_fraction"),
    ({"modulation": 1.5}, "modulation"),
    ({"n_odours": -1}, "n_odours"),
    ({"rate_hz": -1.0}, "rate_hz"),
    ({"n_inputs": 0}, "n_inputs"),
])
def test_input_rates_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        input_rates(rng=rng(), **kwargs)


# --------------------------------------------------------------------------- #
# Poisson (Bernoulli) input
# --------------------------------------------------------------------------- #
def test_poisson_rate_matches_within_sampling_error():
    dt_s, n_steps = 0.5e-3, 20000
    spikes = poisson_input(np.full(1500, 6.0), n_steps, dt_s, rng(0))
    assert spikes.shape == (n_steps, 1500) and spikes.dtype == bool
    p = 6.0 * dt_s
    n_trials = spikes.size
    assert abs(spikes.sum() - n_trials * p) < 5 * np.sqrt(n_trials * p * (1 - p))


def test_counts_are_binomial_and_steps_independent():
    # p = 0.2: a binomial count has variance n p (1 - p) = 0.8 x its mean (Poisson: 1 x)
    p, n_steps = 0.2, 2000
    spikes = poisson_input(np.full(3000, p / 1e-3), n_steps, 1e-3, rng(1))
    counts = spikes.sum(axis=0)
    assert abs(counts.mean() - n_steps * p) < 5 * np.sqrt(n_steps * p * (1 - p) / 3000)
    assert abs(counts.var() / counts.mean() - (1 - p)) < 0.06
    # a spike at t says nothing about t + 1: P(spike at t+1 | spike at t) = p
    both = (spikes[1:] & spikes[:-1]).sum()
    assert abs(both / spikes[:-1].sum() - p) < 0.005
    # every step is reachable, the last one included
    assert abs(spikes[-1].mean() - p) < 5 * np.sqrt(p * (1 - p) / 3000)


def test_heterogeneous_rates_zero_and_certain_cells():
    rates_hz = np.array([0.0, 5.0, 50.0, 500.0, 1000.0])
    spikes = poisson_input(rates_hz, 40000, 1e-3, rng(2))
    counts = spikes.sum(axis=0)
    assert counts[0] == 0
    assert counts[4] == 40000  # p = 1: one spike in every step, never more
    for rate, count in zip(rates_hz[1:4], counts[1:4]):
        p = rate * 1e-3
        assert abs(count - 40000 * p) < 5 * np.sqrt(40000 * p * (1 - p))


def test_refilling_gaps_and_cell_groups_keep_the_statistics(monkeypatch):
    # almost every cell runs out of its first batch of gaps; cells are drawn in many groups
    monkeypatch.setattr(cm, "_EXTRA_SD", 0.0)
    monkeypatch.setattr(cm, "_EXTRA_GAPS", 0)
    monkeypatch.setattr(cm, "_MAX_GAPS", 500)
    p, n_steps, n_cells = 0.1, 3000, 400
    spikes = poisson_input(np.full(n_cells, p / 1e-3), n_steps, 1e-3, rng(3))
    n_trials = spikes.size
    assert abs(spikes.sum() - n_trials * p) < 5 * np.sqrt(n_trials * p * (1 - p))
    late = spikes[-300:]
    assert abs(late.mean() - p) < 5 * np.sqrt(p * (1 - p) / late.size)
    again = poisson_input(np.full(n_cells, p / 1e-3), n_steps, 1e-3, rng(3))
    np.testing.assert_array_equal(spikes, again)


def test_poisson_input_is_deterministic_per_generator_state():
    rates_hz = input_rates(200, n_odours=1, rng=rng(4))[0]
    a = poisson_input(rates_hz, 5000, 0.5e-3, rng(5))
    b = poisson_input(rates_hz, 5000, 0.5e-3, rng(5))
    c = poisson_input(rates_hz, 5000, 0.5e-3, rng(6))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert poisson_input(rates_hz, 0, 0.5e-3, rng()).shape == (0, 200)


@pytest.mark.parametrize("args,name,shown", [
    (([2500.0, 6.0], 10, 1e-3), "rates_hz * dt_s", "2500"),
    (([-1.0], 10, 1e-3), "rates_hz", "-1.0"),
    (([float("nan")], 10, 1e-3), "rates_hz", "nan"),
    (([[6.0, 6.0]], 10, 1e-3), "rates_hz", "(1, 2)"),
    (([6.0], -1, 1e-3), "n_steps", "-1"),
    (([6.0], 10, 0.0), "dt_s", "0.0"),
    (([6.0], 10, float("inf")), "dt_s", "inf"),
])
def test_poisson_input_validation(args, name, shown):
    with pytest.raises(ValueError) as info:
        poisson_input(*args, rng(0))
    assert name in str(info.value) and shown in str(info.value)


def test_poisson_input_needs_a_generator():
    with pytest.raises(TypeError, match="rng"):
        poisson_input([6.0], 10, 1e-3, 0)
