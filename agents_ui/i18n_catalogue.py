"""Words of the case-catalogue page (zh-CN default, English); merged into agents_ui.i18n.

Every key starts with ``cat_``: the page hands exactly these to its script.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "cat_title": {"zh-CN": "工单目录管理", "en": "Case catalogue"},
    "cat_help": {
        "zh-CN": "在这里维护承办单位、工单分类（含办理时限和默认承办单位）、按责派单规则，"
        "以及部门人员所属的单位。已有工单使用的单位和分类不能删除，只能停用："
        "停用后不再接收新工单，已有工单照常办理。",
        "en": "Departments, the category tree (with time limits and default departments), routing "
        "rules, and which department staff serve which department. A department or category that "
        "cases use cannot be deleted, only deactivated: it takes no new case, and old cases carry on.",
    },
    "cat_nav": {"zh-CN": "工单目录", "en": "Catalogue"},
    "cat_loading": {"zh-CN": "正在加载…", "en": "Loading…"},
    "cat_saving": {"zh-CN": "正在保存…", "en": "Saving…"},
    "cat_failed": {"zh-CN": "未保存：", "en": "Not saved: "},
    "cat_load_failed": {"zh-CN": "加载失败：", "en": "Could not load: "},
    "cat_refused": {"zh-CN": "无权操作：", "en": "Not allowed: "},
    "cat_saved": {"zh-CN": "已保存。", "en": "Saved."},
    "cat_nothing_changed": {"zh-CN": "没有修改。", "en": "Nothing changed."},
    "cat_save": {"zh-CN": "保存", "en": "Save"},
    "cat_add": {"zh-CN": "添加", "en": "Add"},
    "cat_delete": {"zh-CN": "删除", "en": "Delete"},
    "cat_deactivate": {"zh-CN": "停用", "en": "Deactivate"},
    "cat_activate": {"zh-CN": "启用", "en": "Activate"},
    "cat_more": {"zh-CN": "更多", "en": "More"},
    "cat_active": {"zh-CN": "启用", "en": "Active"},
    "cat_inactive": {"zh-CN": "已停用", "en": "Inactive"},
    "cat_none": {"zh-CN": "（无）", "en": "(none)"},
    "cat_actions": {"zh-CN": "操作", "en": "Actions"},
    "cat_status": {"zh-CN": "状态", "en": "Status"},
    "cat_in_use": {"zh-CN": "使用情况", "en": "In use"},
    "cat_confirm_delete": {"zh-CN": "确定删除“{name}”吗？", "en": "Delete “{name}”?"},
    # Departments.
    "cat_departments": {"zh-CN": "承办单位", "en": "Departments"},
    "cat_new_department": {"zh-CN": "新增承办单位", "en": "New department"},
    "cat_code": {"zh-CN": "编码", "en": "Code"},
    "cat_code_help": {
        "zh-CN": "小写字母开头，可含小写字母、数字和下划线，最多 40 位；已有工单后不能再改。",
        "en": "A lower-case letter, then lower-case letters, digits or _ (up to 40); "
        "fixed once cases use it.",
    },
    "cat_name": {"zh-CN": "名称", "en": "Name"},
    "cat_name_en": {"zh-CN": "英文名称", "en": "English name"},
    "cat_sms_number": {"zh-CN": "短信号码", "en": "SMS number"},
    "cat_email": {"zh-CN": "邮箱", "en": "E-mail"},
    "cat_uses_department": {
        "zh-CN": "在办工单 {cases} · 人员 {members} · 规则 {rules} · 默认分类 {categories}",
        "en": "cases {cases} · staff {members} · rules {rules} · default for {categories}",
    },
    "cat_department_added": {"zh-CN": "承办单位已添加。", "en": "Department added."},
    "cat_department_deleted": {"zh-CN": "承办单位已删除。", "en": "Department deleted."},
    # Categories.
    "cat_categories": {"zh-CN": "工单分类", "en": "Categories"},
    "cat_categories_help": {
        "zh-CN": "办理时限按工作日计（1 到 60），紧急工单按小时计（1 到 720）。"
        "没有下级分类的分类才能用于受理工单。改“上级分类”即可移动分类（连同其下级）。",
        "en": "Limits are working days (1 to 60), or hours when urgent (1 to 720). Cases are filed "
        "under categories without subcategories. Change the parent to move a category with its branch.",
    },
    "cat_new_category": {"zh-CN": "新增分类", "en": "New category"},
    "cat_category": {"zh-CN": "分类", "en": "Category"},
    "cat_parent": {"zh-CN": "上级分类", "en": "Parent"},
    "cat_top": {"zh-CN": "（顶级）", "en": "(top level)"},
    "cat_kind": {"zh-CN": "类型", "en": "Kind"},
    "cat_kind_event": {"zh-CN": "事件", "en": "Event"},
    "cat_kind_component": {"zh-CN": "部件", "en": "Component"},
    "cat_kind_service": {"zh-CN": "诉求", "en": "Request"},
    "cat_limit_days": {"zh-CN": "办理时限（工作日）", "en": "Limit (working days)"},
    "cat_urgent_hours": {"zh-CN": "紧急时限（小时）", "en": "Urgent limit (hours)"},
    "cat_default_department": {"zh-CN": "默认承办单位", "en": "Default department"},
    "cat_keywords": {"zh-CN": "关键词", "en": "Keywords"},
    "cat_description": {"zh-CN": "说明", "en": "Description"},
    "cat_open311": {"zh-CN": "对外开放（Open311）", "en": "Offered on Open311"},
    "cat_uses_category": {
        "zh-CN": "工单 {cases} · 规则 {rules}",
        "en": "cases {cases} · rules {rules}",
    },
    "cat_category_added": {"zh-CN": "分类已添加。", "en": "Category added."},
    "cat_category_deleted": {"zh-CN": "分类已删除。", "en": "Category deleted."},
    # Routing rules.
    "cat_rules": {"zh-CN": "按责派单规则", "en": "Routing rules"},
    "cat_rules_help": {
        "zh-CN": "工单按以下顺序确定承办单位：先看本分类（或最近的有规则的上级分类）中与地点匹配的规则"
        "——街道须完全相同，网格编码按前缀匹配、越长越优先；没有则用最近的默认承办单位；"
        "再没有则用不限分类的地点规则；都没有则由派单员人工派遣。",
        "en": "A case's department: a rule of its category (or the nearest ancestor with rules) "
        "matching the place — the street exactly, the grid cell by prefix, longest first; else the "
        "nearest default department; else a rule for any category at the place; else the dispatcher.",
    },
    "cat_new_rule": {"zh-CN": "新增规则", "en": "New rule"},
    "cat_any_category": {"zh-CN": "（任意分类）", "en": "(any category)"},
    "cat_street": {"zh-CN": "街道", "en": "Street"},
    "cat_grid_prefix": {"zh-CN": "网格编码前缀", "en": "Grid prefix"},
    "cat_department": {"zh-CN": "承办单位", "en": "Department"},
    "cat_note": {"zh-CN": "备注", "en": "Note"},
    "cat_anywhere": {"zh-CN": "不限", "en": "any"},
    "cat_no_rules": {"zh-CN": "还没有规则。", "en": "No rules yet."},
    "cat_rule_added": {"zh-CN": "规则已添加。", "en": "Rule added."},
    "cat_rule_deleted": {"zh-CN": "规则已删除。", "en": "Rule deleted."},
    # Department members.
    "cat_members": {"zh-CN": "部门人员所属单位", "en": "Department staff"},
    "cat_members_help": {
        "zh-CN": "勾选每位部门人员所属的承办单位，他们在部门工作台只能看到并办理这些单位的工单。"
        "新增部门人员请到“用户管理”中创建并选择“部门人员”角色。",
        "en": "Tick the departments each department-staff user serves: their portal shows those "
        "departments' cases only. Make new department staff on the Users page (role Department staff).",
    },
    "cat_user": {"zh-CN": "用户", "en": "User"},
    "cat_not_staff": {"zh-CN": "（不是部门人员）", "en": " (not department staff)"},
    "cat_disabled_user": {"zh-CN": "（账号已停用）", "en": " (disabled)"},
    "cat_no_members": {
        "zh-CN": "还没有部门人员。",
        "en": "No department staff yet.",
    },
    "cat_members_saved": {"zh-CN": "所属单位已保存。", "en": "Departments saved."},
    # The routing tester.
    "cat_tester": {"zh-CN": "派单测试：这件工单会派给谁？", "en": "Where would this case go?"},
    "cat_tester_help": {
        "zh-CN": "选择分类并填写街道或网格编码，按现有规则算出承办单位并说明依据，不会创建工单。",
        "en": "Pick a category and a street or grid cell: the department today's rules choose, and "
        "why. No case is made.",
    },
    "cat_no_category": {"zh-CN": "（不选分类）", "en": "(no category)"},
    "cat_grid_cell": {"zh-CN": "网格编码", "en": "Grid cell"},
    "cat_test": {"zh-CN": "测试", "en": "Test"},
    "cat_goes_to": {"zh-CN": "派往：{department}", "en": "Goes to: {department}"},
    "cat_decided_rule": {
        "zh-CN": "依据：规则 #{rule}（分类“{category}”，{place}）。",
        "en": "Why: rule #{rule} (category “{category}”, {place}).",
    },
    "cat_decided_rule_inherited": {
        "zh-CN": "依据：上级分类“{category}”的规则 #{rule}（{place}）。",
        "en": "Why: rule #{rule} of the parent category “{category}” ({place}).",
    },
    "cat_decided_default": {
        "zh-CN": "依据：没有匹配的规则，使用分类“{category}”的默认承办单位。",
        "en": "Why: no rule matches; the default department of “{category}”.",
    },
    "cat_decided_place": {
        "zh-CN": "依据：不限分类的地点规则 #{rule}（{place}）。",
        "en": "Why: rule #{rule} for any category at this place ({place}).",
    },
    "cat_decided_none": {
        "zh-CN": "没有规则或默认承办单位匹配：工单将留待派单员人工派遣。",
        "en": "No rule or default department applies: the case waits for the dispatcher.",
    },
    "cat_place_street": {"zh-CN": "街道为“{street}”", "en": "street “{street}”"},
    "cat_place_grid": {"zh-CN": "网格编码以“{prefix}”开头", "en": "grid cell starting “{prefix}”"},
    "cat_place_any": {"zh-CN": "不限地点", "en": "any place"},
    "cat_inactive_warning": {
        "zh-CN": "注意：该单位已停用，按此受理将无法派遣，请修改规则或默认承办单位。",
        "en": "Note: this department is inactive, so such a case could not be dispatched: "
        "change the rule or default.",
    },
}
