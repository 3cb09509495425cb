"""``colormnet ui``: the web app (Gradio, extra ``ui``)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from colormnet.cli.options import add_weights_arguments
from colormnet.errors import InputError

_EPILOG = """\
The page takes a video (audio kept) or a .zip/.tar of frames and one or more colour exemplars,
with colorize's options (memory preset, precision, max side, scene cuts off/report/reset and the
shot detector, confidence output and threshold), shows progress (frames, fps, time left) and the
first coloured frames while it runs, and offers the result for download with its run report (and
the confidence video and CSV when asked for); the scene cuts found and the shots that would benefit
from an exemplar are listed on the page. One job runs at a time on the device; other users wait in the queue.
Uploads and results are deleted when a browser tab closes and when the server stops.

Serving on 0.0.0.0 makes the app reachable from other machines: anyone who can reach the port can
use the device. The weights (CC BY-NC-SA 4.0) are resolved as for 'colormnet colorize'.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="web app: colorize videos from the browser (needs the 'ui' extra)",
                       description="Start the ColorMNet web app (Gradio) and print its address.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    add_weights_arguments(p)
    # tests and offline demos: build the network with MODULE:FUNC instead of loading the released weights
    p.add_argument("--model-factory", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:  # not imported here: serve() configures it first
        raise InputError("the web app needs Gradio: pip install 'colormnet[ui]'")
    from colormnet.batch.execute import ModelSource
    from colormnet.device import resolve_device

    if args.model_factory and ":" not in args.model_factory:
        raise InputError(f"--model-factory {args.model_factory!r}: expected MODULE:FUNCTION")
    device = resolve_device(args.device)
    model = ModelSource(args.weights, not args.no_download, args.model_factory).build(device)
    note = (f"(This server runs a test model from `{args.model_factory}`, not the released weights.)"
            if args.model_factory else "")
    # Gradio's upload/cache folder is fixed when it is imported: make it ours, deleted on exit
    root = Path(tempfile.mkdtemp(prefix="colormnet-ui-", dir=os.environ.get("GRADIO_TEMP_DIR"))).resolve()
    os.environ["GRADIO_TEMP_DIR"] = str(root)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from colormnet.ui.app import serve
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    serve(model, device, root, args.host, args.port, model_note=note)
    return 0
