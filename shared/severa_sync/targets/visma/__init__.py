"""Visma.net Financials target: HTTP client, Visma Connect tokens, mapping and the Target adapter."""

from severa_sync.targets.visma.auth import TokenCache
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.target import VismaTarget
from severa_sync.targets.visma.wire import wrap_values

__all__ = ["TokenCache", "VismaClient", "VismaTarget", "wrap_values"]
