"""`map` refuses bad input with a clear message, exit code 2 and no output under a final name."""

from __future__ import annotations

import datetime as dt

import pytest
from rasterio.transform import from_origin
from test_map_fixtures import (  # env and model are module-scoped fixtures
    DATES,
    env,  # noqa: F401 (fixture)
    final_names,
    map_args,
    model,  # noqa: F401 (fixture)
    run_backend,
    scene,
    write_series,
)


@pytest.mark.parametrize("case", ["season", "dates", "grid", "tile", "nodata"])
def test_bad_input_is_refused_without_outputs(tmp_path, model, env, case):
    inputs = scene(tmp_path / "in", height=40, width=40, nodata_rows=40 if case == "nodata" else 0)
    expected = {"season": "holds no acquisition", "dates": "different dates", "grid": "grid",
                "tile": "--tile 30", "nodata": "nodata"}[case]
    args = map_args(model, inputs, tmp_path / "out")
    if case == "season":
        args[args.index("--season") + 1:args.index("--season") + 3] = ["2023-01-01", "2023-03-01"]
    elif case == "dates":
        shifted = [d + dt.timedelta(days=1) for d in DATES]
        args[args.index("--vh") + 1] = str(write_series(tmp_path / "VH_other.tif", "VH", 40, 40, dates=shifted))
    elif case == "grid":
        moved = from_origin(560100.0, 1160000.0, 10.0, 10.0)
        args[args.index("--vh") + 1] = str(write_series(tmp_path / "VH_moved.tif", "VH", 40, 40, transform=moved))
    elif case == "tile":
        args[args.index("--tile") + 1] = "30"
    result = run_backend(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert final_names(tmp_path / "out") == []


def test_old_results_need_overwrite(tmp_path, model, env):
    inputs = scene(tmp_path / "in", height=24, width=24)
    out = tmp_path / "out"
    assert run_backend(*map_args(model, inputs, out), env=env).returncode == 0
    before = (out / "run.json").read_text()
    again = run_backend(*map_args(model, inputs, out), env=env)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (out / "run.json").read_text() == before
    assert run_backend(*map_args(model, inputs, out, "--overwrite"), env=env).returncode == 0


def test_full_disk_gives_a_clear_message(tmp_path, model, env):
    import resource
    import signal

    inputs = scene(tmp_path / "in", height=400, width=400)

    def small_file_limit():  # writes past 64 kB fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    result = run_backend(*map_args(model, inputs, tmp_path / "out", "--no-heatmap"), env=env,
                         preexec_fn=small_file_limit)
    assert result.returncode == 2, result.stderr
    assert "disk is full" in result.stderr
    assert final_names(tmp_path / "out") == []


def test_missing_default_model_says_how_to_get_one(tmp_path, env):
    from backend.errors import UserError
    from backend.inference.loader import default_model_name

    try:
        name = default_model_name()
    except UserError:
        name = None
    if name is not None:
        pytest.skip(f"a default model ({name}) is installed in models/")
    result = run_backend("map", *scene(tmp_path / "in", height=16, width=16), "--out", str(tmp_path / "out"),
                         env=env)
    assert result.returncode == 2 and "make pretrain" in result.stderr
    assert final_names(tmp_path / "out") == []
