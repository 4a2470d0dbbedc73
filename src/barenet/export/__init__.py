"""Models out of barenet and back: the native .npz format (no pickle), ONNX and the playground page."""

from .onnx import save_onnx, to_onnx
from .playground import playground_html

__all__ = ["playground_html", "save_onnx", "to_onnx"]
