"""Models out of barenet and back: the native .npz format (no pickle)."""
