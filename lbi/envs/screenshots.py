"""Drawing on screenshots, for every environment with a screen (the browser ones and the desktop): Pillow only,
no browser and no display."""

from __future__ import annotations

from pathlib import Path


def draw_box(screenshot: str, box: dict[str, float]) -> str | None:
    """Copy of ``screenshot`` with a red rectangle around ``box`` (needs Pillow)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return None
    src = Path(screenshot)
    out = src.with_name(src.stem + "_action.png")
    with Image.open(src) as img:
        draw = ImageDraw.Draw(img)
        x0, y0 = box["x"], box["y"]
        draw.rectangle([x0 - 2, y0 - 2, x0 + box["width"] + 2, y0 + box["height"] + 2], outline=(230, 0, 0), width=3)
        img.save(out)
    return str(out)
