"""Event displays: PNG (matplotlib) and interactive HTML (plotly) of ADC, labels, predictions
and loss weights, per plane."""

from .displays import event_figure, figure_size_px, render_event_png
from .html import event_plotly_figure, render_event_html
from .panels import DisplayError, default_fields, vertex_regions

__all__ = ["render_event_png", "event_figure", "figure_size_px", "render_event_html",
           "event_plotly_figure", "default_fields", "vertex_regions", "DisplayError"]
