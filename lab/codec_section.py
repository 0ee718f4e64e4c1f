"""Section (a) of ``trunkline lab``: the codec-chain table over the chosen speech."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lab.chains import MODEL_RATE
from lab.codec_table import ROW_PATHS, ChainRow, measure_speech, path_medians
from lab.codecs import OPUS_BITRATE
from lab.notes import CHAIN_METHOD, bandwidth_note, shape_check
from lab.plots import bandwidth_bars, spectrograms
from lab.sections import LabContext, SectionResult
from lab.speech import Speech
from lab.tables import chain_cells, markdown_table, rich_table


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "speech"


def _shape_sentence(shape: dict[str, bool]) -> str:
    if not shape:
        return (
            "Published shape (webrtc above 7 kHz, telephony below 4 kHz) not checked: no input "
            "has a source bandwidth above 7 kHz.\n"
        )
    verdicts = ", ".join(f"{name}: {'holds' if ok else 'FAILS'}" for name, ok in shape.items())
    return (
        "Published shape (Welch: webrtc above 7 kHz, both telephony paths below 4 kHz) on "
        f"wideband inputs — {verdicts}.\n"
    )


@dataclass(frozen=True)
class CodecChainSection:
    speech: Sequence[Speech]
    opus_bitrate: int = OPUS_BITRATE
    key: str = "codec_chains"
    title: str = "Codec chains per path"

    def run(self, ctx: LabContext) -> SectionResult:
        task = ctx.progress.add_task("codec chains", total=len(self.speech) * len(ROW_PATHS))
        rows: list[ChainRow] = []
        figures = []
        for speech in self.speech:
            found, outputs = measure_speech(
                speech,
                opus_bitrate=self.opus_bitrate,
                on_row=lambda _row: ctx.progress.advance(task),
            )
            rows.extend(found)
            figures.append(
                spectrograms(
                    {path: (out.pcm, out.rate) for path, out in outputs.items()},
                    ctx.out_dir / f"spectrogram-{_slug(speech.name)}.png",
                    title=f"{speech.name} through each path",
                )
            )
        for method, column in (
            ("Welch", "bandwidth_welch_hz"),
            ("FFT-bin", "bandwidth_fft_bin_hz"),
        ):
            per_speech: dict[str, dict[str, float]] = {
                s.name: {str(r.path): getattr(r, column) for r in rows if r.speech == s.name}
                for s in self.speech
            }
            figures.append(
                bandwidth_bars(
                    per_speech,
                    ctx.out_dir / f"bandwidth-{_slug(method).lower()}.png",
                    method=method,
                    reference_hz=4000.0,
                )
            )
        shape = shape_check(rows)
        cells = chain_cells(rows)
        inputs = [
            {"name": s.name, "origin": s.origin, "rate": s.rate, "seconds": round(s.seconds, 3)}
            for s in self.speech
        ]
        markdown = "\n".join(
            [
                "Inputs: "
                + "; ".join(
                    f"`{i['name']}` ({i['origin']}, {i['rate']} Hz, {i['seconds']} s)"
                    for i in inputs
                )
                + ".",
                "",
                markdown_table(cells),
                _shape_sentence(shape),
                "### Method",
                "",
                CHAIN_METHOD,
                "### Why bin-quantized bandwidth figures differ from Welch",
                "",
                bandwidth_note(rows),
            ]
        )
        return SectionResult(
            key=self.key,
            title=self.title,
            data={
                "settings": {"opus_bitrate": self.opus_bitrate, "model_rate": MODEL_RATE},
                "inputs": inputs,
                "rows": [r.to_json() for r in rows],
                "path_medians": path_medians(rows),
                "shape_check": shape,
            },
            markdown=markdown,
            tables=[rich_table(cells, "Codec chains per path")],
            figures=figures,
        )
