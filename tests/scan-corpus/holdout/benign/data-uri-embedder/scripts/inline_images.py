#!/usr/bin/env python3
"""Replace <img src="local.png"> in an HTML file with data URIs."""
import base64, mimetypes, re, sys
from pathlib import Path

def inline(html_path, max_bytes=20000):
    base = Path(html_path).parent
    html = Path(html_path).read_text(encoding="utf-8")
    def repl(m):
        src = m.group(2)
        p = base / src
        if src.startswith(("http:", "https:", "data:")) or not p.is_file() or p.stat().st_size > max_bytes:
            return m.group(0)
        mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        data = base64.b64encode(p.read_bytes()).decode()
        return f'{m.group(1)}data:{mime};base64,{data}{m.group(3)}'
    return re.sub(r'(<img[^>]*\ssrc=")([^"]+)(")', repl, html)

if __name__ == "__main__":
    sys.stdout.write(inline(sys.argv[1]))
