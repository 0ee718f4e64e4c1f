"""A lab run: the codec section's outputs and the lab.json / REPORT.md writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.progress import Progress

from lab.codec_section import CodecChainSection
from lab.sections import (
    LabContext,
    SectionResult,
    environment,
    run_sections,
    write_json,
    write_markdown,
)
from lab.speech import synthetic_speech


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[SectionResult, Path]:
    out = tmp_path_factory.mktemp("lab")
    with Progress(disable=True) as progress:
        (res,) = run_sections(
            [CodecChainSection([synthetic_speech(1.5)])], LabContext(out, progress)
        )
        assert progress.tasks[0].completed == 4  # one step per row
    return res, out


def test_codec_section_outputs(result: tuple[SectionResult, Path]) -> None:
    res, out = result
    assert res.key == "codec_chains"
    assert [f.name for f in res.figures] == [
        "spectrogram-synthetic-0.png",
        "bandwidth-welch.png",
        "bandwidth-fft-bin.png",
    ]
    assert all(f.parent == out and f.stat().st_size > 0 for f in res.figures)
    assert len(res.data["rows"]) == 4 and res.data["shape_check"] == {"synthetic-0": True}
    assert res.data["settings"] == {"opus_bitrate": 32000, "model_rate": 24000}
    assert "| synthetic-0 | webrtc |" in res.markdown
    assert "holds" in res.markdown and "Why bin-quantized" in res.markdown
    assert len(res.tables) == 1


def test_json_and_markdown_reports(result: tuple[SectionResult, Path]) -> None:
    res, out = result
    env = environment("trunkline lab")
    assert env["cpus"] and env["packages"]["pesq"]
    doc = json.loads(write_json([res], env, out / "lab.json").read_text())
    assert doc["environment"]["command"] == "trunkline lab"
    assert doc["sections"]["codec_chains"]["title"] == "Codec chains per path"
    assert doc["figures"]["codec_chains"][0] == "spectrogram-synthetic-0.png"
    md = write_markdown([res], env, out / "REPORT.md").read_text()
    assert md.startswith("# trunkline lab report")
    assert "## Codec chains per path" in md
    assert "![spectrogram-synthetic-0](spectrogram-synthetic-0.png)" in md
