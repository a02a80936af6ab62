import sys

from pipecast.cli import main

sys.exit(main())
