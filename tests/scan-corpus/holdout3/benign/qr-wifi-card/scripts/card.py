#!/usr/bin/env python3
import argparse, base64, html, pathlib, re, subprocess


def esc(s):
    return re.sub(r'([\\;,:"])', r"\\\1", s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ssid", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--security", default="WPA")
    ap.add_argument("--hidden", action="store_true")
    ap.add_argument("--out", default="card.html")
    a = ap.parse_args()
    pw = pathlib.Path(a.password_file).expanduser().read_text().strip()
    payload = f"WIFI:T:{a.security};S:{esc(a.ssid)};P:{esc(pw)};" + ("H:true;" if a.hidden else "") + ";"
    png = subprocess.run(["qrencode", "-t", "PNG", "-s", "8", "-m", "2", "-o", "-", payload], capture_output=True, check=True).stdout
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    page = f"""<!doctype html><meta charset="utf-8"><title>Wi-Fi</title>
<style>body{{font-family:system-ui;display:grid;place-items:center;height:100vh}}.c{{border:2px dashed #999;padding:24px;text-align:center;border-radius:12px}}</style>
<div class="c"><h2>Wi-Fi: {html.escape(a.ssid)}</h2><img src="{uri}" width="260" alt="QR code"><p>Scan with your phone camera to join.</p></div>"""
    pathlib.Path(a.out).write_text(page)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
