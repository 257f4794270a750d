"""ray-topics: a streaming, self-evolving topic categorizer on Ray.

Tier 1 classifies each video in real time (:mod:`ray_topics.tiers.realtime`);
refine, daily, weekly and monthly jobs (:mod:`ray_topics.tiers.refine`,
:mod:`ray_topics.tiers.daily`, :mod:`ray_topics.tiers.weekly`,
:mod:`ray_topics.tiers.monthly`) evolve one topic model per domain.
"""

__version__ = "0.1.0"
