"""Words shown in the pages: Chinese (zh-CN) by default, English on request."""

from __future__ import annotations

from agents_ui.i18n_cases import TEXT as _CASES_TEXT
from agents_ui.i18n_catalogue import TEXT as _CATALOGUE_TEXT
from agents_ui.i18n_console import TEXT as _CONSOLE_TEXT
from agents_ui.i18n_outbox import TEXT as _OUTBOX_TEXT
from agents_ui.i18n_recordings import TEXT as _RECORDINGS_TEXT
from agents_ui.i18n_wallboard import TEXT as _WALLBOARD_TEXT

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
    # Accounts: login page, user administration, the account bar.
    "login_title": {"zh-CN": "登录", "en": "Log in"},
    "username": {"zh-CN": "用户名", "en": "Username"},
    "password": {"zh-CN": "密码", "en": "Password"},
    "log_in": {"zh-CN": "登录", "en": "Log in"},
    "log_out": {"zh-CN": "退出登录", "en": "Log out"},
    "login_failed": {"zh-CN": "用户名或密码不正确。", "en": "Wrong username or password."},
    "login_locked": {
        "zh-CN": "登录失败次数过多，请 {seconds} 秒后再试。",
        "en": "Too many failed logins. Try again in {seconds} seconds.",
    },
    "login_help": {
        "zh-CN": "忘记密码请联系系统管理员。",
        "en": "Forgot your password? Ask your administrator.",
    },
    "signed_in_as": {"zh-CN": "当前用户", "en": "Signed in as"},
    "users_title": {"zh-CN": "用户管理", "en": "Users"},
    "display_name": {"zh-CN": "姓名", "en": "Name"},
    "roles": {"zh-CN": "角色", "en": "Roles"},
    "extension": {"zh-CN": "分机号", "en": "Extension"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "active": {"zh-CN": "启用", "en": "Active"},
    "disabled": {"zh-CN": "已停用", "en": "Disabled"},
    "enable": {"zh-CN": "启用", "en": "Enable"},
    "disable": {"zh-CN": "停用", "en": "Disable"},
    "save": {"zh-CN": "保存", "en": "Save"},
    "new_user": {"zh-CN": "新建用户", "en": "New user"},
    "create": {"zh-CN": "创建", "en": "Create"},
    "new_password": {"zh-CN": "新密码", "en": "New password"},
    "reset_password": {"zh-CN": "重置密码", "en": "Reset password"},
    "actions": {"zh-CN": "操作", "en": "Actions"},
    "you": {"zh-CN": "（本人）", "en": " (you)"},
    "password_rule": {
        "zh-CN": "密码至少 10 个字符，且不能与用户名相同。",
        "en": "Passwords need at least 10 characters and must differ from the username.",
    },
    "role_agent": {"zh-CN": "坐席", "en": "Agent"},
    "role_duty_leader": {"zh-CN": "值班领导", "en": "Duty leader"},
    "role_department_staff": {"zh-CN": "部门人员", "en": "Department staff"},
    "role_supervisor": {"zh-CN": "班长", "en": "Supervisor"},
    "role_administrator": {"zh-CN": "系统管理员", "en": "Administrator"},
    "done_created": {"zh-CN": "用户已创建。", "en": "User created."},
    "done_saved": {"zh-CN": "已保存。", "en": "Saved."},
    "done_enabled": {"zh-CN": "用户已启用。", "en": "User enabled."},
    "done_disabled": {
        "zh-CN": "用户已停用，其登录已全部结束。",
        "en": "User disabled; their logins were ended.",
    },
    "done_password": {
        "zh-CN": "密码已重置，该用户需要重新登录。",
        "en": "Password reset; the user must log in again.",
    },
    "err_username_invalid": {
        "zh-CN": "用户名须为 2 到 64 位小写字母、数字或 . _ -。",
        "en": "Usernames are 2 to 64 lower-case letters, digits, '.', '_' or '-'.",
    },
    "err_username_taken": {"zh-CN": "该用户名已存在。", "en": "That username is taken."},
    "err_role_unknown": {"zh-CN": "未知角色。", "en": "Unknown role."},
    "err_role_none": {"zh-CN": "请至少选择一个角色。", "en": "Choose at least one role."},
    "err_extension_invalid": {"zh-CN": "分机号为 2 到 8 位数字。", "en": "An extension is 2 to 8 digits."},
    "err_extension_taken": {"zh-CN": "该分机号已被其他用户使用。", "en": "Another user has that extension."},
    "err_skill_invalid": {
        "zh-CN": "技能队列格式：队列名:优先级(0-100)。",
        "en": "Skills are queue:penalty (0-100).",
    },
    "err_password_short": {
        "zh-CN": "密码至少需要 10 个字符。",
        "en": "The password needs at least 10 characters.",
    },
    "err_password_long": {"zh-CN": "密码过长。", "en": "The password is too long."},
    "err_password_is_username": {
        "zh-CN": "密码不能与用户名相同。",
        "en": "The password must not be the username.",
    },
    "err_own_admin_role": {
        "zh-CN": "不能取消自己的系统管理员角色。",
        "en": "You cannot remove your own administrator role.",
    },
    "err_disable_self": {"zh-CN": "不能停用自己的账号。", "en": "You cannot disable yourself."},
    "err_no_user": {"zh-CN": "用户不存在。", "en": "No such user."},
    "forbidden": {"zh-CN": "您的角色无权访问此页面。", "en": "Your role may not open this page."},
    # Teams (班组) and skills on the Users page; the calls page's team note.
    "team": {"zh-CN": "班组", "en": "Team"},
    "teams_title": {"zh-CN": "班组", "en": "Teams"},
    "teams_help": {
        "zh-CN": "班长只能查看本班组成员接听的来电；未分配班组的班长和系统管理员可以查看全部来电。"
        "班组内还有成员时不能删除。",
        "en": "A supervisor sees the calls answered by their own team; a supervisor in no team, and "
        "administrators, see every call. A team that still has members cannot be deleted.",
    },
    "team_name": {"zh-CN": "班组名称", "en": "Team name"},
    "team_display_name": {"zh-CN": "显示名称（可不填）", "en": "Display name (optional)"},
    "team_members": {"zh-CN": "成员数", "en": "Members"},
    "new_team": {"zh-CN": "新建班组", "en": "New team"},
    "no_teams": {"zh-CN": "还没有班组。", "en": "No teams yet."},
    "no_team": {"zh-CN": "（无班组）", "en": "(no team)"},
    "delete": {"zh-CN": "删除", "en": "Delete"},
    "skills": {"zh-CN": "技能（接听的队列）", "en": "Skills (queues answered)"},
    "penalty": {"zh-CN": "优先级", "en": "Penalty"},
    "save_skills": {"zh-CN": "保存技能", "en": "Save skills"},
    "skills_help": {
        "zh-CN": "勾选该坐席接听的队列。优先级 0 最先振铃，数字越大越靠后（0 到 100）。"
        "都不勾选则接听主队列。坐席下次签入时生效。",
        "en": "Tick the queues this agent answers. Penalty 0 rings first, higher numbers later "
        "(0 to 100). None ticked: the main queue. Applies at the agent's next sign-in.",
    },
    "skills_not_agent": {
        "zh-CN": "只有坐席和值班领导接听队列。",
        "en": "Only agents and duty leaders answer queues.",
    },
    "skills_saving": {"zh-CN": "正在保存…", "en": "Saving…"},
    "skills_saved": {
        "zh-CN": "技能已保存，坐席下次签入时生效。",
        "en": "Skills saved; they apply at the agent's next sign-in.",
    },
    "skills_saved_main": {
        "zh-CN": "已保存：没有勾选队列，该坐席接听主队列。",
        "en": "Saved: no queue ticked, so the agent answers the main queue.",
    },
    "skills_penalty_invalid": {
        "zh-CN": "优先级须为 0 到 100 之间的整数。",
        "en": "A penalty is a whole number from 0 to 100.",
    },
    "skills_failed": {"zh-CN": "未保存：", "en": "Not saved: "},
    "done_team_created": {"zh-CN": "班组已创建。", "en": "Team created."},
    "done_team_saved": {"zh-CN": "班组已保存。", "en": "Team saved."},
    "done_team_deleted": {"zh-CN": "班组已删除。", "en": "Team deleted."},
    "err_team_name_invalid": {
        "zh-CN": "班组名称为 1 到 64 个字符，显示名称最多 128 个字符。",
        "en": "A team name is 1 to 64 characters, a display name at most 128.",
    },
    "err_team_name_taken": {"zh-CN": "已有同名班组。", "en": "Another team has that name."},
    "err_no_team": {"zh-CN": "班组不存在。", "en": "No such team."},
    "err_team_unknown": {
        "zh-CN": "所选班组已不存在，请刷新页面后重试。",
        "en": "That team no longer exists; reload the page and try again.",
    },
    "err_team_not_empty": {
        "zh-CN": "该班组还有成员，不能删除。请先在下方用户列表中把成员调到其他班组或“（无班组）”，再删除。",
        "en": "This team still has members, so it cannot be deleted. First move them to another team "
        "or to “(no team)” in the user list below.",
    },
    "calls_team_scope": {
        "zh-CN": "只显示本班组（{team}）成员接听的来电。",
        "en": "Showing the calls answered in your team ({team}).",
    },
}


# Each console keeps its words in its own table; a key may appear in one table only.
for _table in (_CONSOLE_TEXT, _WALLBOARD_TEXT, _RECORDINGS_TEXT, _CASES_TEXT, _OUTBOX_TEXT, _CATALOGUE_TEXT):
    _clash = _TEXT.keys() & _table.keys()
    if _clash:
        raise RuntimeError(f"i18n keys defined twice: {sorted(_clash)}")
    _TEXT.update(_table)


def pick_language(requested: str | None, default: str) -> str:
    if requested in LANGUAGES:
        return str(requested)
    return default if default in LANGUAGES else "zh-CN"


def translator(language: str) -> dict[str, str]:
    return {key: words.get(language, words["zh-CN"]) for key, words in _TEXT.items()}
