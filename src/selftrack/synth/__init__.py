"""Synthetic scenes with exact ground truth: the project's demo input and label-perfect test fixture."""

from selftrack.synth.scene import Scene, SceneConfig, generate_scene, render_scene_video
from selftrack.synth.sprites import Sprite

__all__ = ["Scene", "SceneConfig", "Sprite", "generate_scene", "render_scene_video"]
