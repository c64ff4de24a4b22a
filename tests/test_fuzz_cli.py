"""Generated configs and ``--set`` values against every protocol's command line.

Every input, valid, near-valid or hostile, must end in one of two ways: it
runs (exit 0), or the command exits 2 with exactly one line on stderr, no
traceback, within a time bound, having written nothing.  The checks run with
``--check`` (config, data, memory and output folder, nothing simulated); a
sample of accepted tiny configs is then really run.  The fast variant runs in
the default suite; ``-m slow`` runs many more examples and real runs of every
protocol.
"""
import math
import resource
import shutil
import time
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from protocols import cli  # noqa: E402
from protocols.config import Field  # noqa: E402

from conftest import QUICK_CONFIGS as CONFIGS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: CPU seconds one refused or checked input may take (CPU time: the bound holds on a busy machine)
TIME_BOUND_S = 5.0
#: the most memory this test process may reach (Brian2, torch and every check loaded)
MEMORY_BOUND_BYTES = 3 * 2**30
#: tiny sizes for configs that are really run
TINY = {
    "chaos": ["network.n_neurons=24", "protocol.n_perturbations=2", "protocol.baseline=5 ms",
              "protocol.observation=30 ms", "protocol.fano_window=10 ms"],
    "heterogeneity_grid": ["network.n_neurons=24", "protocol.n_perturbations=2",
                           "protocol.baseline=5 ms", "protocol.observation=30 ms",
                           "protocol.fano_window=10 ms", "grid.v_th_std=[0.2 mV]",
                           "grid.g_std=[0.1, 0.3]"],
    "plasticity": ["stp.duration=200 ms", "stp.rates_hz=[20, 40]"],
    "ei_rnn": ["synthetic.n_neurons=8", "synthetic.n_steps=8", "synthetic.n_conditions=2",
               "synthetic.trials_per_condition=6", "trainer.max_epochs=2",
               "model.embed_dim=8", "model.n_heads=2"],
}
#: keys whose size the real runs keep tiny (the generated value is dropped for them)
SIZE_KEYS = {"n_neurons", "n_perturbations", "observation", "baseline", "duration",
             "trials_per_condition", "n_steps", "max_epochs", "embed_dim", "n_heads",
             "v_th_std", "g_std", "rates_hz", "n_conditions", "fano_window", "dt", "bin",
             "channel_interval", "n_inputs", "batch_size", "threads", "device", "wandb", "path",
             "format", "kind", "scheduler", "dask_address", "smoothing", "refractory",
             "background_rate", "channel_rate", "tau_m", "tau_syn",
             # resource guards: a real run would wait or stop (exit 3) by design
             "min_free_memory", "temperature_warn", "temperature_stop",
             "cooling_break", "cooling_every", "cooling_after"}


def _schema(experiment):
    import importlib

    return importlib.import_module(cli.PROTOCOLS[experiment]).SCHEMA


HOSTILE_TEXT = st.sampled_from([
    "", "~", "null", "yes", "no", "on", "1:30", "0o17", "1_000", ".inf", "-.inf", ".nan", "nan",
    "1e400", "-1e400", "9" * 40, "-9" * 30, "[]", "[1, 2", "{a: 1}", "&a [*a, *a]", "*x",
    "!!python/object:os.system", "20 mV", "20 parsecs", "20 ms ms", "ms", "-0", "0x10",
    "\u00e9t\u00e9", "\t", "'quoted'", "- 1", "a" * 300, "2001-12-14", "1e-320",
])


def _number(field: Field, near: bool):
    """A number inside the field's range (or just outside it when ``near``)."""
    low = field._bound(field.low) if field.low is not None else None
    high = field._bound(field.high) if field.high is not None else None
    if near:
        edges = [b for b in (low, high) if b is not None] or [0.0]
        return st.sampled_from(edges).flatmap(
            lambda e: st.sampled_from([e, e - 1e-9, e + 1e-9, e - 1, e + 1, -e, e * 1e6]))
    lo = low if low is not None else -1e3
    hi = high if high is not None else (lo + 1e3 if lo is not None else 1e3)
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


def _unit_text(field: Field) -> str:
    default = str(field.default)
    parts = default.split()
    return parts[-1] if len(parts) > 1 else ""


def value_strategy(field: Field):
    """Text of a ``--set`` value for ``field``: valid, near-valid or hostile."""
    kind = field.kind
    if kind == "bool":
        valid = st.sampled_from(["true", "false"])
    elif kind == "str":
        valid = st.sampled_from([str(c) for c in field.choices]) if field.choices else \
            st.text(alphabet="abcxyz_/.", min_size=1, max_size=12)
    elif kind == "int":
        valid = st.one_of(_number(field, False).map(lambda x: str(int(x))),
                          _number(field, True).map(lambda x: str(int(x)) if math.isfinite(x)
                                                   else "0"))
    elif kind == "float":
        valid = st.one_of(_number(field, False).map(repr), _number(field, True).map(repr))
    elif kind == "quantity":
        unit = _unit_text(field)
        scale = 1.0
        if unit:
            from protocols.config import parse_quantity

            scale = float(parse_quantity(f"1 {unit}", None))
        valid = st.one_of(_number(field, False), _number(field, True)).map(
            lambda x: f"{x / scale:g} {unit}".strip())
    elif kind == "memory":
        valid = st.one_of(_number(field, False), _number(field, True)).map(lambda x: f"{x:g} MB")
    elif kind in ("float_list", "axis"):
        item = _number(field, False).map(lambda x: f"{x:g}")
        valid = st.one_of(
            st.lists(item, min_size=0, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.tuples(item, item, st.integers(-2, 6)).map(
                lambda t: f"{{start: {t[0]}, stop: {t[1]}, num: {t[2]}}}"))
    elif kind == "names":
        key = st.sampled_from(list(field.choices or ("a",)) + ["rats", "x y"])
        name = st.text(alphabet="abcxyz_", min_size=0, max_size=8)
        empty = "''"
        valid = st.dictionaries(key, name, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v or empty}" for k, v in d.items()) + "}")
    else:  # pragma: no cover - a new kind needs a strategy here
        raise AssertionError(kind)
    return st.one_of(valid, valid, HOSTILE_TEXT)


@st.composite
def overrides(draw, experiment, max_keys=3):
    """``--set`` texts for 0..max_keys keys of the protocol's schema (sometimes unknown keys)."""
    schema = _schema(experiment)
    keys = [(s, k) for s in schema for k in schema[s]]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=max_keys, unique=True))
    out = [f"{s}.{k}={draw(value_strategy(schema[s][k]))}" for s, k in chosen]
    if draw(st.integers(0, 9)) == 0:
        out.append(draw(st.sampled_from(["nosuch.key=1", "network=3", "seed.session",
                                         "=1", "a.b.c=1", "experiment.x=chaos"])))
    return out


@st.composite
def documents(draw, experiment):
    """A mutated copy of the protocol's quick config, as YAML text."""
    data = yaml.safe_load((ROOT / "configs" / CONFIGS[experiment]).read_text())
    sections = [k for k in data if k != "experiment"]
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "unknown", "scalar", "list", "value", "experiment"]))
        section = draw(st.sampled_from(sections))
        if not isinstance(data.get(section), dict):
            continue
        entries = data[section]
        if action == "drop" and entries:
            entries.pop(draw(st.sampled_from(sorted(entries))))
        elif action == "unknown":
            entries[draw(st.sampled_from(["n_neuron", "tau", "x", "Seed"]))] = 1
        elif action == "scalar":
            data[section] = draw(st.sampled_from([0, "text", None, True]))
        elif action == "list":
            data[section] = [1, 2]
        elif action == "value" and entries:
            key = draw(st.sampled_from(sorted(entries)))
            entries[key] = draw(st.one_of(st.integers(-10**20, 10**20), st.floats(),
                                          st.text(max_size=8), st.none(), st.booleans()))
        elif action == "experiment":
            data["experiment"] = draw(st.sampled_from(["", None, 3, "chaoss", "ei_rnn"]))
    text = yaml.safe_dump(data, sort_keys=False)
    if draw(st.integers(0, 4)) == 0:  # a text-level edit: a repeated line or a stray character
        lines = text.splitlines()
        k = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["dup", "char"]))
        lines.insert(k, lines[k] if edit == "dup" else draw(st.sampled_from(["\t", ":", "&", "*a",
                                                                              "- x", "}"])))
        text = "\n".join(lines) + "\n"
    return text


def run_cli(argv, capsys):
    """Run the command line in-process: (exit code, stdout, stderr, seconds)."""
    started = time.process_time()
    code = cli.main(argv)
    elapsed = time.process_time() - started
    out, err = capsys.readouterr()
    return code, out, err, elapsed


def assert_clean_outcome(code, err, elapsed, argv):
    assert code in (0, 2), f"exit {code} for {argv}: {err}"
    assert "Traceback" not in err, f"traceback for {argv}:\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("snnsuite: error: "), (argv, err)
    assert elapsed < TIME_BOUND_S, f"{elapsed:.1f} s for {argv}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    assert peak < MEMORY_BOUND_BYTES, f"{peak / 2**30:.1f} GiB after {argv}"


@pytest.fixture(scope="module")
def warmed():
    """Import every protocol once, so the time bound measures the checks, not imports."""
    for experiment in CONFIGS:
        _schema(experiment)
        import importlib

        importlib.import_module(cli.PROTOCOLS[experiment])
    import torch  # noqa: F401  (the ei_rnn checks import it)


def _fuzz_settings(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def check_overrides(experiment, sets, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", str(ROOT / "configs" / CONFIGS[experiment]), "--out", str(out), "--check",
            *[a for s in sets for a in ("--set", s)]]
    code, _, err, elapsed = run_cli(argv, capsys)
    assert_clean_outcome(code, err, elapsed, argv)
    assert not out.exists(), "--check wrote the output folder"
    return code


def check_document(text, tmp_path, capsys):
    path = tmp_path / "fuzzed.yaml"
    path.write_text(text)
    argv = ["run", str(path), "--out", str(tmp_path / "out"), "--check"]
    code, _, err, elapsed = run_cli(argv, capsys)
    assert_clean_outcome(code, err, elapsed, argv)
    assert not (tmp_path / "out").exists()
    return code


# ----------------------------------------------------------------------------- fast variant
@pytest.mark.parametrize("experiment", sorted(CONFIGS))
def test_generated_overrides_are_checked_or_refused_in_one_line(experiment, warmed, tmp_path,
                                                                capsys):
    @_fuzz_settings(60)
    @given(sets=overrides(experiment))
    def check(sets):
        check_overrides(experiment, sets, tmp_path, capsys)

    check()


@pytest.mark.parametrize("experiment", sorted(CONFIGS))
def test_generated_documents_are_checked_or_refused_in_one_line(experiment, warmed, tmp_path,
                                                                capsys):
    @_fuzz_settings(30)
    @given(text=documents(experiment))
    def check(text):
        check_document(text, tmp_path, capsys)

    check()


def _real_run(experiment, sets, tmp_path, capsys):
    """Check, then really run an accepted tiny config: exit 0 with a loadable result."""
    from analysis.results import load

    sets = [s for s in sets if s.split("=", 1)[0].split(".")[-1] not in SIZE_KEYS]
    sets = [*TINY[experiment], *sets]
    if check_overrides(experiment, sets, tmp_path, capsys) != 0:
        return False
    out = tmp_path / "run"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["run", str(ROOT / "configs" / CONFIGS[experiment]), "--out", str(out), "--jobs", "1",
            *[a for s in sets for a in ("--set", s)]]
    code = cli.main(argv)
    _, err = capsys.readouterr()
    assert code == 0, f"{argv}: accepted by --check, then exit {code}: {err}"
    assert load(out / "results.h5").points
    return True


def real_runs(experiment, n_examples, max_keys, tmp_path, capsys):
    """Generated tiny configs: each accepted one must really run; at least one must be."""
    ran = []

    @_fuzz_settings(n_examples)
    @given(sets=overrides(experiment, max_keys=max_keys))
    def check(sets):
        ran.append(_real_run(experiment, sets, tmp_path, capsys))

    check()
    assert any(ran), "no generated config was accepted: the test ran nothing"


@pytest.mark.usefixtures("numpy_target")  # every generated value would be a new compile
@pytest.mark.parametrize("experiment", ["chaos"])
def test_accepted_tiny_configs_really_run(experiment, warmed, tmp_path, capsys):
    real_runs(experiment, 6, 2, tmp_path, capsys)


# ----------------------------------------------------------------------------- slow variant
@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(CONFIGS))
def test_many_generated_inputs(experiment, warmed, tmp_path, capsys):
    @_fuzz_settings(600)
    @given(sets=overrides(experiment, max_keys=5))
    def check_sets(sets):
        check_overrides(experiment, sets, tmp_path, capsys)

    @_fuzz_settings(300)
    @given(text=documents(experiment))
    def check_text(text):
        check_document(text, tmp_path, capsys)

    check_sets()
    check_text()


@pytest.mark.slow
@pytest.mark.usefixtures("numpy_target")
@pytest.mark.parametrize("experiment", sorted(CONFIGS))
def test_many_accepted_configs_really_run(experiment, warmed, tmp_path, capsys):
    real_runs(experiment, 15, 3, tmp_path, capsys)
