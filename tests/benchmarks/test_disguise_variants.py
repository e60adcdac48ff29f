"""The variants benchmark's cache: each thing that does not depend on the variant is made once."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import _disguise_data as dd
import disguise_variants as dv


def test_a_kept_value_is_made_once_and_read_back(tmp_path: Path) -> None:
    calls = []

    def make() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"a": np.arange(5.0)}

    first = dd.kept(tmp_path, "x.pkl", make)
    again = dd.kept(tmp_path, "x.pkl", make)
    assert len(calls) == 1 and np.array_equal(first["a"], again["a"])
    assert [p.name for p in tmp_path.iterdir()] == ["x.pkl"]  # no partial file left
    assert dd.kept(None, "x.pkl", make) is not None and len(calls) == 2


def test_every_variant_is_a_valid_configuration_with_its_own_options() -> None:
    from overheard.protect import disguise as dg

    configs = {name: dg.KnnConfig(**options) for name, options in dv.VARIANTS.items()}
    assert len(set(configs.values())) == len(configs)
    v4 = configs["v4: tiny.en, k=4, mean"]
    assert (v4.k, v4.context, v4.smooth_frames, v4.source_aperiodicity) == (4, 0, 1, False)


def test_the_held_out_benchmark_measures_the_variant_chosen_on_the_tuning_half() -> None:
    import disguise as bench

    from overheard.protect import disguise as dg

    assert dg.KnnConfig(**dv.VARIANTS["tiny.en, k=8, smooth 15 ms"]) == bench.KNN_K8_SMOOTH
    assert dg.KnnConfig(**dv.VARIANTS["v4: tiny.en, k=4, mean"]) == bench.KNN_V4
    assert "knnvc k=8, smooth 15 ms" in bench.CONFIGS
