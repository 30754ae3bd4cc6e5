"""Models: the purchase-probability network and the counting baselines."""
