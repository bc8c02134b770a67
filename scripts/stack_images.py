"""Stack PNGs vertically, each under a caption: ``python scripts/stack_images.py OUT.png "caption=PATH" ...``.

For the docs' side-by-side pictures of two runs (e.g. DC-IGN's inferred-vs-true scatter above its baseline's).
"""

from __future__ import annotations

import sys

from PIL import Image, ImageDraw


def stack(out: str, items: list[tuple[str, str]]) -> None:
    images = [(caption, Image.open(path).convert("RGB")) for caption, path in items]
    width = max(im.width for _, im in images)
    band = 18
    canvas = Image.new("RGB", (width, sum(im.height + band for _, im in images)), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for caption, im in images:
        draw.text((4, y + 3), caption, fill="black")
        canvas.paste(im, (0, y + band))
        y += im.height + band
    canvas.save(out)


if __name__ == "__main__":
    if len(sys.argv) < 3 or any("=" not in a for a in sys.argv[2:]):
        sys.exit('usage: python scripts/stack_images.py OUT.png "caption=PATH" ["caption=PATH" ...]')
    stack(sys.argv[1], [tuple(a.rsplit("=", 1)) for a in sys.argv[2:]])
