"""The data-set registry: each format module registers its loader here when imported.

Its own module so the formats import it without importing core.data.loading, which imports them
(core.data.loading loads the built-in formats, in one place).
"""

from __future__ import annotations

from core.data.common import Loader
from core.registry import Registry

DATASETS: Registry[Loader] = Registry("dataset")
