"""torchrun's entry for tests/test_faults.py: rank 1 starts 1.5 s after rank 0, as on a busy node, then runs
``python -m lit_gen.fit`` with the arguments given."""

import os
import sys
import time

if __name__ == "__main__":
    if os.environ.get("RANK") == "1":
        time.sleep(1.5)
    from lit_gen.fit import main

    sys.exit(main(sys.argv[1:]))
