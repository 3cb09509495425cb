"""Colorize many videos: a job list from a manifest or from exemplars beside each input, run on local
devices (one worker per GPU, or one on the CPU) or on a Ray cluster (one actor per GPU), resumably.

Entry point: :func:`colormnet.batch.runner.run_batch` (``colormnet batch`` on the command line).
"""
