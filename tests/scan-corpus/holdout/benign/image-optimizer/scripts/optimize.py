#!/usr/bin/env python3
import sys
from pathlib import Path
from PIL import Image

def main(src, dst, width=1600, quality=82):
    dst = Path(dst); dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(Path(src).glob("*")):
        if p.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        with Image.open(p) as im:
            if im.width > width:
                im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
            im.save(dst / (p.stem + ".webp"), "WEBP", quality=quality)
            print(p.name)

if __name__ == "__main__":
    main(*sys.argv[1:3])
