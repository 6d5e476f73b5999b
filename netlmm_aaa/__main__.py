from __future__ import annotations

import sys

from netlmm_aaa.cli import main

sys.exit(main())
