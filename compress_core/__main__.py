import sys

from compress_core.cli.main import main

sys.exit(main())
