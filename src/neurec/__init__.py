"""neurec: purchase-probability recommender for upsell and cross-sell."""

__version__ = "0.1.0"
