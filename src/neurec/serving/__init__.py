"""Serving: load a verified bundle and score requests with numpy + onnxruntime only (no torch, no pandas)."""

from neurec.serving.bundle import Bundle, BundleError, load_bundle
from neurec.serving.request import RequestError
from neurec.serving.rules import REASONS, RulesConfig
from neurec.serving.ranker import CustomerHistory, Ranker
from neurec.serving.scorer import Scorer

__all__ = ["Bundle", "BundleError", "CustomerHistory", "REASONS", "Ranker", "RequestError", "RulesConfig", "Scorer",
           "load_bundle"]
