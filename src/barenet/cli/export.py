"""``barenet export RUN --format onnx|html|npz [-o FILE]``: a trained model for use elsewhere."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_command, console_for, print_json


def add_parser(sub: Any) -> None:
    p = add_command(sub, "export", cmd_export,
                    help="write a model as ONNX, as a playground page, or as .npz")
    p.add_argument("model", help="a run directory or a model.npz file")
    p.add_argument("--format", choices=("onnx", "html", "npz"), default="onnx",
                   help="onnx: one graph with the input scaling (needs barenet[onnx]); html: a "
                        "self-contained page to draw digits; npz: a copy of the native model file")
    p.add_argument("-o", "--out", help="the file to write (default: RUN/model.onnx, "
                                       "RUN/playground.html; required for npz)")
    p.add_argument("--input-dtype", choices=("float", "uint8"), default="float",
                   help="onnx: the input's element type (float: the model's dtype)")
    p.add_argument("--input-shape", choices=("flat", "image"), default="flat",
                   help="onnx: the input's shape, (N, 784) or (N, 28, 28)")


def cmd_export(args: argparse.Namespace) -> int:
    from ..run.exports import export_run

    path = export_run(args.model, args.format, args.out, input_dtype=args.input_dtype,
                      input_shape=args.input_shape)
    size = path.stat().st_size
    if args.json:
        print_json({"format": args.format, "file": str(path), "bytes": size})
        return 0
    console_for(args).print(f"wrote {path} ({size:,} bytes)", markup=False)
    return 0
