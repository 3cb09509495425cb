"""Training: the video dataset (``dataset``, ``augment``), the training forward (``forward``), the loop
(``trainer``), checkpoints and validation (``checkpoint``), configuration (``config``) and
initialisation from released or ImageNet weights (``init_weights``). Entry points: ``colormnet train``
and ``torchrun -m colormnet train``."""
