"""Round trips: a known profile written in every supported text variant reads back right.

Formats, not files: :mod:`casip.data.synthetic` writes one known cycling profile in each
variant's layout (units, counter resets, sign convention, cycle numbering, time form,
delimiter, line endings), hypothesis draws the options and the profile, and
:func:`casip.data.read` must detect the format and give back the time series within the
written precision and every cycle's capacities within 1% of the truth.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import casip.data.synthetic_tables  # noqa: F401  (registers the declarative layouts' variants)
from casip.data import read, summary, synthetic
from casip.data.ingest import ingest_stream
from casip.data.store import Store

UNIT_WORDS = ("millivolt", "converted", "looks like")

profiles = st.builds(
    synthetic.make_profile,
    n_cycles=st.integers(1, 3),
    capacity_ah=st.sampled_from([0.002, 0.2, 3.0]),
    c_rate=st.sampled_from([1.0, 2.0]),
    sample_s=st.sampled_from([10.0, 30.0, 60.0]),
    cv=st.booleans(),
    rest_s=st.sampled_from([120.0, 300.0]),
    v_min=st.sampled_from([2.5, 3.0]),
    v_max=st.sampled_from([4.2, 4.4]),
    seed=st.integers(0, 2**16),
)


#: (variant, option, value) -> why that case fails today; left out of the drawn options (none
#: today: the tab-separated English Neware export, once claimed by ``neware-table``, is
#: ``neware-csv``'s again).
KNOWN_ISSUES: dict[tuple[str, str, object], str] = {}


def options_for(name: str) -> st.SearchStrategy[dict]:
    var = synthetic.VARIANTS[name]
    return st.fixed_dictionaries({
        k: st.sampled_from([x for x in v if (name, k, x) not in KNOWN_ISSUES])
        for k, v in var.options.items()
    })


def check_roundtrip(name: str, profile: synthetic.Profile, options: dict, folder: Path) -> None:
    var = synthetic.VARIANTS[name]
    path = synthetic.write(name, profile, folder / f"rt{var.suffix}", **options)
    test = read(path)
    assert test.provenance.format == var.format

    df = test.data
    assert len(df) == len(profile)
    tol = var.tolerance(**options)
    changed = synthetic.unit_changed(name, **options)
    v_tol = 1e-3 * 0.5e-2 + 1e-12 if changed else tol["voltage"]
    np.testing.assert_allclose(df["test_time_second"], profile.time_s - profile.time_s[0],
                               rtol=0, atol=tol["time"])
    np.testing.assert_allclose(df["current_ampere"], profile.current_a, rtol=0,
                               atol=tol["current"])
    np.testing.assert_allclose(df["voltage_volt"], profile.voltage_v, rtol=0, atol=v_tol)

    truth = profile.truth()
    cycles = summary.cycles(test)
    assert list(cycles["cycle_count"]) == list(truth["cycle_count"])
    for col in ("charge_capacity_ah", "discharge_capacity_ah"):
        np.testing.assert_allclose(cycles[col], truth[col], rtol=0.01, err_msg=col)

    unit_notes = [w for w in test.warnings if any(x in w.lower() for x in UNIT_WORDS)]
    if changed:
        assert any("millivolt" in w for w in unit_notes), test.warnings
    else:
        assert not unit_notes, test.warnings


def _roundtrip_test(name: str):
    # no "explain" phase: tracing every line of a reader while shrinking takes minutes
    @settings(max_examples=10, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow],
              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
    @given(profile=profiles, options=options_for(name))
    def run(profile, options):
        with tempfile.TemporaryDirectory() as tmp:
            check_roundtrip(name, profile, options, Path(tmp))

    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", synthetic.variant_names())
def test_roundtrip(name):
    """Hypothesis: 10 drawn option sets and profiles per variant (about 5-20 s each)."""
    _roundtrip_test(name)()


def _one_at_a_time() -> list:
    out = []
    for name in synthetic.variant_names():
        for option, values in synthetic.VARIANTS[name].options.items():
            out += [pytest.param(name, option, v, id=f"{name}-{option}={v!r}")
                    for v in values[1:] if (name, option, v) not in KNOWN_ISSUES]
    return out


@pytest.mark.parametrize(("name", "option", "value"), _one_at_a_time())
def test_each_option(name, option, value, tmp_path):
    """Every value of every knob, one at a time on the defaults (deterministic coverage)."""
    profile = synthetic.make_profile(n_cycles=2, capacity_ah=0.05, c_rate=2.0, sample_s=30,
                                     seed=3)
    check_roundtrip(name, profile, {**synthetic.VARIANTS[name].defaults(), option: value},
                    tmp_path)


@pytest.mark.parametrize("name", synthetic.variant_names())
def test_defaults_roundtrip(name, tmp_path):
    """Every variant with its default options, on a fixed profile (fast, readable failures)."""
    profile = synthetic.make_profile(n_cycles=2, capacity_ah=0.2, c_rate=1.0, sample_s=10)
    check_roundtrip(name, profile, synthetic.VARIANTS[name].defaults(), tmp_path)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("arbin-csv", {"counter_reset": "step", "current_unit": "mA", "time_unit": "hms"}),
        ("landt-csv", {"sign": "unsigned", "capacity_unit": "mAh"}),
        ("pec-csv", {"counter_reset": "cycle", "cycle_from": 0}),
        ("bdf-csv", {"names": "human"}),
    ],
)
def test_streaming_roundtrip(name, options, tmp_path):
    """The streaming store path (small batches, cut inside steps) gives the same cycles."""
    profile = synthetic.make_profile(n_cycles=3, capacity_ah=0.5, c_rate=1.0, sample_s=10,
                                     seed=7)
    path = synthetic.write(name, profile, tmp_path / f"s{synthetic.VARIANTS[name].suffix}",
                           **options)
    folder = tmp_path / "streamed"
    folder.mkdir()
    facts = ingest_stream(path, folder, batch_rows=97, streaming_only=True)  # no fallback
    assert facts["rows"] == len(profile)
    cycles = pd.read_parquet(folder / "cycles.parquet")
    truth = profile.truth()
    assert list(cycles["cycle_count"]) == list(truth["cycle_count"])
    for col in ("charge_capacity_ah", "discharge_capacity_ah"):
        np.testing.assert_allclose(cycles[col], truth[col], rtol=0.01, err_msg=col)
    ts = pd.read_parquet(folder / "timeseries.parquet")
    np.testing.assert_allclose(ts["current_ampere"], profile.current_a, rtol=0, atol=1e-5)
    whole = summary.cycles(read(path))
    np.testing.assert_allclose(cycles["discharge_capacity_ah"], whole["discharge_capacity_ah"],
                               rtol=1e-9)
    store = Store(tmp_path / "store")
    res = store.add_file(path, batch_rows=97)
    assert res.status == "ingested", res.error
    assert not [w for w in res.warnings if any(x in w.lower() for x in UNIT_WORDS)]


def test_profile_truth_is_the_integral():
    """The truth is the trapezoidal integral; counters reset as asked."""
    p = synthetic.make_profile(n_cycles=2, capacity_ah=1.0, c_rate=1.0, sample_s=10)
    truth = p.truth()
    assert truth["discharge_capacity_ah"].between(0.85, 1.0).all()
    cum = p.cumulative()
    step = p.counters("step")
    starts = p.step_starts
    assert (step["qc"][starts] == 0).all()
    # per-step counters add up to the cumulative one
    ends = np.r_[np.flatnonzero(starts)[1:] - 1, len(p) - 1]
    assert np.isclose(step["qc"][ends].sum(), cum["qc"][-1])
    assert set(np.unique(p.step_type)) <= set(synthetic.STEP_TYPES)
    assert p.cycle[0] == 1


def test_register_and_bad_options(tmp_path):
    p = synthetic.make_profile(n_cycles=1, capacity_ah=0.1, sample_s=30)
    with pytest.raises(ValueError, match="no option"):
        synthetic.write("bdf-csv", p, tmp_path / "x.csv", colour="red")
    with pytest.raises(ValueError, match="not in"):
        synthetic.write("bdf-csv", p, tmp_path / "x.csv", names="klingon")
    base = synthetic.VARIANTS["bdf-csv"]
    synthetic.register("bdf-csv-copy", synthetic.Variant(
        format="bdf-csv", options={"line_ending": ("crlf",)},
        write=lambda prof, path, line_ending: base.write(prof, path, "machine", True,
                                                         line_ending),
        tolerance=base.tolerance))
    try:
        check_roundtrip("bdf-csv-copy", p, {"line_ending": "crlf"}, tmp_path)
    finally:
        del synthetic.VARIANTS["bdf-csv-copy"]
