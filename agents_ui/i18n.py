"""Words shown in the pages: Chinese (zh-CN) by default, English on request."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")

_TEXT: dict[str, dict[str, str]] = {
    "recent_calls": {"zh-CN": "最近来电", "en": "Recent calls"},
    "started": {"zh-CN": "来电时间", "en": "Started"},
    "caller": {"zh-CN": "来电号码", "en": "Caller"},
    "called": {"zh-CN": "被叫号码", "en": "Called"},
    "trunk": {"zh-CN": "中继", "en": "Trunk"},
    "ivr_path": {"zh-CN": "语音导航路径", "en": "IVR path"},
    "queue": {"zh-CN": "队列", "en": "Queue"},
    "agent": {"zh-CN": "坐席", "en": "Agent"},
    "duration": {"zh-CN": "时长(秒)", "en": "Duration (s)"},
    "disposition": {"zh-CN": "结果", "en": "Outcome"},
    "no_calls": {"zh-CN": "还没有来电。", "en": "No calls yet."},
    "health": {"zh-CN": "系统状态", "en": "Health"},
    "previous": {"zh-CN": "上一页", "en": "Previous"},
    "next": {"zh-CN": "下一页", "en": "Next"},
    "times_in": {"zh-CN": "时间按时区", "en": "Times in"},
    "in_progress": {"zh-CN": "进行中", "en": "In progress"},
    "answered": {"zh-CN": "已接听", "en": "Answered"},
    "abandoned": {"zh-CN": "放弃", "en": "Abandoned"},
    "ivr_only": {"zh-CN": "语音导航内结束", "en": "Ended in IVR"},
    "voicemail": {"zh-CN": "留言", "en": "Voicemail"},
    "overflow": {"zh-CN": "线路忙", "en": "Overflow"},
    "failed": {"zh-CN": "未接通", "en": "Failed"},
    "abnormal": {"zh-CN": "异常结束", "en": "Abnormal"},
}


def pick_language(requested: str | None, default: str) -> str:
    if requested in LANGUAGES:
        return str(requested)
    return default if default in LANGUAGES else "zh-CN"


def translator(language: str) -> dict[str, str]:
    return {key: words.get(language, words["zh-CN"]) for key, words in _TEXT.items()}
