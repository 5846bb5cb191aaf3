"""``python -m odinpaint`` (and ``torchrun -m odinpaint``) run the command line."""

import sys

from odinpaint.cli import main

sys.exit(main())
