#!/usr/bin/env python3
"""Print the text layer of a PDF, one page after another."""
import sys
from pypdf import PdfReader

def main(path):
    reader = PdfReader(path)
    for i, page in enumerate(reader.pages, 1):
        text = page.extract_text() or ""
        print(f"--- page {i} ---")
        print(text.strip())

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: extract_text.py file.pdf")
    main(sys.argv[1])
