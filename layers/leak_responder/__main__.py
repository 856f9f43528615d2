"""``python -m leak_responder``: the same commands as the ``leak-responder`` script."""

from __future__ import annotations

import sys

from leak_responder.cli import main

if __name__ == "__main__":
    sys.exit(main())
