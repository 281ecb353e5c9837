"""``python -m ltcbridge.cli``: the same as the ``ltcbridge`` command."""

import sys

from ltcbridge.cli.app import main

sys.exit(main())
