"""The Ray Serve application of ray-topics (Tier 1 over HTTP)."""
