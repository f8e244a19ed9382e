"""python -m sandbox up|down|status"""

import sys

from sandbox.cli import main

sys.exit(main())
