"""hotline.settings: defaults, the TOML file, HOTLINE__ overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import SettingsError, load_settings


def write_toml(folder: Path, text: str) -> Path:
    path = folder / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def settings_error(path: Path | None, environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ)
    return str(caught.value)


def test_given_no_file_and_no_environment_when_loading_then_the_defaults_are_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = load_settings(environ={})

    assert settings.site.hotline_number == "12345"
    assert settings.site.timezone == "Asia/Shanghai"
    assert settings.site.language == "zh-CN"
    assert settings.agi.port == 4573
    assert settings.agi.header_timeout == 5.0
    assert settings.asterisk.sip_port == 5060
    assert [(t.name, t.host, t.port) for t in settings.trunks] == [("carrier", "127.0.0.1", 5080)]
    assert [q.name for q in settings.queues] == ["main"]
    assert settings.ivr.main_queue == "main"
    assert settings.seats == ()
    assert settings.state_dir == (tmp_path / "var").resolve()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'var').resolve() / 'hotline.db'}"


def test_given_a_toml_file_when_loading_then_its_values_replace_the_defaults(tmp_path):
    path = write_toml(
        tmp_path,
        """
[site]
timezone = "Asia/Urumqi"
language = "en"

[agi]
port = 4600
header_timeout = 0.5

[[queues]]
name = "main"

[[queues]]
name = "tax"
title = "税务"

[[trunks]]
name = "unicom"
host = "10.1.2.3"
port = 5062
transport = "tcp"

[[seats]]
extension = "2001"
contact = "127.0.0.1:5071"
queues = ["main", "tax"]
""",
    )

    settings = load_settings(path, {})

    assert settings.site.timezone == "Asia/Urumqi"
    assert settings.site.language == "en"
    assert settings.agi.port == 4600
    assert settings.agi.header_timeout == 0.5
    assert settings.agi.idle_timeout == 10.0  # untouched keys of a section keep their defaults
    assert settings.queue("tax").title == "税务"
    assert [(t.name, t.host, t.port, t.transport) for t in settings.trunks] == [
        ("unicom", "10.1.2.3", 5062, "tcp")
    ]
    assert settings.seats[0].endpoint == "seat2001"
    assert settings.seats[0].queues == ("main", "tax")


def test_given_a_file_and_environment_variables_when_loading_then_the_environment_wins_key_by_key(tmp_path):
    path = write_toml(tmp_path, '[agi]\nport = 4600\nhost = "127.0.0.2"\n')

    settings = load_settings(path, {"HOTLINE__AGI__PORT": "4700", "HOTLINE__AGI__HEADER_TIMEOUT": "0.3"})

    assert settings.agi.port == 4700
    assert settings.agi.header_timeout == 0.3
    assert settings.agi.host == "127.0.0.2"


def test_given_json_in_an_environment_variable_when_loading_then_lists_and_tables_are_decoded(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    environ = {
        "HOTLINE__TRUNKS": '[{"name": "telecom", "host": "192.0.2.10", "port": 5070}]',
        "HOTLINE__BUSINESS_HOURS__WEEKDAYS": "[1, 2, 3]",
        "HOTLINE__BUSINESS_HOURS__ALWAYS_OPEN": "false",
        "HOTLINE__ASTERISK": '{"sip_port": 5090}',
    }

    settings = load_settings(environ=environ)

    assert [(t.name, t.host, t.port) for t in settings.trunks] == [("telecom", "192.0.2.10", 5070)]
    assert settings.business_hours.weekdays == (1, 2, 3)
    assert settings.business_hours.always_open is False
    assert settings.asterisk.sip_port == 5090
    assert settings.asterisk.ami_port == 5038


def test_given_digits_for_a_text_key_in_the_environment_when_loading_then_they_stay_text(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    settings = load_settings(
        environ={"HOTLINE__SITE__HOTLINE_NUMBER": "12345", "HOTLINE__SITE__NAME": '"12345 热线"'}
    )

    assert settings.site.hotline_number == "12345"
    assert settings.site.name == "12345 热线"


def test_given_variables_without_the_prefix_when_loading_then_they_are_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = load_settings(environ={"HOTLINE_AGI_PORT": "1", "AGI__PORT": "2", "HOTLINE__": "x"})

    assert settings.agi.port == 4573


def test_given_hotline_config_when_loading_without_a_path_then_that_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "elsewhere.toml"
    path.write_text("[web]\nport = 8100\n", encoding="utf-8")

    settings = load_settings(environ={"HOTLINE_CONFIG": str(path)})

    assert settings.web.port == 8100


def test_given_hotline_config_names_a_missing_file_when_loading_then_the_error_names_the_file(tmp_path):
    missing = tmp_path / "nope.toml"

    message = settings_error(None, {"HOTLINE_CONFIG": str(missing)})

    assert "HOTLINE_CONFIG" in message
    assert str(missing) in message


def test_given_an_explicit_path_to_a_missing_file_when_loading_then_it_is_an_error_not_the_defaults(tmp_path):
    missing = tmp_path / "typo.toml"

    message = settings_error(missing, {})

    assert str(missing) in message


def test_given_a_file_that_is_not_toml_when_loading_then_the_error_says_so(tmp_path):
    path = write_toml(tmp_path, "[agi\nport = 1\n")

    message = settings_error(path, {})

    assert "not valid TOML" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param("[agi]\nport = 70000\n", "agi.port", id="port-out-of-range"),
        pytest.param('[agi]\nport = "four"\n', "agi.port", id="port-not-a-number"),
        pytest.param(
            '[[trunks]]\nname = "carrier"\nhost = "sip.example.com"\n', "trunks.0.host", id="trunk-host"
        ),
        pytest.param(
            '[[trunks]]\nname = "a"\nhost = "10.0.0.1"\n'
            '[[trunks]]\nname = "b"\nhost = "10.0.0.2"\ncodecs = ["mp3"]\n',
            "trunks.1.codecs",
            id="trunk-codec",
        ),
        pytest.param('[site]\ntimezone = "Mars/Olympus_Mons"\n', "site.timezone", id="timezone"),
        pytest.param('[site]\ntimezone = "../../etc/passwd"\n', "site.timezone", id="timezone-path"),
        pytest.param('[site]\nhotline_number = "12345; rm"\n', "site.hotline_number", id="hotline-number"),
        pytest.param('[asterisk]\nbind_address = "localhost"\n', "asterisk.bind_address", id="bind-address"),
        pytest.param('[asterisk]\ninstance = "Main Node"\n', "asterisk.instance", id="instance-name"),
        pytest.param("[asterisk]\nrtp_start = 10000\nrtp_end = 10010\n", "rtp_end", id="rtp-range-small"),
        pytest.param('[database]\nurl = "mysql://x"\n', "database.url", id="database-url"),
        pytest.param(
            '[business_hours]\nopen_at = "18:00:00"\nclose_at = "08:00:00"\n', "open_at", id="hours-order"
        ),
        pytest.param("[business_hours]\nweekdays = [0, 8]\n", "business_hours.weekdays", id="weekdays"),
    ],
)
def test_given_a_bad_value_when_loading_then_the_error_names_its_key(tmp_path, toml, expected):
    message = settings_error(write_toml(tmp_path, toml), {})

    assert expected in message


def test_given_a_misspelt_key_when_loading_then_the_error_names_it_as_unknown(tmp_path):
    message = settings_error(write_toml(tmp_path, "[agi]\nprot = 4600\n"), {})

    assert "agi.prot" in message
    assert "unknown key" in message


def test_given_a_misspelt_section_when_loading_then_the_error_names_it_as_unknown(tmp_path):
    message = settings_error(write_toml(tmp_path, "[agii]\nport = 4600\n"), {})

    assert "agii" in message
    assert "unknown key" in message


def test_given_two_bad_keys_when_loading_then_the_error_names_both(tmp_path):
    message = settings_error(write_toml(tmp_path, "[agi]\nport = 0\n[web]\nport = 99999\n"), {})

    assert "agi.port" in message
    assert "web.port" in message


def test_given_two_components_on_one_port_when_loading_then_the_error_names_both_keys(tmp_path):
    message = settings_error(write_toml(tmp_path, "[web]\nport = 4573\n"), {})

    assert "web.port and agi.port are both 4573" in message


def test_given_asterisk_and_agi_on_one_port_when_loading_then_the_asterisk_key_is_named_with_its_section(
    tmp_path,
):
    message = settings_error(write_toml(tmp_path, "[asterisk]\nhttp_port = 4573\n"), {})

    assert "agi.port and asterisk.http_port are both 4573" in message


def test_given_a_port_inside_the_rtp_range_when_loading_then_the_error_names_the_key(tmp_path):
    message = settings_error(write_toml(tmp_path, "[agi]\nport = 10500\n"), {})

    assert "agi.port 10500 lies inside the RTP range 10000-10999" in message


def test_given_a_trunk_on_asterisks_own_sip_port_when_loading_then_the_error_names_the_trunk(tmp_path):
    toml = '[[trunks]]\nname = "loop"\nhost = "127.0.0.1"\nport = 5060\n'

    message = settings_error(write_toml(tmp_path, toml), {})

    assert "trunks: loop uses Asterisk's own SIP port 5060" in message


def test_given_two_trunks_on_one_address_when_loading_then_the_error_names_trunks(tmp_path):
    toml = '[[trunks]]\nname = "a"\nhost = "10.0.0.1"\n[[trunks]]\nname = "b"\nhost = "10.0.0.1"\n'

    message = settings_error(write_toml(tmp_path, toml), {})

    assert "trunks: two trunks share one host:port" in message


def test_given_a_seat_in_an_unknown_queue_when_loading_then_the_error_names_seat_and_queue(tmp_path):
    toml = '[[seats]]\nextension = "2001"\ncontact = "127.0.0.1:5071"\nqueues = ["main", "tax"]\n'

    message = settings_error(write_toml(tmp_path, toml), {})

    assert "seats: 2001 names unknown queues ['tax']" in message


def test_given_a_seat_contact_without_a_port_when_loading_then_the_error_names_the_key(tmp_path):
    toml = '[[seats]]\nextension = "2001"\ncontact = "127.0.0.1"\n'

    message = settings_error(write_toml(tmp_path, toml), {})

    assert "seats.0.contact" in message


def test_given_a_main_queue_that_is_not_a_queue_when_loading_then_the_error_names_ivr_main_queue(tmp_path):
    message = settings_error(write_toml(tmp_path, '[ivr]\nmain_queue = "tax"\n'), {})

    assert "ivr.main_queue 'tax' is not one of queues ['main']" in message


def test_given_a_bad_environment_value_when_loading_then_the_error_names_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    message = settings_error(None, {"HOTLINE__AGI__PORT": "lots"})

    assert "agi.port" in message
    assert "'lots'" in message
    assert "HOTLINE__SECTION__KEY" in message


def test_given_an_environment_variable_below_a_plain_value_when_loading_then_the_error_names_it(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    message = settings_error(None, {"HOTLINE__AGI": "5", "HOTLINE__AGI__PORT": "4600"})

    assert "HOTLINE__AGI__PORT" in message
    assert "agi is not a section" in message


def test_given_an_environment_value_for_an_unknown_key_when_loading_then_the_error_calls_it_unknown(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    message = settings_error(None, {"HOTLINE__AGI__PORTT": "4600"})

    assert "agi.portt" in message
    assert "unknown key" in message


def test_given_the_example_settings_file_when_loaded_then_its_values_are_the_defaults() -> None:
    # The file documents every key with its default: a value that differs is a documentation bug.
    from pathlib import Path

    from hotline.settings import Settings

    example = load_settings(Path(__file__).resolve().parents[2] / "hotline.example.toml", environ={})
    defaults = Settings()
    for section in ("site", "redis", "agi", "capacity", "recording", "asr", "cases"):
        assert getattr(example, section) == getattr(defaults, section), section
