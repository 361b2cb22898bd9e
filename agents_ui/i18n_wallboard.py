"""Words of the wallboard page (zh-CN default, English); merged into agents_ui.i18n.

Every key starts with ``w_``: the page hands exactly these to its script. ``{name}`` placeholders
are filled in by the script.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "w_title": {"zh-CN": "实时监控", "en": "Wallboard"},
    "w_queues": {"zh-CN": "队列", "en": "Queues"},
    "w_no_queues": {"zh-CN": "暂无队列。", "en": "No queues."},
    "w_waiting": {"zh-CN": "排队中", "en": "Waiting"},
    "w_longest_wait": {"zh-CN": "最长等待", "en": "Longest wait"},
    "w_answered_today": {"zh-CN": "今日接听", "en": "Answered today"},
    "w_abandoned_today": {"zh-CN": "今日放弃", "en": "Abandoned today"},
    "w_service_level": {"zh-CN": "{seconds} 秒接通率", "en": "Answered in {seconds} s"},
    "w_over_sl": {
        "zh-CN": "有来电等待超过 {seconds} 秒",
        "en": "A caller has waited over {seconds} s",
    },
    "w_agents": {"zh-CN": "坐席", "en": "Agents"},
    "w_no_agents": {"zh-CN": "暂无坐席。", "en": "No agents."},
    "w_agent": {"zh-CN": "坐席", "en": "Agent"},
    "w_extension": {"zh-CN": "分机", "en": "Ext."},
    "w_state": {"zh-CN": "状态", "en": "State"},
    "w_time_in_state": {"zh-CN": "持续时间", "en": "Time in state"},
    "w_caller": {"zh-CN": "来电号码", "en": "Caller"},
    "w_agent_queues": {"zh-CN": "所属队列", "en": "Queues"},
    "w_calls_today": {"zh-CN": "今日接听", "en": "Calls today"},
    "w_supervise": {"zh-CN": "监控", "en": "Supervise"},
    "w_state_available": {"zh-CN": "空闲", "en": "Available"},
    "w_state_ringing": {"zh-CN": "振铃", "en": "Ringing"},
    "w_state_on_call": {"zh-CN": "通话中", "en": "On call"},
    "w_state_wrap_up": {"zh-CN": "话后整理", "en": "Wrap-up"},
    "w_state_paused": {"zh-CN": "暂停", "en": "Paused"},
    "w_state_logged_out": {"zh-CN": "未签入", "en": "Logged out"},
    "w_pause_pending": {"zh-CN": "通话后暂停：{reason}", "en": "Pause after the call: {reason}"},
    "w_unreachable": {"zh-CN": "话机离线", "en": "Phone offline"},
    "w_since": {"zh-CN": "开始于 {time}", "en": "Since {time}"},
    "w_listen": {"zh-CN": "监听", "en": "Listen"},
    "w_whisper": {"zh-CN": "密语", "en": "Whisper"},
    "w_barge": {"zh-CN": "强插", "en": "Barge in"},
    "w_listen_help": {
        "zh-CN": "只听不说：坐席和来电人都听不到您",
        "en": "Hear the call; neither side hears you",
    },
    "w_whisper_help": {
        "zh-CN": "只有坐席能听到您，来电人听不到",
        "en": "Only the agent hears you, not the caller",
    },
    "w_barge_help": {
        "zh-CN": "加入通话：坐席和来电人都能听到您",
        "en": "Join the call: both the agent and the caller hear you",
    },
    "w_ws_connecting": {"zh-CN": "正在连接…", "en": "Connecting…"},
    "w_ws_open": {"zh-CN": "实时数据已连接", "en": "Live"},
    "w_ws_closed": {
        "zh-CN": "实时数据已断开，{seconds} 秒后重连",
        "en": "Disconnected; reconnecting in {seconds} s",
    },
    "w_sip_none": {
        "zh-CN": "您没有分机，无法监听",
        "en": "You have no extension: listening is not available",
    },
    "w_sip_connecting": {"zh-CN": "监听话机连接中", "en": "Softphone connecting"},
    "w_sip_registered": {"zh-CN": "监听话机就绪", "en": "Softphone ready"},
    "w_sip_unregistered": {"zh-CN": "监听话机未注册", "en": "Softphone not registered"},
    "w_sip_failed": {"zh-CN": "监听话机注册失败", "en": "Softphone registration failed"},
    "w_spy_idle": {"zh-CN": "未在监听", "en": "Not listening"},
    "w_spy_requested": {"zh-CN": "正在接入 {agent} 的通话…", "en": "Connecting to {agent}'s call…"},
    "w_spy_listen": {"zh-CN": "正在监听 {agent}", "en": "Listening to {agent}"},
    "w_spy_whisper": {"zh-CN": "正在对 {agent} 密语", "en": "Whispering to {agent}"},
    "w_spy_barge": {"zh-CN": "已强插 {agent} 的通话", "en": "In {agent}'s call"},
    "w_spy_unknown": {"zh-CN": "通话中：{caller}", "en": "In a call with {caller}"},
    "w_spy_ended": {"zh-CN": "监听已结束", "en": "Listening ended"},
    "w_spy_hangup": {"zh-CN": "结束监听", "en": "Stop listening"},
    "w_err_supervise": {"zh-CN": "监控操作失败：{detail}", "en": "Could not supervise: {detail}"},
    "w_err_load": {"zh-CN": "无法读取监控数据：{detail}", "en": "Could not load the wallboard: {detail}"},
    "w_err_network": {"zh-CN": "网络错误", "en": "network error"},
    "w_err_softphone": {
        "zh-CN": "监听话机无法启动：{detail}",
        "en": "The softphone could not start: {detail}",
    },
    "w_dismiss": {"zh-CN": "关闭", "en": "Dismiss"},
    "w_clock": {"zh-CN": "当前时间", "en": "Time"},
}
