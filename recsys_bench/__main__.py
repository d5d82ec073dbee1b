import sys

from recsys_bench.cli import main

sys.exit(main())
