"""`ray job submit` entrypoint for the archive (storage tiers) job.

ray job submit --working-dir . -- python jobs/archive.py --as-of 2026-01-31 --config configs/cluster.yaml
"""

import sys

from ray_topics.cli import main

if __name__ == "__main__":
    sys.exit(main(["archive", *sys.argv[1:]]))
