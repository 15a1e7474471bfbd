"""The command line every recorder shares (records.recorder): progress lines, the order runs
are recorded in, --check."""
from __future__ import annotations

import json
from pathlib import Path

import records
from records import recorder


def _experiment(tmp_path: Path, seconds: dict[str, float], log: list[str]):
    runs = {name: {"value": i} for i, name in enumerate(seconds)}

    def record(name: str, params: dict, data: Path) -> dict:
        log.append(name)
        config = {"name": name, "wall_time_s": seconds[name],
                  "code_hash": records.code_hash([], params)}
        records.write_run(Path(data) / name, config, {"step": [0]})
        return config

    return recorder.Experiment("toy.py", runs, tmp_path, (), record,
                               lambda config: f"{config['name']} done")


def test_runs_are_recorded_longest_first_with_progress(tmp_path, capsys):
    seconds = {"short": 1.0, "long": 30.0, "middle": 5.0}
    log: list[str] = []
    experiment = _experiment(tmp_path, seconds, log)
    assert recorder.main(experiment, ["--jobs", "1"]) == 0
    assert log == ["short", "long", "middle"]  # nothing recorded before: the given order
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "toy.py: recording 3 run(s), 1 at a time"
    assert out[1].startswith("[1/3] short done  (") and out[1].endswith(" s left)")
    assert out[3].startswith("[3/3] middle done  (") and out[3].endswith(", done)")
    assert recorder.main(experiment, ["--check"]) == 0
    # stale runs are recorded again, the longest of the last recording first
    log.clear()
    assert recorder.main(experiment, ["--jobs", "1", "--force"]) == 0
    assert log == ["long", "middle", "short"]
    # a run whose config.json is unreadable counts as new: first
    (tmp_path / "short" / records.CONFIG).write_text("{")
    log.clear()
    assert recorder.main(experiment, ["--jobs", "1"]) == 0
    assert log == ["short"]
    assert json.loads((tmp_path / "short" / records.CONFIG).read_text())["wall_time_s"] == 1.0


def test_the_estimate_scales_the_average_run():
    line = recorder.progress_line(2, 6, 40.0, "x")
    assert line == "[2/6] x  (40 s, about 80 s left)"
    assert recorder.progress_line(12, 12, 99.4, "y") == "[12/12] y  (99 s, done)"
