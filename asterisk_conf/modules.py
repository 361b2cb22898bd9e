"""modules.conf: load exactly the modules the generated configuration uses, nothing else.

``autoload=no`` keeps modules we never configure (chan_iax2 binds port 4569, res_ari, cdr_odbc,
...) from opening ports, reading Debian's sample configs or logging errors at every start.
"""

from __future__ import annotations

from asterisk_conf import dahdi
from asterisk_conf.ini import ConfigFile
from hotline.settings import Settings

# (module, why) in load order groups; the reason lands in the file as a comment.
_CORE: tuple[tuple[str, str], ...] = (
    ("res_timing_timerfd.so", "timing source for MOH, Playback and bridges"),
    ("res_sorcery_config.so", "PJSIP objects from pjsip.conf"),
    ("res_sorcery_memory.so", "PJSIP runtime objects"),
    ("res_sorcery_astdb.so", "PJSIP contact storage"),
    ("res_pjproject.so", "PJSIP stack"),
    ("res_pjsip.so", "PJSIP stack"),
    ("res_pjsip_session.so", "INVITE sessions"),
    ("res_pjsip_pubsub.so", "required by chan_pjsip (subscriptions stay off: allow_subscribe=no)"),
    ("res_pjsip_sdp_rtp.so", "SDP offer/answer for audio"),
    ("res_pjsip_endpoint_identifier_ip.so", "trunks are identified by source IP:port"),
    ("res_pjsip_endpoint_identifier_user.so", "web seats by their user (identify_by=username only)"),
    ("res_pjsip_registrar.so", "web softphones register their websocket contact"),
    ("res_pjsip_refer.so", "blind and attended transfers (SIP REFER) from seats"),
    ("res_pjsip_authenticator_digest.so", "unidentified requests get a challenge they cannot meet"),
    ("res_pjsip_nat.so", "force_rport and rewrite_contact"),
    ("res_pjsip_caller_id.so", "caller number from From/P-Asserted-Identity"),
    ("res_pjsip_dlg_options.so", "carriers probe long calls with in-dialog OPTIONS"),
    ("res_pjsip_logger.so", "'pjsip set logger' for diagnosing a trunk"),
    ("res_http_websocket.so", "websocket at /ws for the web softphone"),
    ("res_pjsip_transport_websocket.so", "SIP over websocket (web softphone)"),
    ("res_crypto.so", "DTLS-SRTP for the web softphone"),
    ("res_srtp.so", "DTLS-SRTP for the web softphone"),
    ("res_rtp_asterisk.so", "RTP, RFC 4733 DTMF, ICE"),
    ("chan_pjsip.so", "SIP channels: trunks and seats"),
    ("pbx_config.so", "extensions.conf"),
    ("res_speech.so", "required by res_agi"),
    ("res_agi.so", "FastAGI to the IVR flows"),
    ("app_queue.so", "Queue() and the queue_log"),
    ("app_playback.so", "overflow announcement, EXEC Playback from flows"),
    ("app_mixmonitor.so", "call recording"),
    ("app_chanspy.so", "supervisor listen/whisper/barge"),
    ("app_dial.so", "Dial() and originated calls"),
    ("res_musiconhold.so", "music while callers wait in a queue"),
    ("bridge_simple.so", "two-party bridges"),
    ("bridge_native_rtp.so", "RTP relayed inside Asterisk without decoding"),
    ("func_groupcount.so", "GROUP()/GROUP_COUNT() channel limits"),
    ("func_strings.so", "FILTER() in the dialplan, CSV_QUOTE() in cdr_custom"),
    ("func_cdr.so", "CDR() in cdr_custom"),
    ("func_channel.so", "CHANNEL() read by flows and the call tracker"),
    ("func_callerid.so", "CALLERID() read by flows and the call tracker"),
    ("func_logic.so", "IF()/ISNULL() read by flows"),
    ("codec_ulaw.so", "G.711 mu-law"),
    ("codec_alaw.so", "G.711 A-law (the usual codec in China)"),
    ("codec_a_mu.so", "A-law <-> mu-law without a detour through linear"),
    ("codec_gsm.so", "GSM prompts"),
    ("codec_g722.so", "G.722 trunks"),
    ("codec_opus_open_source.so", "Opus for the web softphone"),
    ("res_format_attr_opus.so", "Opus SDP parameters"),
    ("codec_resample.so", "16 kHz prompts on 8 kHz calls"),
    ("format_wav.so", "WAV prompts and recordings"),
    ("format_pcm.so", ".ulaw/.alaw prompts (no transcoding)"),
    ("format_gsm.so", ".gsm prompts"),
    ("res_security_log.so", "the security log channel"),
    ("res_cdrel_custom.so", "required by cdr_custom since Asterisk 22.x"),
    ("cdr_custom.so", "CDR file in the log dir"),
)


def module_names(settings: Settings) -> list[str]:
    names = [name for name, _ in _CORE]
    if dahdi.chan_dahdi_wanted(settings):
        names.append("chan_dahdi.so")
    return names


def render(settings: Settings) -> ConfigFile:
    conf = ConfigFile("modules.conf")
    section = conf.section("modules")
    section.set("autoload", False)
    for name, why in _CORE:
        section.comment(why)
        section.set("load", name, arrow=True)
    if dahdi.chan_dahdi_wanted(settings):
        section.comment("E1 spans on DAHDI hardware")
        section.set("load", "chan_dahdi.so", arrow=True)
    else:
        section.comment("chan_dahdi is not loaded: no E1 spans, or no DAHDI hardware declared.")
    return conf
