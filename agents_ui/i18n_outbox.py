"""Words of the outbox page (zh-CN default, English); merged into agents_ui.i18n.

Every key starts with ``o_``: the page hands exactly these to its script.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "o_title": {"zh-CN": "消息发送队列", "en": "Outbox"},
    "o_help": {
        "zh-CN": "短信、邮件和对外推送（webhook）在此排队发送。失败的消息按逐步加长的间隔重试，"
        "达到最大次数或被对方明确拒绝后标记为“已放弃”；未配置网关的渠道暂存消息，配置后自动发送。",
        "en": "SMS, e-mails and webhooks wait here to be sent. A failed message is tried again after "
        "a growing delay and marked dead after the last attempt or a lasting refusal; a channel with "
        "no gateway holds its messages until one is configured.",
    },
    "o_channel": {"zh-CN": "渠道", "en": "Channel"},
    "o_channel_sms": {"zh-CN": "短信", "en": "SMS"},
    "o_channel_email": {"zh-CN": "邮件", "en": "E-mail"},
    "o_channel_webhook": {"zh-CN": "对外推送", "en": "Webhook"},
    "o_status": {"zh-CN": "状态", "en": "Status"},
    "o_status_pending": {"zh-CN": "待发送", "en": "Pending"},
    "o_status_sent": {"zh-CN": "已发送", "en": "Sent"},
    "o_status_dead": {"zh-CN": "已放弃", "en": "Dead"},
    "o_status_held": {"zh-CN": "暂存（未配置网关）", "en": "Held (no gateway)"},
    "o_case": {"zh-CN": "工单号", "en": "Case"},
    "o_recipient": {"zh-CN": "接收方", "en": "Recipient"},
    "o_event": {"zh-CN": "事件", "en": "Event"},
    "o_attempts": {"zh-CN": "尝试次数", "en": "Attempts"},
    "o_next": {"zh-CN": "下次尝试", "en": "Next try"},
    "o_created": {"zh-CN": "创建时间", "en": "Created"},
    "o_sent_at": {"zh-CN": "发送时间", "en": "Sent"},
    "o_last_error": {"zh-CN": "最近错误", "en": "Last error"},
    "o_actions": {"zh-CN": "操作", "en": "Actions"},
    "o_retry": {"zh-CN": "重新发送", "en": "Retry"},
    "o_retried": {"zh-CN": "已重新排队，稍后发送。", "en": "Queued again; it goes out shortly."},
    "o_log": {"zh-CN": "发送记录", "en": "Delivery log"},
    "o_log_empty": {"zh-CN": "尚未尝试发送。", "en": "Not tried yet."},
    "o_ok": {"zh-CN": "成功", "en": "OK"},
    "o_not_ok": {"zh-CN": "失败", "en": "Failed"},
    "o_code": {"zh-CN": "应答码", "en": "Code"},
    "o_duration": {"zh-CN": "耗时(毫秒)", "en": "Time (ms)"},
    "o_detail": {"zh-CN": "说明", "en": "Detail"},
    "o_any": {"zh-CN": "全部", "en": "Any"},
    "o_filter": {"zh-CN": "筛选", "en": "Filter"},
    "o_more": {"zh-CN": "加载更多", "en": "More"},
    "o_none": {"zh-CN": "没有符合条件的消息。", "en": "No message matches."},
    "o_loading": {"zh-CN": "正在加载…", "en": "Loading…"},
    "o_failed": {"zh-CN": "出错了：", "en": "Something went wrong: "},
    "o_refused": {"zh-CN": "无权访问：", "en": "Not allowed: "},
}
