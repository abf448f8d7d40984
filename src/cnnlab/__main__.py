"""``python -m cnnlab ...`` is the ``cnnlab`` command (and ``torchrun ... -m cnnlab train`` runs DDP)."""

import sys

from cnnlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
