"""The Gradio page of ``colormnet ui`` and its server.

Each browser session gets a work folder under the server's temporary root (which is also Gradio's
upload cache, so results are served without copies); a new job replaces the session's previous one,
closing the tab deletes the session's files (its uploads included), and stopping the server deletes
the root. Colorization goes through :func:`colormnet.api.colorize_video`, one job at a time per
device (Gradio queue with concurrency 1, plus a per-device lock).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from colormnet.api import colorize_video, confidence_csv_path, default_output, report_path
from colormnet.config import DEFAULT_MAX_SIDE, MEMORY_PRESETS, PRECISIONS, memory_preset
from colormnet.device import autocast_dtype
from colormnet.errors import ColormnetError, InputError
from colormnet.inference.scenes import DETECTORS, SCENE_CUT_MODES, SceneDetectorConfig, scenedetect_available
from colormnet.inference.summary import DEFAULT_LOW_CONFIDENCE
from colormnet.io.frames import list_frames
from colormnet.io.video import probe
from colormnet.model.network import ColorMNet
from colormnet.ui.jobs import (
    ARCHIVE_SUFFIXES,
    Job,
    describe_report,
    device_lock,
    extract_frames,
    is_archive,
    load_exemplars,
    read_report,
)

log = logging.getLogger(__name__)

LICENCE = ("**Weights:** the authors' released ColorMNet checkpoint (Yang et al., ECCV 2024), licensed "
           "[CC BY-NC-SA 4.0](https://creativecommons.org/licenses/by-nc-sa/4.0/): non-commercial "
           "research use only, with attribution.")

INTRO = """# ColorMNet video colorization
Upload a black-and-white **video** (any common format; audio is kept) or a **.zip/.tar of frames**, and one
or more **colour exemplars**: the colour version of a frame (give its frame number, 0 = first frame) or any
colour picture of the scene (leave its number empty or `-`: a free reference used from the start).
Then press **Colorize**. Files are deleted when you close this tab; download the result first."""

_UPDATE_INTERVAL = 0.25  # seconds between page updates while a job runs


class UISession:
    """One browser tab: its work folder, its current job and the uploads it was given."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.job: Job | None = None
        self.uploads: set[Path] = set()
        self._count = 0

    def new_workdir(self) -> Path:
        """Discard the previous job (its files) and make a fresh folder for the next one."""
        if self.job is not None:
            self.job.discard()
            self.job = None
        self._count += 1
        workdir = self.root / f"job{self._count}"
        workdir.mkdir(parents=True)
        return workdir

    def close(self, upload_root: Path, in_use: set[Path] = frozenset()) -> None:
        """Stop the job and delete every file of this session, including Gradio's copies of its uploads.

        Gradio stores identical uploads once (by content hash): ``in_use`` are uploads that other open
        sessions hold, which are left in place."""
        if self.job is not None:
            self.job.discard()
        shutil.rmtree(self.root, ignore_errors=True)
        for upload in self.uploads - in_use:
            folder = upload.parent
            if folder != upload_root and upload_root in folder.parents:
                shutil.rmtree(folder, ignore_errors=True)


def _as_paths(files: Any) -> list[Path]:
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        return [Path(files)]
    return [Path(f if isinstance(f, (str, os.PathLike)) else f.name) for f in files]


def _input_name(name: str) -> str:
    low = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if low.endswith(suffix):
            return name[: len(name) - len(suffix)]
    return name


class _Prepared:
    """Validated inputs of one job (everything that can be checked before the network runs)."""

    def __init__(self, video: Any, exemplar_files: Any, frames_text: str, max_frames: float | None,
                 workdir: Path) -> None:
        paths = _as_paths(video)
        if not paths:
            raise InputError("no video: upload a black-and-white video, or a .zip/.tar of frame images")
        upload = paths[0]
        self.names = {str(upload): upload.name}
        if is_archive(upload.name):
            self.input = extract_frames(upload, workdir / "frames", upload.name)
            self.names[str(self.input)] = f"{upload.name} (extracted frames)"
            total = len(list_frames(self.input))
            self.output = workdir / f"{_input_name(upload.name)}_colorized.mp4"
        else:
            self.input = upload
            try:
                total = probe(upload).num_frames
            except ColormnetError as err:
                raise type(err)(self.shorten(str(err))) from None
            self.output = workdir / default_output(upload.name).name
        exemplar_paths = _as_paths(exemplar_files)
        self.names.update({str(p): p.name for p in exemplar_paths})
        self.exemplars = load_exemplars(exemplar_paths, frames_text or "")
        self.max_frames = int(max_frames) if max_frames and max_frames > 0 else None
        self.total = min(total, self.max_frames) if self.max_frames else total
        self.uploads = [upload, *exemplar_paths]

    def shorten(self, message: str) -> str:
        """Replace server-side temporary paths in a message by the names the user uploaded."""
        for path, name in sorted(self.names.items(), key=lambda kv: -len(kv[0])):
            message = message.replace(path, name)
        return message


def build_app(model: ColorMNet, device: torch.device, work_root: Path, *, model_note: str = "") -> Any:
    """The Gradio Blocks of the web app (not launched). ``work_root`` must lie in Gradio's upload folder."""
    upload_root = Path(os.environ.get("GRADIO_TEMP_DIR") or work_root).resolve()
    sessions: dict[str, UISession] = {}
    lock = device_lock(str(device))

    def session_for(request: gr.Request) -> UISession:
        key = request.session_hash or "anonymous"
        if key not in sessions:
            sessions[key] = UISession(work_root / f"session-{uuid.uuid4().hex[:12]}")
        return sessions[key]

    def run(video, exemplar_files, frames_text, memory, precision, max_side, max_frames, fps, scene_cuts,
            detector, confidence, low_confidence, request: gr.Request) -> Iterator[tuple]:
        session = session_for(request)
        workdir = session.new_workdir()
        try:
            autocast_dtype(precision, device)
            detector_config = SceneDetectorConfig(detector=detector or "adaptive")
            if scene_cuts not in SCENE_CUT_MODES:
                raise InputError(f"scene cuts must be one of {', '.join(SCENE_CUT_MODES)}, got {scene_cuts!r}")
            low = DEFAULT_LOW_CONFIDENCE if low_confidence is None else float(low_confidence)
            prepared = _Prepared(video, exemplar_files, frames_text, max_frames, workdir)
        except (ColormnetError, ValueError) as err:
            session.uploads.update(_as_paths(video) + _as_paths(exemplar_files))
            yield f"Error: {err}", [], None, None, None
            return
        session.uploads.update(prepared.uploads)
        out = prepared.output
        conf_path = out.with_name(f"{out.stem}_confidence.mp4") if confidence else None

        def work(on_frame) -> Path:
            try:
                return colorize_video(prepared.input, prepared.exemplars, out, model=model,
                                      device=str(device), precision=precision, memory=memory_preset(memory),
                                      max_side=int(max_side or 0), fps=float(fps or 25),
                                      max_frames=prepared.max_frames, progress=False, on_frame=on_frame,
                                      scene_cuts=scene_cuts, scene_detector=detector_config,
                                      confidence=conf_path, low_confidence=low, report=True)
            except ColormnetError as err:
                raise type(err)(prepared.shorten(str(err))) from None

        job = session.job = Job(work, workdir, lock, total=prepared.total).start()
        shown: tuple[Path, ...] = ()
        while True:
            state = job.wait(1.0)
            status = "Cancelling after the current frame..." if job.cancelling else state.describe()
            previews = [str(p) for p in state.previews] if state.previews != shown else gr.skip()
            shown = state.previews
            if state.finished:
                result = str(state.output) if state.output else None
                extras = None
                if state.output is not None:
                    report = report_path(state.output)
                    status = f"{status}\n\n{describe_report(read_report(report))}"
                    files = ([conf_path, confidence_csv_path(conf_path)] if conf_path else []) + [report]
                    extras = [str(p) for p in files if p.is_file()]
                yield status, [str(p) for p in state.previews], result, result, extras
                return
            yield status, previews, None, None, None
            time.sleep(_UPDATE_INTERVAL)

    def cancel(request: gr.Request) -> str:
        session = sessions.get(request.session_hash or "anonymous")
        job = session.job if session is not None else None
        if job is None or job.state.finished:
            return gr.skip()
        job.cancel()
        return "Cancelling after the current frame..."

    def close(request: gr.Request) -> None:
        session = sessions.pop(request.session_hash or "anonymous", None)
        if session is not None:
            session.close(upload_root, {p for other in list(sessions.values()) for p in other.uploads})

    with gr.Blocks(title="ColorMNet", analytics_enabled=False, delete_cache=(900, 3600)) as app:
        gr.Markdown(INTRO)
        gr.Markdown(f"{LICENCE} {model_note}".strip(), elem_id="licence")
        with gr.Row():
            with gr.Column():
                video = gr.File(label="Black-and-white video, or .zip/.tar of frames", elem_id="input-video")
                exemplars = gr.File(label="Colour exemplar image(s)", file_count="multiple", file_types=["image"],
                                    elem_id="exemplars")
                frames = gr.Textbox(value="0", label="Frame number of each exemplar (in upload order)",
                                    info="e.g. '0' or '0, 120, -'. Empty or '-' = a free reference used from "
                                         "the start.", elem_id="exemplar-frames")
                with gr.Accordion("Options", open=False, elem_id="options"):
                    memory = gr.Dropdown(list(MEMORY_PRESETS), value="balanced", label="Memory preset",
                                         info="balanced = the paper; low-memory for long/large clips; quality "
                                              "is slower")
                    precision = gr.Dropdown(list(PRECISIONS), value="fp32", label="Precision",
                                            info="fp16 needs a GPU")
                    max_side = gr.Number(DEFAULT_MAX_SIDE, precision=0, minimum=0, label="Max side (pixels)",
                                         info="larger frames run the network at this size; 0 = native")
                    max_frames = gr.Number(0, precision=0, minimum=0, label="Only the first N frames",
                                           info="0 = all frames")
                    fps = gr.Number(25, minimum=1, label="Frame rate of a frame archive")
                with gr.Accordion("Films: scene cuts and confidence", open=False, elem_id="films-options"):
                    has_detector = scenedetect_available()
                    scene_cuts = gr.Radio(list(SCENE_CUT_MODES), value="report" if has_detector else "off",
                                          label="Scene cuts", elem_id="scene-cuts",
                                          info="report: find shot cuts and list them; reset: also start each shot "
                                               "afresh (memory cleared, exemplars kept); off: no detection"
                                               + ("" if has_detector else ". Not installed on this server: "
                                                  "pip install 'colormnet[scenes]'"))
                    detector = gr.Radio(list(DETECTORS), value="adaptive", label="Shot detector",
                                        elem_id="detector",
                                        info="adaptive: robust to camera motion; content: absolute change")
                    confidence = gr.Checkbox(False, label="Confidence video and per-frame CSV",
                                             elem_id="confidence",
                                             info="white = sure; offered for download beside the result")
                    low_confidence = gr.Number(DEFAULT_LOW_CONFIDENCE, minimum=0, maximum=1,
                                               label="Low-confidence threshold",
                                               info="shots whose mean confidence is below this are listed as "
                                                    "needing an exemplar")
                with gr.Row():
                    run_button = gr.Button("Colorize", variant="primary", elem_id="run")
                    cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel")
                gr.Markdown(f"Device: `{device}` · one job at a time; others wait in the queue.")
            with gr.Column():
                status = gr.Markdown("Upload a video and an exemplar, then press Colorize.", elem_id="status")
                preview = gr.Gallery(label="First coloured frames", columns=4, height=300, object_fit="contain",
                                     elem_id="preview")
                result_video = gr.Video(label="Result", elem_id="result-video", interactive=False)
                result_file = gr.File(label="Download the result", elem_id="result-file", interactive=False)
                extras_file = gr.File(label="Run report (JSON), and the confidence video and CSV when asked for",
                                      file_count="multiple", elem_id="result-extras", interactive=False)
        inputs = [video, exemplars, frames, memory, precision, max_side, max_frames, fps, scene_cuts, detector,
                  confidence, low_confidence]
        run_button.click(run, inputs, [status, preview, result_video, result_file, extras_file], concurrency_limit=1,
                         concurrency_id=f"device-{device}", show_progress="minimal")
        cancel_button.click(cancel, None, status, queue=False, show_progress="hidden")
        app.unload(close)
    app.colormnet_sessions = sessions  # for shutdown and tests
    return app


def serve(model: ColorMNet, device: torch.device, root: Path, host: str = "127.0.0.1", port: int = 7860, *,
          model_note: str = "") -> None:
    """Run the app until Ctrl-C or SIGTERM, then delete ``root`` (everything the server wrote).

    ``root`` must be Gradio's upload folder: ``$GRADIO_TEMP_DIR`` set before Gradio was imported
    (see ``colormnet.cli.ui``)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own startup requests
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = None
    try:
        app = build_app(model, device, root / "sessions", model_note=model_note)
        app.queue()
        theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                                  font_mono=["ui-monospace", "monospace"])  # no web fonts: works offline
        try:
            app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, theme=theme,
                       footer_links=[], show_error=False)
        except OSError as err:
            raise InputError(f"cannot serve on {host}:{port} ({err}); choose another --port") from None
        print(f"colormnet ui: serving on http://{host}:{port} (Ctrl-C to stop)", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if app is not None:
            app.close()
            for session in list(getattr(app, "colormnet_sessions", {}).values()):
                session.close(root)
        shutil.rmtree(root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
        print("colormnet ui: stopped; temporary files deleted", flush=True)
