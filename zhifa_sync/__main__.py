"""``python -m zhifa_sync`` is ``zhifa-sync``."""

import sys

from zhifa_sync.cli import main

sys.exit(main())
