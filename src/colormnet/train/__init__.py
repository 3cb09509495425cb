"""Training support: the video dataset (``dataset``) and its clip-consistent augmentations (``augment``)."""
