"""`ray job submit` entrypoint for the daily job.

ray job submit --working-dir . -- python jobs/daily.py --as-of 2026-01-31 --config configs/cluster.yaml
"""

import sys

from ray_topics.cli import main

if __name__ == "__main__":
    sys.exit(main(["daily", *sys.argv[1:]]))
