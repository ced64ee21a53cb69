"""``python -m bench.soak`` (``make soak``)."""

from __future__ import annotations

import sys

from bench.soak import main

sys.exit(main())
