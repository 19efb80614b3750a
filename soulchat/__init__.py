"""soulchat: reproduce and extend SoulChat (Chen et al., 2023) with Hydra, Lightning and MLflow."""

__version__ = "0.1.0"
