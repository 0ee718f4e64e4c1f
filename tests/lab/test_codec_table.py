"""The codec-chain table on short synthetic speech: every path, every metric, sane values."""

from __future__ import annotations

import pytest

from lab.codec_table import ROW_PATHS, ChainRow, measure_speech, path_medians
from lab.notes import bandwidth_note, shape_check
from lab.speech import synthetic_speech
from lab.tables import chain_cells, markdown_table


@pytest.fixture(scope="module")
def rows() -> list[ChainRow]:
    seen: list[ChainRow] = []
    found, outputs = measure_speech(synthetic_speech(2.0), on_row=seen.append)
    assert found == seen and list(outputs) == list(ROW_PATHS)
    return found


def test_one_row_per_path_with_clean_chain_values(rows: list[ChainRow]) -> None:
    by_path = {r.path: r for r in rows}
    assert list(by_path) == ["source", "twilio-ws", "sip", "webrtc"]
    assert by_path["source"].pesq_wb == pytest.approx(4.64, abs=0.02)
    assert by_path["source"].stoi == pytest.approx(1.0, abs=1e-6)
    assert by_path["twilio-ws"].delay_ms == pytest.approx(0.0, abs=0.1)
    for path in ("sip", "webrtc"):
        assert 5.0 < by_path[path].delay_ms < 8.0  # Opus's codec delay, found by alignment
    for row in rows:
        assert row.gaps == 0 and row.energy_drops == 0  # no transport here: nothing lost
        assert 1.0 < row.pesq_nb <= 4.65 and 0.5 < row.stoi <= 1.0
    # PESQ-WB charges telephony for the band it cannot carry.
    assert by_path["twilio-ws"].pesq_wb < by_path["webrtc"].pesq_wb - 1.0


def test_published_shape_and_its_explanation(rows: list[ChainRow]) -> None:
    assert shape_check(rows) == {"synthetic-0": True}
    note = bandwidth_note(rows)
    assert "3,968.75 Hz" in note and "In this run the telephony paths measure" in note
    web = next(r for r in rows if r.path == "webrtc")
    assert f"{web.bandwidth_welch_hz:,.0f} Hz by Welch" in note


def test_shape_check_fails_when_telephony_leaks_and_skips_narrowband_input(
    rows: list[ChainRow],
) -> None:
    from dataclasses import replace

    leaky = [replace(r, bandwidth_welch_hz=5000.0) if r.path == "sip" else r for r in rows]
    assert shape_check(leaky) == {"synthetic-0": False}
    narrow = [replace(r, bandwidth_welch_hz=6000.0) if r.path == "source" else r for r in rows]
    assert shape_check(narrow) == {}


def test_medians_and_table_cells(rows: list[ChainRow]) -> None:
    medians = path_medians(rows + rows)
    assert medians["webrtc"]["pesq_wb"] == pytest.approx(rows[3].pesq_wb)
    cells = chain_cells(rows)
    assert len(cells.rows) == 4 and len(cells.headers) == len(cells.rows[0])
    assert cells.rows[1][:3] == ["synthetic-0", "twilio-ws", "8k"]
    text = markdown_table(cells)
    assert text.count("\n") == 6 and "| BW99 Welch |" in text
