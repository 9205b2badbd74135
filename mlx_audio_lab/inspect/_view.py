"""What every inspector view shares: figure -> PNG, a lazily built ipywidgets box, and a rich display
that stores the live widget, a static PNG (for GitHub / nbviewer) and a deterministic text summary."""

from __future__ import annotations

import base64
import io
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **kw: Any):
    """(figure, axes) without pyplot, so no notebook backend shows or keeps it behind our back."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    return fig, axes


def png_bytes(fig, dpi: int = 72, colors: int | None = 128) -> bytes:
    """The figure as PNG bytes (Agg, no pyplot); with `colors`, a palette PNG (3-5x smaller in notebooks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    if colors is None:
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    from PIL import Image

    fig.set_dpi(dpi)
    canvas.draw()
    img = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    img.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, format="PNG",
                                                                                          optimize=True)
    return buf.getvalue()


class Inspector:
    """Base of the views: subclasses define `figure()`, `summary()` and `_controls()`."""

    css_class = "mal-inspector"
    dpi = 72

    def __init__(self) -> None:
        self._box = None
        self._image = None
        self._status = None

    # --- what subclasses provide ---------------------------------------------------------------
    def figure(self):
        """The static matplotlib Figure of the current selection."""
        raise NotImplementedError

    def summary(self) -> str:
        """One deterministic line or a few: the text/plain form (nbval compares it)."""
        raise NotImplementedError

    def status(self) -> str:
        """Text of the status label under the controls (what is selected now)."""
        return ""

    def _controls(self) -> list:
        """The ipywidgets controls; their observers call `self.refresh()`."""
        return []

    def _step_slider(self, n_steps: int, description: str = "step"):
        """A slider over `self.selected` (0 .. n_steps - 1) that refreshes the view when moved."""
        import ipywidgets as W

        step = W.IntSlider(value=self.selected, min=0, max=max(n_steps - 1, 0), description=description,
                           continuous_update=False)
        step.add_class("mal-step")

        def on_step(ch):
            self.selected = int(ch["new"])
            self.refresh()

        step.observe(on_step, names="value")
        return step

    def _extra(self) -> list:
        """Widgets shown under the plot (players, tables)."""
        return []

    # --- the view ----------------------------------------------------------------------------------
    @property
    def widget(self):
        """The ipywidgets VBox (built on first use) with stable CSS classes for tests and styling."""
        if self._box is None:
            import ipywidgets as W

            # The plot is drawn when a browser first shows the widget (its view count rises), so a notebook
            # executed headless stores the picture once, as the static PNG, not again in the widget state.
            self._image = W.Image(format="png", value=b"")
            self._image.add_class("mal-plot")
            self._image._view_count = 0
            self._image.observe(self._on_view, names="_view_count")
            self._status = W.HTML(value=self._status_html())
            self._status.add_class("mal-status")
            controls = W.HBox(self._controls())
            controls.add_class("mal-controls")
            self._box = W.VBox([controls, self._status, self._image, *self._extra()])
            self._box.add_class("mal-inspector")
            self._box.add_class(self.css_class)
        return self._box

    def _status_html(self) -> str:
        import html

        return f"<code>{html.escape(self.status())}</code>"

    def _on_view(self, change: dict) -> None:
        if (change["new"] or 0) > 0 and not self._image.value:
            self._image.value = png_bytes(self.figure(), self.dpi)

    def refresh(self, *_: Any) -> None:
        """Redraw the plot and the status label after a control changed."""
        if self._box is None:
            return
        self._image.value = png_bytes(self.figure(), self.dpi)
        self._status.value = self._status_html()

    def show(self) -> None:
        """Display the inspector in the notebook (same as leaving it as a cell's last value)."""
        from IPython.display import display

        display(self)

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        return png_bytes(self.figure(), self.dpi)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Widget + static PNG + text: Lab shows the widget, GitHub the PNG, nbval compares the text."""
        bundle: dict[str, Any] = {"text/plain": self.summary(),
                                  "image/png": base64.b64encode(self.png()).decode("ascii")}
        try:
            view = self.widget._repr_mimebundle_()
        except ImportError:  # no ipywidgets: the static picture only
            return bundle
        data = view[0] if isinstance(view, tuple) else view
        if data and WIDGET_MIME in data:
            bundle[WIDGET_MIME] = data[WIDGET_MIME]
        return bundle

    def __repr__(self) -> str:
        return self.summary()
