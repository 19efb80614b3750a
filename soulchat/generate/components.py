"""Generate-stage components: ``generator`` (hf, openai)."""

from dataclasses import dataclass

from soulchat.registry import ComponentConfig, Registry


@dataclass
class GeneratorConfig(ComponentConfig):
    """Produces counsellor replies for test inputs."""

    uses_trained_model: bool = True  # false for an API model: the train stage is not needed


def register(registry: Registry) -> None:
    registry.add("generator", "hf", GeneratorConfig, "soulchat.generate.hf:build")
