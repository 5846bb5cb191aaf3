"""The fill styles users choose between (``fill --style``, the page, the API's ``style`` field).

    >>> from odinpaint.inference.styles import DEFAULT_STYLE, STYLES, check_style
    >>> check_style("smooth")

- ``detailed`` (the default): the model's fill with texture from the photo's own patches
  laid over it (``odinpaint.inference.detail``): accurate in colour and shape, and detailed like the
  photo;
- ``smooth``: the model's fill alone: the most accurate on average (PSNR rewards the mean of
  every plausible fill), and visibly flat inside a large hole.

A light module of its own: the command line builds its parser from it without loading torch.
"""

from odinpaint.errors import UserError

STYLES = ("detailed", "smooth")
DEFAULT_STYLE = "detailed"
STYLE_HELP = ("detailed (default): the model's fill with texture from the photo's own patches, looks like the "
              "photo; smooth: the model's fill alone, a little more accurate on average and visibly flat")


def check_style(style: str) -> str:
    if style not in STYLES:
        raise UserError(f"unknown fill style {style!r}; known: {', '.join(STYLES)}")
    return style
