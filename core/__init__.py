"""InitLab core: models, data, Smart-Init methods, training and statistics (no web/queue/DB)."""

__version__ = "0.1.0"
