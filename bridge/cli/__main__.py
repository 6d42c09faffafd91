"""``python -m bridge.cli`` runs the ``strum`` command."""

import sys

from bridge.cli import main

sys.exit(main())
