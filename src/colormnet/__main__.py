"""``python -m colormnet COMMAND ...`` (the same as the ``colormnet`` command; also the torchrun entry
point: ``torchrun --nproc_per_node N -m colormnet train --config FILE``)."""

import sys

from colormnet.cli import main

sys.exit(main())
