"""`hotline config check` loads the speech recognition engine, so a broken model is found at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline import cli


def test_given_a_missing_vosk_model_when_checked_then_the_setting_is_named_and_the_exit_is_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no hotline.toml here: defaults plus the environment
    monkeypatch.setenv("HOTLINE__ASR__ENGINE", "vosk")
    monkeypatch.setenv("HOTLINE__ASR__VOSK_MODEL", str(tmp_path / "vosk-model-cn-0.22"))
    assert cli.main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "asr.vosk_model" in err and "vosk-model-cn-0.22" in err


def test_given_the_default_engine_when_checked_then_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["config", "check"]) == 0
    assert "speech recognition: pocketsphinx" in capsys.readouterr().out
