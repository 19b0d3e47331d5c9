#!/usr/bin/env python3
import argparse
import pathlib

from faster_whisper import WhisperModel


def ts(t, sep=","):
    h, r = divmod(t, 3600)
    m, s = divmod(r, 60)
    return f"{int(h):02}:{int(m):02}:{int(s):02}{sep}{int((s % 1) * 1000):03}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("audio")
    ap.add_argument("--model", default="small")
    ap.add_argument("--formats", default="txt,srt")
    ap.add_argument("--language")
    a = ap.parse_args()
    model = WhisperModel(a.model, device="auto", compute_type="int8")
    segs, info = model.transcribe(a.audio, language=a.language, vad_filter=True)
    segs = list(segs)
    base = pathlib.Path(a.audio).with_suffix("")
    fmts = set(a.formats.split(","))
    if "txt" in fmts:
        lines, prev = [], 0.0
        for s in segs:
            if s.start - prev > 30:
                lines.append("[silence]")
            lines.append(s.text.strip())
            prev = s.end
        base.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    if "srt" in fmts:
        base.with_suffix(".srt").write_text("".join(f"{i}\n{ts(s.start)} --> {ts(s.end)}\n{s.text.strip()}\n\n" for i, s in enumerate(segs, 1)))
    if "vtt" in fmts:
        base.with_suffix(".vtt").write_text("WEBVTT\n\n" + "".join(f"{ts(s.start, '.')} --> {ts(s.end, '.')}\n{s.text.strip()}\n\n" for s in segs))
    print(f"language={info.language} ({info.language_probability:.2f}) duration={info.duration:.0f}s segments={len(segs)}")


if __name__ == "__main__":
    main()
