"""``colormnet inspect features``: PCA maps of the key encoder's features for one image (supplement Fig. 1)."""

from __future__ import annotations

import argparse

_EPILOG = """\
panels: the input's lightness, then the first three principal components (as RGB, computed over the
1/16 grid and upsampled) of: the ResNet-50 stage-3 features, the DINOv2 features, their
concatenation, and the key encoder's output at 1/16 (the fused PVGFE feature of the paper). Each
extra --weights FILE of a trained variant ('colormnet train key_encoder=resnet ...'; the file records
its network) adds that variant's own panels.

weights: --weights FILE (repeatable), else $COLORMNET_WEIGHTS or the cache (never downloaded here);
--recipe-weights uses the parity fixtures' deterministic weights (pipeline check: maps NOT meaningful).
--variant SPEC builds an ablation variant (e.g. resnet, dino, concat, 'pvgfe,no-la') and fills it with
what it shares with the weights file (reported), for comparison without training it.

example:
  colormnet inspect features frame.jpg -o pca.png --weights colormnet.pth
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` command (subcommand ``features``)."""
    p = sub.add_parser("inspect", help="look inside the network (PCA feature maps)",
                       description="Inspect the network. 'features': PCA maps of the key encoder's features.")
    inner = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    f = inner.add_parser("features", help="PCA maps of the key features of one image",
                         description="Write a figure of the 3-component PCA maps of the key encoder's "
                                     "features for IMAGE (supplement Fig. 1).",
                         epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("image", help="image file (colour or gray; only its lightness is used)")
    f.add_argument("-o", "--output", required=True, metavar="FIGURE.png", help="figure to write (PNG)")
    w = f.add_mutually_exclusive_group()
    w.add_argument("--weights", action="append", metavar="FILE",
                   help="checkpoint; repeat to compare trained variants (default: $COLORMNET_WEIGHTS or the cache)")
    w.add_argument("--recipe-weights", action="store_true",
                   help="deterministic pseudo-random weights (pipeline check; maps not meaningful)")
    f.add_argument("--variant", metavar="SPEC",
                   help="build this ablation variant and load what it shares with the weights (e.g. resnet)")
    f.add_argument("--max-side", type=int, default=896, metavar="PIXELS",
                   help="resize the image so its longer side is at most this (default 896)")
    f.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    f.add_argument("--overwrite", action="store_true", help="replace an existing figure")
    f.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from colormnet.device import resolve_device
    from colormnet.inference.features import feature_figure, key_feature_maps, matplotlib_pyplot
    from colormnet.io.atomic import check_output_path
    from colormnet.io.images import load_frame_rgb
    from colormnet.model.network import ColorMNet
    from colormnet.model.variants import config_from_file, load_shared, parse_variant, variant_name
    from colormnet.models import build_model
    from colormnet.weights import load_state_dict_file, resolve_weights

    out = Path(args.output)
    check_output_path(out, inputs=(args.image, *(args.weights or [])), overwrite=args.overwrite)
    matplotlib_pyplot()
    rgb = load_frame_rgb(args.image)
    h, w = rgb.shape[:2]
    if args.max_side and max(h, w) > args.max_side:
        scale = args.max_side / max(h, w)
        rgb = np.asarray(Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                     Image.BICUBIC))
    device = resolve_device(args.device)
    panels, sources = [], []
    files = args.weights or [None]
    for i, weights in enumerate(files):
        if args.variant:
            path = None if args.recipe_weights else resolve_weights(weights, download=False)
            base = config_from_file(path) if path else None
            cfg = parse_variant(args.variant, base)
            if args.recipe_weights:
                from colormnet.testing.recipe import recipe_state_dict

                state, source = recipe_state_dict(ColorMNet()), "recipe"
            else:
                state, source = load_state_dict_file(path), str(path)
            model = ColorMNet(cfg).eval()
            report = load_shared(model, state, source)
            model = model.to(device)
            label = f"shared {len(report.loaded)}/{len(model.state_dict())} tensors of {Path(source).name}"
        else:
            model = build_model("recipe" if args.recipe_weights else "colormnet", weights=weights, device=device)
            label = model.weights_source
            if label == "recipe":
                label = "recipe weights (NOT meaningful)"
        name = variant_name(model.cfg)
        prefix = name if len(files) > 1 or args.variant or model.cfg.is_variant else ""
        panels += key_feature_maps(model, rgb, prefix if len(files) == 1 else f"[{i + 1}] {prefix}")
        sources.append(f"[{i + 1}] {name}: {label}" if len(files) > 1 else f"{name}: {label}")
    caption = (f"PCA of key features of {Path(args.image).name} ({rgb.shape[1]}x{rgb.shape[0]}): first 3 principal "
               "components as RGB over the 1/16 grid, each stretched to its 1-99% range, upsampled. "
               "Weights: " + "; ".join(sources))
    feature_figure(rgb, panels, out, caption)
    print(out)
    return 0
