"""The paper's 12 counselling topics (Appendix B) and the transparent keyword classifier.

The classifier counts, for each topic, the occurrences of its keywords in the user's messages (the
first message, which states the problem, weighs ``first_weight`` times) and picks the highest score;
ties go to the topic listed first; no keyword at all gives ``topic.default``. The keyword lists are
data: extend them with ``topic.keywords`` (``{topic: [words]}``), or register another ``topic``
component.
"""

from __future__ import annotations

import re
from typing import Any

#: Appendix B: Chinese name -> English name, in the paper's order
TOPICS: dict[str, str] = {
    "家庭": "Family", "婚恋": "Marriage", "性心理": "Sex", "成长发展": "Growth", "人际关系": "Relationship",
    "职场": "Career", "自我认知": "Self-awareness", "行为": "Behavior", "情绪": "Emotion", "治疗": "Treatment",
    "社会事件": "Social events", "心理学知识": "Psychological knowledge",
}
OTHER_EN = "Other"

KEYWORDS: dict[str, list[str]] = {
    "家庭": ["父母", "爸爸", "妈妈", "爸妈", "父亲", "母亲", "家人", "家里", "孩子", "亲戚", "兄弟", "姐妹", "婆婆", "原生家庭"],
    "婚恋": ["恋爱", "男朋友", "女朋友", "对象", "分手", "前任", "结婚", "婚姻", "老公", "老婆", "伴侣", "表白", "暗恋", "异地恋", "出轨", "离婚"],
    "性心理": ["性取向", "同性", "性欲", "青春期", "亲密关系", "性行为", "身体的变化", "自慰"],
    "成长发展": ["高考", "考研", "学习", "成绩", "毕业", "大学", "高中", "考试", "迷茫", "未来", "同龄人", "适应"],
    "人际关系": ["室友", "朋友", "同学", "社交", "孤立", "人际", "拒绝", "聚会", "讨好", "相处"],
    "职场": ["工作", "领导", "同事", "加班", "辞职", "上班", "职场", "入职", "公司", "老板", "面试", "跳槽"],
    "自我认知": ["自卑", "自信", "自我", "不够好", "别人的看法", "接纳自己", "价值感", "空虚", "喜欢什么"],
    "行为": ["手机", "拖延", "暴饮暴食", "习惯", "游戏", "熬夜", "控制不住", "强迫", "上瘾"],
    "情绪": ["焦虑", "抑郁", "低落", "难过", "发脾气", "愤怒", "孤独", "不安", "情绪", "烦躁", "崩溃", "压抑"],
    "治疗": ["心理咨询", "咨询师", "吃药", "药物", "医生", "治疗", "医院", "确诊", "复诊"],
    "社会事件": ["新闻", "疫情", "事故", "社会", "灾难", "网暴", "热搜"],
    "心理学知识": ["心理学", "正念", "什么区别", "怎样区分", "是什么意思", "原理", "理论"],
}


class KeywordTopics:
    """``classifier(dialogue) -> topic`` (see the module docstring); ``names`` maps zh -> en."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.names = dict(TOPICS)
        keywords = {t: list(ws) for t, ws in KEYWORDS.items()}
        for topic, words in (cfg.keywords or {}).items():
            keywords.setdefault(topic, []).extend(words)
            self.names.setdefault(topic, topic)
        self.default = cfg.default
        self.names.setdefault(self.default, OTHER_EN)
        self.order = list(keywords)
        self.word_topic = {w: t for t, ws in keywords.items() for w in ws}
        # longest words first, so 心理咨询 wins over 咨询 at the same position
        self.pattern = re.compile("|".join(map(re.escape, sorted(self.word_topic, key=len, reverse=True))))

    def scores(self, d: dict) -> dict[str, int]:
        out = dict.fromkeys(self.order, 0)
        users = [m["content"] for m in d["messages"] if m["role"] == "user"]
        if users:
            for w in self.pattern.findall(users[0]):
                out[self.word_topic[w]] += self.cfg.first_weight
            for w in self.pattern.findall("\n".join(users[1:])):
                out[self.word_topic[w]] += 1
        return out

    def __call__(self, d: dict) -> str:
        given = d.get("topic")
        if self.cfg.keep_given and given in self.names and given != self.default:
            return given
        scores = self.scores(d)
        best = max(scores.values())
        # ties go to the topic listed first
        return next(t for t in self.order if scores[t] == best) if best > 0 else self.default


def build(cfg: Any) -> KeywordTopics:
    """The ``topic`` factory for ``keywords``."""
    return KeywordTopics(cfg)
