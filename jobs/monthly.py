"""`ray job submit` entrypoint for the monthly job.

ray job submit --working-dir . -- python jobs/monthly.py --as-of 2026-01-31 --config configs/cluster.yaml
"""

import sys

from ray_topics.cli import main

if __name__ == "__main__":
    sys.exit(main(["monthly", *sys.argv[1:]]))
