"""`colormnet batch`: job lists, local runs through the CLI, and a local Ray cluster on the CPU."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colormnet.batch.execute import ModelSource
from colormnet.batch.jobs import jobs_from_inputs, load_manifest, sidecar_exemplars
from colormnet.batch.runner import run_batch
from colormnet.cli import main
from colormnet.errors import InputError
from colormnet.io.video import probe
from tests.media import make_gray_clip

TINY = ModelSource(factory="colormnet.testing.models:tiny_model")


def _ref(path: Path) -> Path:
    rgb = np.zeros((24, 40, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, np.arange(40, dtype=np.uint8)[None, :] * 5
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture()
def three_clips(tmp_path) -> list[Path]:
    """Two good clips with exemplars beside them (a@0.png, b.png) and one broken 'video' (c.mp4)."""
    src = tmp_path / "in"
    src.mkdir()
    a = make_gray_clip(src / "a.mp4", n=5, w=40, h=24)
    b = make_gray_clip(src / "b.mkv", n=4, w=40, h=24)
    _ref(src / "a@0.png")
    _ref(src / "b.png")
    c = src / "c.mp4"
    c.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    _ref(src / "c.png")
    return [a, b, c]


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "batch_summary.csv", newline="") as f:
        return {Path(row["input"]).name: row for row in csv.DictReader(f)}


def test_sidecar_exemplars(tmp_path):
    clip = tmp_path / "reel.mp4"
    clip.touch()
    for name in ("reel.png", "reel@12.jpg", "reel@3.png", "reel2.png", "other@0.png", "reel@x.png"):
        (tmp_path / name).touch()
    assert sidecar_exemplars(clip) == (str(tmp_path / "reel.png"), f"{tmp_path / 'reel@3.png'}@3",
                                       f"{tmp_path / 'reel@12.jpg'}@12")
    folder = tmp_path / "frames"
    folder.mkdir()
    (tmp_path / "frames@0.png").touch()
    assert sidecar_exemplars(folder) == (f"{tmp_path / 'frames@0.png'}@0",)
    jobs = jobs_from_inputs([clip, folder, tmp_path / "x.avi"], tmp_path / "out")
    assert [j.output for j in jobs] == [tmp_path / "out" / "reel.mp4", tmp_path / "out" / "frames",
                                        tmp_path / "out" / "x.avi"]


def test_manifest_csv_and_jsonl(tmp_path):
    (tmp_path / "m.csv").write_text(
        "input,exemplar,exemplar2,output,options\n"
        "v/a.mp4,r/a0.png@0;r/a9.png@9,r/extra.jpg,a_colour.mp4,max_side=640 memory=low-memory\n"
        "# a comment line\n"
        "/abs/b.mp4,,,,\n")
    jobs = load_manifest(tmp_path / "m.csv", tmp_path / "out")
    assert jobs[0].input == tmp_path / "v/a.mp4"
    assert jobs[0].exemplars == (f"{tmp_path}/r/a0.png@0", f"{tmp_path}/r/a9.png@9", f"{tmp_path}/r/extra.jpg")
    assert jobs[0].output == tmp_path / "out" / "a_colour.mp4"
    assert jobs[0].options == {"max_side": 640, "memory": "low-memory"}
    assert jobs[1].input == Path("/abs/b.mp4") and jobs[1].exemplars == () and jobs[1].options == {}
    assert jobs[1].output == tmp_path / "out" / "b.mp4"

    (tmp_path / "m.jsonl").write_text(
        json.dumps({"input": "a.mp4", "exemplar": ["x.png@0", "y.png"], "options": {"precision": "bf16",
                                                                                    "no-long-term": True}})
        + "\n\n" + json.dumps({"input": "b", "exemplars": "z.png", "output": "/o/b_out"}) + "\n")
    jobs = load_manifest(tmp_path / "m.jsonl", tmp_path / "out")
    assert jobs[0].exemplars == (f"{tmp_path}/x.png@0", f"{tmp_path}/y.png")
    assert jobs[0].options == {"precision": "bf16", "no_long_term": True}
    assert jobs[1].output == Path("/o/b_out")


@pytest.mark.parametrize(("text", "message"), [
    ("file,exemplar\na.mp4,r.png\n", "header with an 'input' column"),
    ("input,exemplar,options\na.mp4,r.png,max_sid=3\n", "row 2: unknown option 'max_sid'"),
    ("input,exemplar,options\na.mp4,r.png,crf=high\n", "option crf='high' is not a valid int"),
    ("input,exemplar,options\na.mp4,r.png,memory=huge\n", "memory preset 'huge' unknown"),
    ("input,exemplar\n", "lists no inputs"),
    ("input,exemplar,output\na.mp4,r.png,same.mp4\nb.mp4,r.png,same.mp4\n", "would both be written"),
])
def test_manifest_errors_exit_2(tmp_path, capsys, text, message):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(text)
    assert main(["batch", "--manifest", str(manifest), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "a.mp4").exists()


def test_manifest_missing(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_manifest(tmp_path / "nope.jsonl", tmp_path)


def test_local_cli_run_resumes_and_isolates_failures(three_clips, tmp_path, monkeypatch, tiny_model, capsys):
    loads = []
    monkeypatch.setattr("colormnet.models.build_model", lambda *a, **k: loads.append(a) or tiny_model)
    out = tmp_path / "out"
    argv = ["batch", *map(str, three_clips), "--out", str(out), "--device", "cpu", "--quiet"]
    assert main(argv) == 1  # one input failed
    printed = capsys.readouterr().out
    assert "2 done, 1 failed" in printed
    rows = _summary(out)
    assert {n: r["status"] for n, r in rows.items()} == {"a.mp4": "done", "b.mkv": "done", "c.mp4": "failed"}
    assert rows["a.mp4"]["frames"] == "5" and rows["b.mkv"]["frames"] == "4"
    assert float(rows["a.mp4"]["s_per_frame"]) > 0
    assert "c.mp4" in rows["c.mp4"]["error"] and "not a video" in rows["c.mp4"]["error"]
    assert probe(out / "a.mp4").num_frames == 5 and probe(out / "b.mkv").num_frames == 4
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv", "batch_summary.csv", "batch_summary.md"]
    assert "| c.mp4" not in (out / "batch_summary.md").read_text()  # full paths in the table
    assert "2 done, 1 failed" in (out / "batch_summary.md").read_text()

    # re-run without the broken input: nothing to do, the model is not even loaded, outputs untouched
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("[ab].*")}
    loads.clear()
    assert main(["batch", *map(str, three_clips[:2]), "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    assert loads == []
    assert {n: r["status"] for n, r in _summary(out).items()} == {"a.mp4": "skipped", "b.mkv": "skipped"}
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("[ab].*")}


def test_ray_flag_before_inputs(tmp_path, monkeypatch):
    """'--ray a.mp4 b.mp4': the first input is not taken for the cluster address."""
    seen = {}
    monkeypatch.setattr("colormnet.batch.runner.run_batch", lambda jobs, out, **kw: seen.update(jobs=jobs, **kw) or [])
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).touch()
    assert main(["batch", "--ray", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--out", str(tmp_path / "o")]) == 0
    assert [j.input.name for j in seen["jobs"]] == ["a.mp4", "b.mp4"]
    assert seen["ray"] is True and seen["ray_address"] is None


def test_input_without_exemplar_fails_alone(tmp_path, monkeypatch, tiny_model, capsys):
    monkeypatch.setattr("colormnet.models.build_model", lambda *a, **k: tiny_model)
    clip = make_gray_clip(tmp_path / "lonely.mp4", n=3, w=40, h=24)
    assert main(["batch", str(clip), "--out", str(tmp_path / "o"), "--device", "cpu", "--quiet"]) == 1
    assert "no exemplar given" in _summary(tmp_path / "o")["lonely.mp4"]["error"]


def test_ray_local_cluster(three_clips, tmp_path, monkeypatch):
    """Three clips on a local Ray cluster (CPU actors): the broken one fails, the others finish, and a
    re-run skips the finished ones (their files untouched) and only retries the broken one."""
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    out = tmp_path / "out"
    jobs = jobs_from_inputs(three_clips, out, {"max_side": 0})
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False)
    try:  # the command line on the cluster this test started (the command then leaves it running)
        assert main(["batch", "--ray", *map(str, three_clips), "--out", str(out), "--ray-workers", "2",
                     "--max-side", "0", "--model-factory", TINY.factory, "--quiet"]) == 1
        rows = _summary(out)
        assert {n: (r["status"], r["frames"]) for n, r in rows.items()} == {
            "a.mp4": ("done", "5"), "b.mkv": ("done", "4"), "c.mp4": ("failed", "")}
        assert "not a video" in rows["c.mp4"]["error"]
        assert all(r["worker"].endswith(":cpu") for r in rows.values())  # host:device of the Ray actor
        assert probe(out / "a.mp4").num_frames == 5 and probe(out / "b.mkv").num_frames == 4
        stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("[ab].*")}
        again = run_batch(jobs, out, source=TINY, ray=True, progress=False)
        assert [r.status for r in again] == ["skipped", "skipped", "failed"]
        assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("[ab].*")}
        assert ray.is_initialized()  # a cluster the caller started is left running
        # a worker that cannot build its model fails its jobs with the reason (not a bare actor death)
        bad = ModelSource(factory="colormnet.testing.models:no_such_factory")
        failed = run_batch(jobs_from_inputs(three_clips[:2], tmp_path / "o2"), tmp_path / "o2", source=bad,
                           ray=True, progress=False)
        assert [r.status for r in failed] == ["failed", "failed"]
        assert all("could not load the model" in r.error and "no_such_factory" in r.error for r in failed)
    finally:
        ray.shutdown()
    assert {n: r["status"] for n, r in _summary(out).items()} == {"a.mp4": "skipped", "b.mkv": "skipped",
                                                                  "c.mp4": "failed"}


def test_local_threads_one_per_device(three_clips, tmp_path):
    """Several local devices: one thread per device shares the queue (two CPU 'devices' here)."""
    from colormnet.batch.local import run_local

    got = []
    jobs = jobs_from_inputs(three_clips, tmp_path / "o")
    (tmp_path / "o").mkdir()
    run_local(jobs, TINY, ["cpu", "cpu"], overwrite=False, on_result=got.append)
    assert sorted((Path(r.input).name, r.status) for r in got) == [("a.mp4", "done"), ("b.mkv", "done"),
                                                                    ("c.mp4", "failed")]
    assert probe(tmp_path / "o" / "a.mp4").num_frames == 5


@pytest.mark.parametrize(("gpus", "jobs", "workers", "plan"), [
    (0, 3, None, (1, 0)),  # no GPU: one CPU actor
    (0, 3, 2, (2, 0)),  # --ray-workers on CPU
    (0, 1, 4, (1, 0)),  # never more actors than jobs
    (4.0, 10, None, (4, 1)),  # one actor per GPU, each reserving one GPU
    (4, 2, None, (2, 1)),
    (2, 10, 1, (1, 1)),  # --ray-workers lowers the count
    (2, 10, 5, (2, 1)),  # but never above the GPUs (a third actor would wait for a GPU forever)
])
def test_actor_plan(gpus, jobs, workers, plan):
    from colormnet.batch.cluster import plan_actors

    got = plan_actors(gpus, jobs, workers)
    assert (got.count, got.num_gpus) == plan and got.num_cpus == 1 and got.use_gpu == bool(gpus)


def test_actor_device():
    from colormnet.batch.cluster import actor_device

    assert actor_device(True, True) == "cuda:0"  # the actor's own GPU, whatever its number on the node
    assert actor_device(True, False) == "cpu"
    assert actor_device(False, True) == "cpu"


def _ray_gpu_run(tmp_path, clips, init: dict):
    """Run ``clips`` with ``run_batch(ray=True)`` on a local cluster started with ``init``."""
    ray = pytest.importorskip("ray")
    out = tmp_path / "out"
    ray.init(include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False, **init)
    try:
        return run_batch(jobs_from_inputs(clips, out, {"max_side": 0}), out, source=TINY, ray=True, progress=False)
    finally:
        ray.shutdown()


def test_ray_gpu_actors_with_declared_gpus(three_clips, tmp_path, monkeypatch):
    """The GPU-actor path on a CPU machine: a local cluster that declares two GPUs gets two actors, each
    holding one of them (Ray's GPU ids 0 and 1); with no CUDA device the actors run on the CPU."""
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    if torch.cuda.is_available():
        pytest.skip("a real GPU is present: test_ray_gpu_actors_on_cuda covers it")
    results = _ray_gpu_run(tmp_path, three_clips[:2], {"num_cpus": 2, "num_gpus": 2})
    assert [(r.status, r.frames) for r in results] == [("done", 5), ("done", 4)]
    assert all(r.worker.split(" ")[0].endswith(":cpu") for r in results)
    workers = [r.worker for r in results]
    assert sorted(w.partition(" [")[2] for w in workers) == ["Ray GPU 0]", "Ray GPU 1]"], workers


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_ray_gpu_actors_on_cuda(three_clips, tmp_path, monkeypatch):
    """On a GPU machine: one actor per GPU, each on cuda:0 of its own GPU."""
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    results = _ray_gpu_run(tmp_path, three_clips[:2], {"num_cpus": 2})
    assert [(r.status, r.frames) for r in results] == [("done", 5), ("done", 4)], [r.error for r in results]
    assert all(":cuda:0 [Ray GPU " in r.worker for r in results)
    actors = {r.worker for r in results}
    assert len(actors) == min(2, torch.cuda.device_count())
