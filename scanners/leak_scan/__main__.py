import sys

from leak_scan.cli import main

sys.exit(main())
