"""Prompt files: made with espeak-ng and sox in the formats Asterisk plays, recordings win."""

import shutil
import wave
from pathlib import Path

import pytest

from asterisk_conf.layout import InstanceLayout
from hotline.settings import IvrSettings, Settings, SiteSettings
from ivr_flows.loader import load_flow
from ivr_flows.prompts import MOH_NAME, VOICES, PromptLibrary, prompt_texts

# espeak-ng and sox are installed by scripts/bootstrap.sh; their absence is a broken machine.
needs_tools = pytest.mark.usefixtures("prompt_tools")


@pytest.fixture
def prompt_tools() -> None:
    assert shutil.which("espeak-ng") and shutil.which("sox"), "espeak-ng and sox are not installed"


def library(state_dir: Path, prompts_dir: Path | None = None) -> PromptLibrary:
    settings = Settings(
        site=SiteSettings(state_dir=state_dir), ivr=IvrSettings(prompts_dir=prompts_dir or Path(""))
    )
    return PromptLibrary(settings, InstanceLayout.for_settings(settings))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    state_dir = tmp_path_factory.mktemp("state")
    messages: list[str] = []
    library(state_dir).generate(messages.append)
    return state_dir / "prompts", messages


def assert_asterisk_wav(path: Path, *, min_seconds: float) -> int:
    header = path.read_bytes()[:44]
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    # Format tag 1: plain PCM. Asterisk does not read WAVE_FORMAT_EXTENSIBLE (0xFFFE).
    assert int.from_bytes(header[20:22], "little") == 1
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        frames: int = wav.getnframes()
    assert frames >= min_seconds * 8000
    return frames


@needs_tools
def test_given_the_texts_when_generated_then_8khz_mono_16bit_wav_and_raw_g711(
    generated: tuple[Path, list[str]],
) -> None:
    prompts, messages = generated
    for language in VOICES:
        for name in prompt_texts(language):
            frames = assert_asterisk_wav(prompts / language / f"{name}.wav", min_seconds=1.0)
            # G.711 is one byte per sample at 8 kHz: the same length as the WAV in samples.
            assert (prompts / language / f"{name}.ulaw").stat().st_size == frames
            assert (prompts / language / f"{name}.alaw").stat().st_size == frames
    assert "zh-CN/welcome: made" in messages


@needs_tools
def test_given_the_greeting_when_generated_then_it_is_short(generated: tuple[Path, list[str]]) -> None:
    prompts, _ = generated
    for language in VOICES:
        with wave.open(str(prompts / language / "welcome.wav")) as wav:
            # GB/T 33358-2016: greet briefly, then a person.
            assert wav.getnframes() / 8000 < 10


@needs_tools
def test_given_generation_when_done_then_music_on_hold_in_the_moh_folder(
    generated: tuple[Path, list[str]],
) -> None:
    prompts, messages = generated
    moh = prompts / "moh"
    assert_asterisk_wav(moh / f"{MOH_NAME}.wav", min_seconds=10)
    assert (moh / f"{MOH_NAME}.ulaw").stat().st_size > 80_000
    # Asterisk plays every file in the class's folder: nothing but sound files there.
    assert {p.suffix for p in moh.iterdir()} == {".wav", ".ulaw", ".alaw"}
    assert f"moh/{MOH_NAME}: made" in messages


@needs_tools
def test_given_prompts_made_when_generated_again_then_only_changed_ones_are_made(tmp_path: Path) -> None:
    prompts = library(tmp_path)
    first = prompts.generate(languages=("en",))
    assert "en/goodbye" in first.made and not first.unchanged
    stamp = tmp_path / "prompts" / "en" / "goodbye.sha256"
    before = (tmp_path / "prompts" / "en" / "welcome.wav").stat().st_mtime_ns

    again = prompts.generate(languages=("en",))
    assert again.made == ()
    assert (tmp_path / "prompts" / "en" / "welcome.wav").stat().st_mtime_ns == before

    stamp.write_text("a text that has since changed\n")  # as if goodbye's text had been edited
    (tmp_path / "prompts" / "en" / "invalid.alaw").unlink()  # or a file had gone missing
    third = prompts.generate(languages=("en",))
    assert third.made == ("en/goodbye", "en/invalid")
    assert (tmp_path / "prompts" / "en" / "invalid.alaw").is_file()
    assert not list((tmp_path / "prompts" / "en").glob(".making-*"))


def test_given_no_recording_when_asked_for_a_path_then_the_generated_file_without_extension(
    tmp_path: Path,
) -> None:
    assert library(tmp_path).path("welcome", "zh-CN") == str(tmp_path / "prompts" / "zh-CN" / "welcome")


def test_given_a_recorded_prompt_when_asked_for_a_path_then_the_recording_wins(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    (recorded / "zh-CN").mkdir(parents=True)
    (recorded / "zh-CN" / "welcome.wav").write_bytes(b"RIFF")
    prompts = library(tmp_path / "state", recorded)
    assert prompts.path("welcome", "zh-CN") == str(recorded / "zh-CN" / "welcome")
    # Only where a recording exists: other prompts and languages stay generated.
    assert prompts.path("goodbye", "zh-CN") == str(tmp_path / "state" / "prompts" / "zh-CN" / "goodbye")
    assert prompts.path("welcome", "en") == str(tmp_path / "state" / "prompts" / "en" / "welcome")


def test_given_a_recording_without_a_text_when_checked_then_it_exists(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    (recorded / "zh-CN").mkdir(parents=True)
    (recorded / "zh-CN" / "mayor_message.wav").write_bytes(b"RIFF")
    prompts = library(tmp_path / "state", recorded)
    assert prompts.exists("mayor_message", "zh-CN")
    assert not prompts.exists("mayor_message", "en")
    assert prompts.exists("welcome", "en")


@pytest.mark.parametrize(
    ("name", "language"), [("../secret", "zh-CN"), ("welcome.wav", "zh-CN"), ("welcome", "fr")]
)
def test_given_a_bad_name_or_language_when_asked_for_a_path_then_refused(
    tmp_path: Path, name: str, language: str
) -> None:
    with pytest.raises(ValueError):
        library(tmp_path).path(name, language)


def test_given_the_shipped_texts_when_compared_then_every_language_has_every_prompt() -> None:
    names = {language: set(prompt_texts(language)) for language in VOICES}
    assert names["zh-CN"] == names["en"]
    expected = {
        "welcome", "after_hours", "voicemail_beep_hint", "goodbye", "overflow", "invalid", "timeout",
        "self_service_unavailable", "case_status_prompt",
    }  # fmt: skip
    assert expected <= names["zh-CN"]


def test_given_the_default_flow_when_loaded_then_every_prompt_it_plays_has_a_text_in_every_language() -> None:
    flow = load_flow("default_12345", Settings())
    used = {name for step in flow.steps.values() for _, name in step.prompts()} | {"self_service_unavailable"}
    for language in VOICES:
        assert used <= set(prompt_texts(language))
