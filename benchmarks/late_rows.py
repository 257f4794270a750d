"""Late videos into a compacted day: refine's compaction on this tree beside an earlier one's.

A day of ``--rows`` videos of one domain is compacted into its ``day.parquet``
(refine's compaction, as at the hour after its midnight); then videos of that day
arrive late, one, and then ``--late-hours`` more in as many hours of it, and the
next hourly compaction writes them to the lake. Before session 37 each late hour
read the whole day file as Python objects (a list of floats per embedding) and
rewrote it, once per hour holding late videos; the day file is now merged in Arrow
columns, once per day whatever the hours. Each tree runs in a fresh process;
figures are the compaction's wall time and the growth of the process's peak RSS
over what building the day left, beside the day's float32 embeddings (the least
any rewrite holds).

Usage, from the repository root::

    git worktree add /tmp/before <commit before session 37's lake change>
    .venv/bin/python -m benchmarks.late_rows --baseline-tree /tmp/before --rows 50000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time, zlib
    from datetime import UTC, datetime, timedelta
    import numpy as np
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.tiers.refine import compact

    rows, late_hours = int(sys.argv[1]), int(sys.argv[2])
    day = datetime(2026, 3, 1, tzinfo=UTC)
    rt = Runtime(load_config(workdir=tempfile.mkdtemp()))
    dim = rt.cfg.embedding.dim

    def ingest(specs):
        vids = [{"video_id": v, "domain": "gaming", "channel_id": "c", "published_at": at} for v, at in specs]
        cls = [{"video_id": v, "domain": "gaming", "published_at": at, "topic_id": None, "confidence": 0.1,
                "status": "preliminary", "model_version": "gaming@v0", "classified_at": at} for v, at in specs]
        rng = np.random.default_rng(zlib.crc32(specs[0][0].encode()))
        rt.store.videos.ingest(vids, rng.standard_normal((len(specs), dim)).astype(np.float32), cls)

    for lo in range(0, rows, 10_000):
        ingest([(f"v{i:07d}", day + timedelta(seconds=i * 86400 / rows)) for i in range(lo, min(rows, lo + 10_000))])
    compact(rt, day + timedelta(days=1, hours=1))  # the day -> day.parquet

    def timed(specs, hour):
        ingest(specs)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        out = compact(rt, day + timedelta(days=1, hours=hour))
        wall = time.perf_counter() - t0
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
        return {"compacted": out["compacted"], "wall_s": round(wall, 3), "peak_rss_growth_mb": round(grew / 1024, 1)}

    one = timed([("late-one", day + timedelta(hours=5, minutes=3))], 2)
    many = timed([(f"late-{h}", day + timedelta(hours=h, minutes=7)) for h in range(late_hours)], 3)
    print(json.dumps({"one_late_video": one, f"late_videos_in_{late_hours}_hours": many}))
    """
)


def run_tree(tree: Path, rows: int, late_hours: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(rows), str(late_hours)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-tree", type=Path, required=True, help="a worktree of the code before the change")
    p.add_argument("--rows", type=int, default=50_000, help="videos in the compacted day")
    p.add_argument("--late-hours", type=int, default=6, help="hours of the day holding the second batch of late videos")
    args = p.parse_args()
    here = Path(__file__).resolve().parent.parent
    floor_mb = args.rows * 384 * 4 / 2**20
    print(f"a day of {args.rows:,} videos (float32 embeddings {floor_mb:.0f} MB), then late videos into it")
    results = {
        "baseline": run_tree(args.baseline_tree, args.rows, args.late_hours),
        "this tree": run_tree(here, args.rows, args.late_hours),
    }
    for case in results["this tree"]:
        b, t = results["baseline"][case], results["this tree"][case]
        print(
            f"{case:<26} baseline {b['wall_s']:>7.2f} s, +{b['peak_rss_growth_mb']:>6.0f} MB peak   "
            f"this tree {t['wall_s']:>7.2f} s, +{t['peak_rss_growth_mb']:>6.0f} MB peak"
        )
    print(json.dumps({"rows": args.rows, **results}, indent=2))


if __name__ == "__main__":
    main()
