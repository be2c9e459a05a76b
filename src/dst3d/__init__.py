"""dst3d: images with exact 3D annotations from diffusion models (after 3D-DST, ICLR 2024)."""

__version__ = "0.1.0"
