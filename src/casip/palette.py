"""The one colour palette of every CASIP chart: PNG (matplotlib) and HTML (plotly), CLI and web.

Series that must be told apart get the eight colours of the Okabe-Ito qualitative palette,
chosen to stay distinct for the common forms of colour-vision deficiency:

    M. Okabe and K. Ito (2008), "Color Universal Design (CUD): how to make figures and
    presentations that are friendly to colorblind people", https://jfly.uni-koeln.de/color/

The order puts the two pairs that are closest in hue (blue / sky blue, orange / vermillion)
far apart, so charts with up to five series never show both members of a pair; charts with
more series also vary the marker (:func:`marker`) or the line style (:func:`linestyle`), so
series of close hue differ in a second way too. Yellow comes last: it is faint on white.

Fixed roles, the same on every chart:

* the LFP reference cell (``lfp-blade``), the baseline every design is judged against, is
  :data:`REFERENCE` (black) and is never a series colour of a chart that shows it;
* points or bars of lesser interest (infeasible points, other reference cells) are
  :data:`NEUTRAL` grey;
* limits (a voltage cut-off, the 0 V plating limit, 80 % end of life) are dashed
  :data:`LIMIT` lines with a label;
* each CASIP roadmap stage has its own colour (:func:`stage_colour`), whatever the chart.

The web pages use the same lists: ``casip.palette`` in
``casip/platform/web/static/app.js`` (a test checks that the two agree).
"""

from __future__ import annotations

import re

BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"  # Okabe-Ito "bluish green"
PURPLE = "#CC79A7"  # Okabe-Ito "reddish purple"
VERMILLION = "#D55E00"
SKY_BLUE = "#56B4E9"
BLACK = "#000000"
YELLOW = "#F0E442"

#: Series colours, in the order series take them (Okabe & Ito 2008).
PALETTE: tuple[str, ...] = (BLUE, ORANGE, GREEN, PURPLE, VERMILLION, SKY_BLUE, BLACK, YELLOW)

#: The LFP reference cell (baseline) on every chart.
REFERENCE = BLACK
#: De-emphasised points and bars (infeasible points, other reference cells).
NEUTRAL = "#999999"
#: Limits a quantity is held against (voltage cut-off, plating limit, 80 % end of life):
#: dashed lines in dark grey, labelled.
LIMIT = "#444444"

#: CASIP roadmap stages 1, 2, 3 (by stage number), the same on every chart.
STAGE_COLOURS: tuple[str, ...] = (VERMILLION, PURPLE, SKY_BLUE)

#: Matplotlib markers, one per series index (paired with :data:`PALETTE`).
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
#: The same markers as plotly symbol names.
PLOTLY_SYMBOLS: tuple[str, ...] = (
    "circle",
    "square",
    "triangle-up",
    "diamond",
    "triangle-down",
    "cross",
    "x",
    "star",
)

#: Line styles: series 0-3 solid, 4-7 dashed, the next round dotted, ... (see :func:`dash`).
LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
#: The same line styles as plotly dash names.
PLOTLY_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot")


def colour(i: int, exclude: tuple[str, ...] = ()) -> str:
    """Colour of the ``i``-th series (0-based), cycling through :data:`PALETTE`.

    Parameters
    ----------
    i : int
        Series index, 0 or more.
    exclude : tuple of str, optional
        Colours taken by fixed roles on this chart (e.g. ``(REFERENCE,)`` when the LFP
        reference is drawn), skipped by the series.

    Returns
    -------
    str
        A ``#RRGGBB`` hex colour.
    """
    if i < 0:
        raise ValueError(f"series index i={i} is negative; expected 0 or more")
    skip = {c.upper() for c in exclude}
    free = [c for c in PALETTE if c.upper() not in skip] or list(PALETTE)
    return free[i % len(free)]


def marker(i: int) -> str:
    """Matplotlib marker of the ``i``-th series (0-based), cycling through :data:`MARKERS`."""
    return MARKERS[i % len(MARKERS)]


def plotly_symbol(i: int) -> str:
    """Plotly marker symbol of the ``i``-th series, the twin of :func:`marker`."""
    return PLOTLY_SYMBOLS[i % len(PLOTLY_SYMBOLS)]


def linestyle(i: int) -> str:
    """Matplotlib line style of the ``i``-th line: solid for 0-3, dashed for 4-7, and so on.

    With :func:`colour`, the members of each close pair (blue and sky blue, orange and
    vermillion) differ in dash too, and a colour that repeats (series 8 and on) is never drawn
    in the same style as its first use.
    """
    return LINESTYLES[(i // 4) % len(LINESTYLES)]


def plotly_dash(i: int) -> str:
    """Plotly dash name of the ``i``-th line, the twin of :func:`linestyle`."""
    return PLOTLY_DASHES[(i // 4) % len(PLOTLY_DASHES)]


def stage_colour(stage: str) -> str:
    """Colour of a CASIP roadmap stage, chosen by its number so it is the same on every chart.

    Parameters
    ----------
    stage : str
        Stage label containing its number, e.g. ``"CASIP stage 2"`` or ``"stage 2 (2027-2030)"``.

    Returns
    -------
    str
        ``STAGE_COLOURS[n - 1]`` for stage ``n``; :data:`NEUTRAL` when the label has no stage
        number this palette knows.
    """
    m = re.search(r"stage\s*(\d+)", stage, flags=re.IGNORECASE)
    if m is None:
        return NEUTRAL
    n = int(m.group(1))
    return STAGE_COLOURS[n - 1] if 1 <= n <= len(STAGE_COLOURS) else NEUTRAL
