"""ray-topics: a streaming, self-evolving topic categorizer on Ray.

Tier 1 classifies each video in real time (:mod:`ray_topics.realtime`);
refine, daily, weekly and monthly jobs (:mod:`ray_topics.refine`,
:mod:`ray_topics.emergence`, :mod:`ray_topics.evolution`,
:mod:`ray_topics.consolidation`) evolve one topic model per domain.
"""

__version__ = "0.1.0"
