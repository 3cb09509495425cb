"""``python -m colormnet``: the same as the ``colormnet`` command."""

from colormnet.cli import main

raise SystemExit(main())
