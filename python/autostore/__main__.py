"""``python -m autostore``: the ``autostore`` command (see :mod:`autostore.cli`)."""

from __future__ import annotations

import sys

from autostore.cli import main

if __name__ == "__main__":
    sys.exit(main())
