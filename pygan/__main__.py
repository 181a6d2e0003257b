import sys

from pygan.cli import main

sys.exit(main())
