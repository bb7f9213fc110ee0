import sys

from tierlib.cli import main

sys.exit(main())
