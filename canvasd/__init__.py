"""canvasd: a local-first daemon that makes reading and changing Obsidian canvases fast and safe."""

__version__ = "0.1.0"
