"""Speaker names, in one place: the two canonical roles, every name that maps to them, and the
Chinese labels dialogues are rendered and parsed with.

Readers map a file's speaker names to a role with :func:`role_of`; the paper's input format renders
``用户：`` / ``心理咨询师：`` (:data:`LABELS`); the SMILE prompt and SMILECHAT's older string form use
``求助者：`` / ``支持者：`` (:data:`SMILE_LABELS`); the rewrite parser and the plain-text reader
accept every name in :data:`USER_NAMES` / :data:`COUNSELLOR_NAMES` (case-insensitive).
"""

from __future__ import annotations

USER = "user"
ASSISTANT = "assistant"
ROLES = (USER, ASSISTANT)

#: the paper's input labels (``用户：u1\n心理咨询师：p1\n…``): training, inference, the test server
LABELS = {USER: "用户", ASSISTANT: "心理咨询师"}
#: SMILE's labels: the smile prompt's speakers and SMILECHAT's older ``求助者：`` / ``支持者：`` strings
SMILE_LABELS = {USER: "求助者", ASSISTANT: "支持者"}
COLON = "："  # the full-width colon the paper renders
COLONS = ("：", ":")  # what a speaker prefix may end with when parsed

#: names of the person seeking help, as files and models write them (用户 the paper, 来访者
#: CPsyCounD, 求助者 SMILE, client SMILECHAT, human ShareGPT, seeker ESConv)
USER_NAMES = ("user", "client", "human", "seeker", "用户", "来访者", "求助者", "咨询者")
#: names of the counsellor (心理咨询师 the paper and CPsyCounD, 支持者 SMILE, counselor SMILECHAT,
#: gpt ShareGPT, supporter ESConv)
COUNSELLOR_NAMES = ("assistant", "counselor", "counsellor", "psychologist", "supporter", "gpt",
                    "心理咨询师", "咨询师", "支持者")
#: names whose messages are dropped on reading (system prompts are not part of the dialogue)
DROPPED_NAMES = ("system",)

#: lower-cased name -> canonical role, ``None`` for a dropped speaker
ROLE_OF: dict[str, str | None] = {
    **{n: USER for n in USER_NAMES}, **{n: ASSISTANT for n in COUNSELLOR_NAMES}, **{n: None for n in DROPPED_NAMES},
}
#: every name that starts an utterance, longest first (so 心理咨询师 is tried before 咨询师)
SPEAKER_NAMES = tuple(sorted(USER_NAMES + COUNSELLOR_NAMES, key=len, reverse=True))


def role_of(name: object) -> str | None:
    """The canonical role of a speaker name (``None``: dropped, a system prompt).

    Raises:
        KeyError: an unknown name (not text, or in none of the lists above).
    """
    if isinstance(name, str):
        role = ROLE_OF.get(name, "?")
        if role == "?":
            role = ROLE_OF.get(name.strip().lower(), "?")
        if role != "?":
            return role
    raise KeyError(name)


def known_names() -> str:
    """A short list of accepted names for error messages."""
    return "user/assistant (or client/counselor, human/gpt, 用户/心理咨询师, 求助者/支持者, 来访者/咨询师)"
