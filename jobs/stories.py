"""`ray job submit` entrypoint for the stories job (the day's story view, placed after the day's other jobs).

ray job submit --working-dir . -- python jobs/stories.py --as-of 2026-01-31 --config configs/cluster.yaml
"""

import sys

from ray_topics.cli import main

if __name__ == "__main__":
    sys.exit(main(["place-stories", *sys.argv[1:]]))
