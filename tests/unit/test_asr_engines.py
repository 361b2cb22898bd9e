"""The ASR engines, real ones: pocketsphinx on espeak-ng speech through a G.711 line, vosk's errors.

No vosk model can be downloaded here, so vosk is tested where it must not fail quietly: every bad
``asr.vosk_model`` is an AsrConfigError that names the setting and the folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from hotline.settings import AsrSettings, KeyPhraseSettings
from recording.asr import AsrConfigError, AsrEngine, Segment, make_engine
from recording.asr.vosk_engine import model_rate, segment_of
from recording.vocabulary import spot
from tests.unit.phone_speech import RATE, mulaw_decode, mulaw_encode, phone_speech

STREET_LIGHT = "The street light on main road is broken"


@pytest.fixture(scope="module")
def vocabulary_engine() -> AsrEngine:
    return make_engine(AsrSettings())  # the default: pocketsphinx, hotline vocabulary


@pytest.fixture(scope="module")
def street_light(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return phone_speech(STREET_LIGHT, tmp_path_factory.mktemp("speech"))


def said(segments: list[Segment]) -> str:
    return " ".join(s.text for s in segments)


# ----- pocketsphinx, hotline vocabulary ------------------------------------------------------------
def test_given_the_default_settings_then_pocketsphinx_with_the_hotline_vocabulary(vocabulary_engine):
    assert vocabulary_engine.name == "pocketsphinx"
    assert "en-us" in vocabulary_engine.model and "hotline vocabulary" in vocabulary_engine.model


def test_given_a_phone_call_about_a_street_light_then_the_key_phrase_is_heard(
    vocabulary_engine, street_light
):
    segments = vocabulary_engine.transcribe(street_light, RATE)
    text = said(segments)
    assert "street light" in text and "broken" in text, text
    hits = spot({"caller": segments}, AsrSettings().vocabulary)
    assert [(h.category, h.speaker) for h in hits] == [("street_light", "caller")]


def test_given_speech_then_segment_and_word_times_run_forward_within_the_audio(
    vocabulary_engine, street_light
):
    segments = vocabulary_engine.transcribe(street_light, RATE)
    duration = len(street_light) / RATE
    assert segments
    times = [t for s in segments for w in s.words for t in (w.start, w.end)]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= duration
    # The speech starts after the second of silence the leg begins with.
    assert 0.8 <= segments[0].start <= 1.4
    for segment in segments:
        assert segment.text == " ".join(w.text for w in segment.words)
        assert segment.start == segment.words[0].start and segment.end == segment.words[-1].end
        assert all(w.confidence is None or 0 <= w.confidence <= 1 for w in segment.words)


def test_given_a_leg_that_ends_mid_speech_then_the_last_words_are_kept(vocabulary_engine, street_light):
    cut = street_light[:-RATE]  # the half second of silence and the last half second of speech
    segments = vocabulary_engine.transcribe(cut, RATE)
    assert "street light" in said(segments) and segments[-1].end <= len(cut) / RATE + 0.01


@pytest.mark.parametrize(
    ("sentence", "phrase"),
    [("there is a water outage in our building", "water outage"), ("I smell a gas leak", "gas leak")],
)
def test_given_other_complaints_then_their_key_phrases_are_heard(
    vocabulary_engine, tmp_path, sentence, phrase
):
    text = said(vocabulary_engine.transcribe(phone_speech(sentence, tmp_path), RATE))
    assert phrase in text, text


def test_given_16_khz_audio_then_it_is_heard_as_well(vocabulary_engine, street_light):
    wide = np.repeat(street_light, 2)  # crude upsampling is enough: the engine takes any rate
    assert "street light" in said(vocabulary_engine.transcribe(wide, 16000))


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros(0, dtype=np.int16),
        np.zeros(5 * RATE, dtype=np.int16),
        # A quiet line: noise about -60 dBFS.
        np.random.default_rng(1).normal(0, 30, 5 * RATE).astype(np.int16),
    ],
    ids=["empty", "digital-silence", "line-noise"],
)
def test_given_no_speech_then_no_segments(vocabulary_engine, samples):
    assert vocabulary_engine.transcribe(samples, RATE) == []


def test_given_stereo_or_float_samples_then_a_clear_error(vocabulary_engine):
    with pytest.raises(ValueError, match="mono"):
        vocabulary_engine.transcribe(np.zeros((800, 2), dtype=np.int16), RATE)
    with pytest.raises(ValueError, match="int16"):
        vocabulary_engine.transcribe(np.zeros(800, dtype=np.float32), RATE)


def test_given_a_key_phrase_the_dictionary_lacks_then_it_is_left_out_with_a_log_line(caplog):
    phrases = (
        KeyPhraseSettings(phrase="street light", category="street_light"),
        KeyPhraseSettings(phrase="zorblax flood", category="flood"),
        KeyPhraseSettings(phrase="路灯", category="street_light"),
    )
    with caplog.at_level(logging.WARNING, logger="recording.asr.pocketsphinx"):
        engine = make_engine(AsrSettings(vocabulary=phrases))
    assert "zorblax" in caplog.text and "zorblax flood" in caplog.text
    assert "2 English key phrases" in engine.model  # the Chinese one is for vosk


# ----- pocketsphinx, general language model --------------------------------------------------------
def test_given_the_general_model_then_it_transcribes_without_the_vocabulary(street_light):
    engine = make_engine(AsrSettings(pocketsphinx_grammar="general"))
    assert "general language model" in engine.model
    segments = engine.transcribe(street_light, RATE)
    # Its accuracy on telephone speech is poor (see benchmarks/asr_rtf.py); it does hear words.
    assert segments and all(s.words for s in segments)


# ----- vosk: every bad model setting is named --------------------------------------------------------
def vosk_error(setting: str | Path) -> str:
    with pytest.raises(AsrConfigError) as caught:
        make_engine(AsrSettings(engine="vosk", vosk_model=Path(setting)))
    return str(caught.value)


def test_given_no_vosk_model_set_then_the_error_says_which_setting():
    message = vosk_error("")
    assert "asr.vosk_model" in message and "not set" in message
    assert "HOTLINE__ASR__VOSK_MODEL" in message and "vosk-model-cn-0.22" in message


def test_given_a_missing_vosk_model_folder_then_the_error_names_setting_and_path(tmp_path):
    message = vosk_error(tmp_path / "vosk-model-cn-0.22")
    assert "asr.vosk_model" in message and str(tmp_path / "vosk-model-cn-0.22") in message


def test_given_a_file_instead_of_a_vosk_model_folder_then_a_config_error(tmp_path):
    (tmp_path / "model.zip").write_bytes(b"PK\x03\x04")
    message = vosk_error(tmp_path / "model.zip")
    assert "asr.vosk_model" in message and "model.zip" in message


def test_given_a_folder_that_is_not_a_vosk_model_then_a_config_error(tmp_path):
    (tmp_path / "README").write_text("not a model")
    message = vosk_error(tmp_path)
    assert "asr.vosk_model" in message and str(tmp_path) in message


def test_given_a_damaged_vosk_model_then_vosk_itself_fails_and_the_error_names_the_setting(tmp_path):
    # Laid out like a model, so vosk (Kaldi) tries to read it and raises its bare Exception.
    for name, text in {
        "am/final.mdl": "junk",
        "conf/mfcc.conf": "--sample-frequency=16000\n",
        "conf/model.conf": "--min-active=200\n",
        "graph/HCLG.fst": "junk",
        "graph/words.txt": "junk",
        "graph/phones/word_boundary.int": "junk",
        "ivector/final.ie": "junk",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    message = vosk_error(tmp_path)
    assert "asr.vosk_model" in message and "vosk could not load" in message and str(tmp_path) in message


def test_given_a_model_folder_then_its_sample_rate_comes_from_mfcc_conf(tmp_path):
    assert model_rate(tmp_path) == 16000  # no conf: today's models are all 16 kHz
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")
    assert model_rate(tmp_path) == 8000


def test_given_a_chinese_vosk_result_then_one_segment_with_its_word_times():
    result = {
        "result": [
            {"conf": 1.0, "start": 1.2, "end": 1.5, "word": "路灯"},
            {"conf": 0.61, "start": 1.5, "end": 1.83, "word": "坏"},
            {"conf": 0.9, "start": 1.83, "end": 2.0, "word": "了"},
            {"conf": 0.5, "start": 2.0, "end": 2.1, "word": "[unk]"},
        ],
        "text": "路灯 坏 了 [unk]",
    }
    segment = segment_of(result)
    assert segment is not None
    assert (segment.start, segment.end, segment.text) == (1.2, 2.0, "路灯 坏 了")
    assert [(w.text, w.confidence) for w in segment.words] == [("路灯", 1.0), ("坏", 0.61), ("了", 0.9)]
    assert segment_of({"text": ""}) is None


# ----- the test line itself -----------------------------------------------------------------------
def test_given_the_g711_helper_then_it_matches_the_standard_code_points():
    linear = np.array([0, -1, 32767, -32768, 1000, -1000], dtype=np.int16)
    assert mulaw_encode(linear).tolist()[:4] == [0xFF, 0x7F, 0x80, 0x00]
    assert mulaw_decode(np.array([0xFF, 0x80, 0x00], dtype=np.uint8)).tolist() == [0, 32124, -32124]
    every = np.arange(-32768, 32768, dtype=np.int16)
    error = np.abs(mulaw_decode(mulaw_encode(every)).astype(int) - every)
    assert error.max() <= 1024  # the widest step of the top segment, halved, plus clipping
