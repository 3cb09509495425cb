"""Media input/output: exemplar and frame images, frame folders, video files (streaming, atomic writes)."""

from colormnet.io.frames import FrameFolderReader, FrameFolderWriter, list_frames, natural_key
from colormnet.io.images import (
    is_grayscale_rgb,
    load_exemplar,
    load_frame_rgb,
    resize_exemplar,
)
from colormnet.io.video import DecodedFrame, VideoInfo, VideoReader, VideoWriter, probe

__all__ = [
    "DecodedFrame",
    "FrameFolderReader",
    "FrameFolderWriter",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "is_grayscale_rgb",
    "list_frames",
    "load_exemplar",
    "load_frame_rgb",
    "natural_key",
    "probe",
    "resize_exemplar",
]
