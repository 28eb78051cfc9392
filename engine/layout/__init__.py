"""Layouts: what is where in every frame of a shot, planned before it is rendered (ARCHITECTURE.md,
"Plan, then render"). `layout` the type and its JSON form, `planner` a prompt's or scene's layout
and the world's drawing of one, `raster` the transformer's input."""
from engine.layout.layout import MAX_OBJECTS, Layout, Track

__all__ = ["Layout", "Track", "MAX_OBJECTS"]
