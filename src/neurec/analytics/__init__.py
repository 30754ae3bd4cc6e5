"""Business analytics: pair statistics, recommendation-programme metrics, and A/B experiment tools.

`neurec.analytics.experiment` (assignment and experiment configs) imports only the standard library and numpy,
so the torch-free serving side can use it; the other modules need pandas.
"""
