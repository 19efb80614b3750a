"""English rules of the ``crisis`` guard (decisions and examples: docs/guard.md)."""

from __future__ import annotations

import re

from soulchat.guard.engine import Lexicon, Rule

C = re.compile

_MASKS = [
    r"\bdying (?:to|for)\b", r"\bto die for\b", r"\bkilling (?:it|time|me)\b", r"\bkill(?:s|ed)? (?:time|the (?:process|app|engine|lights|mood|vibe))\b",
    r"\b(?:i'?m|i am|we'?re) (?:so )?dead\b(?! serious)", r"\bdied (?:laughing|of (?:laughter|embarrassment))\b",
    r"\bcould (?:kill|murder) (?:for )?an?\b", r"\b(?:career|political|social) suicide\b", r"\bsuicide (?:bomb\w*|squad|attack\w*|mission)\b",
    r"\bkill two birds\b", r"\bdead (?:tired|serious|end|line)\b", r"\bkiller\b", r"\b(?:my|the) (?:phone|battery|laptop) (?:died|is dead)\b",
    r"\bcut (?:myself|me) (?:some )?slack\b", r"\bhit me with (?:a|the|her|his|my) (?:pillow|ball|snowball|joke|question|idea)\b", r"\bhit me up\b", r"\bhits me (?:that|how|when)\b", r"\bit hit me\b",
]
_RULES = [
    ("abuse", "threat", r"\bthreat\w* to (?:kill|hurt|beat) (?:me|us)\b", "any"),
    ("abuse", "physical", r"\b(?:hits?|hitting|beats?|beating|beat|kicks?|kicked|chokes?|choked|chok\w+|slaps?|slapped|punch\w*|hurts|hurt|abus\w+|strangl\w+) (?:me|us)\b", "any"),
    ("abuse", "sexual", r"\b(?:rap\w+|molest\w*|sexually assault\w*|touch\w* me without)\b(?: me)?", "self"),
    ("abuse", "physical", r"\b(?:being|been|was|am|got) (?:abused|beaten|hit|raped|assaulted|molested)\b|\bdomestic (?:violence|abuse)\b", "self"),
    ("suicide", "method", r"\b(?:how many|how much)\b.{0,30}\b(?:kill|die|lethal|fatal|overdose)\b|\blethal dose\b|\bpainless way to (?:die|go)\b", "any"),
    ("suicide", "intent", r"\b(?:want|wanna|going|gonna|plan\w*|think\w* about|thought about|decided|ready) (?:to )?(?:die|kill myself|end (?:it|it all|my life|things|everything)|commit suicide|take my (?:own )?life|disappear forever|overdose|jump off)\b", "self"),
    ("suicide", "intent", r"\bkill(?:ed|ing)? myself\b|\b(?:took|swallowed|taken) (?:a bunch of|a lot of|all (?:of )?(?:my|the)|a whole bottle of|too many|an overdose of|\d+) ?(?:sleeping )?(?:pills|tablets)\b|\bend(?:ing)? my (?:own )?life\b|\bpills (?:ready|saved|stockpiled)\b|\btake them all\b|\btake my (?:own )?life\b|\bsuicidal\b|\bhang myself\b|\bjump(?:ing)? off (?:a|the) (?:bridge|building|roof)\b|\bsuicide note\b", "self"),
    ("suicide", "passive", r"\b(?:don'?t|do not|no longer) want to (?:live|be alive|wake up|exist)\b|\bno (?:reason|point) (?:to live|in living|in going on)\b|\bbetter off (?:dead|without me)\b|\bwish i (?:was|were) dead\b|\bcan'?t go on (?:living|anymore)\b", "self"),
    ("self_harm", "act", r"\b(?:cut|cutting|burn|burning|hurt|hurting|harm|harming|punish|punishing) myself\b|\bself[- ]?harm\w*\b", "self"),
    ("harm_others", "intent", r"\b(?:want|wanna|going|gonna|plan\w*|will|i'?ll|ready) (?:to )?(?:kill|hurt|stab|shoot|strangle|poison) (?:him|her|them|my \w+|someone|people|everyone|everybody)\b", "self"),
]

LEXICON = Lexicon(
    masks=C("|".join(_MASKS)),
    rules=tuple(Rule(cat, code, C(p), person=person, tense="past" if cat == "abuse" else "resolved",
                     negatable=code != "method") for cat, code, p, person in _RULES),
    first=C(r"\b(?:i|i'm|i've|i'll|i'd|me|my|myself)\b"),
    other=C(r"\b(?:he|she|they|his|her|their|him|them|you|your|someone|somebody|people|friend\w*|brother|sister|"
            r"mom|dad|mother|father|son|daughter|husband|wife|boyfriend|girlfriend|news|article|movie|film|show|"
            r"book|novel|character|game)\b"),
    report=C(r"\b(?:said|says|told|tells|texted|posted|wrote)\b"),
    negation=C(r"\b(?:not|never|don'?t|doesn'?t|didn'?t|won'?t|wouldn'?t|no longer|not going)(?: \w+){0,2}\s*$"),
    past=C(r"\b(?:used to|years ago|as a (?:kid|child|teen)|when i was (?:young|a kid|little|in school)|back then|in the past|once)\b"),
    resolved=C(r"\b(?:(?:i'?m|i am) (?:ok|okay|fine|better) now|got better|recovered|over it|doing (?:better|well) now|no longer|been clean)\b"),
    ongoing=C(r"\b(?:right now|still|again|lately|recently|today|tonight|these days|every day|this week)\b"),
    clause=C(r"[,:]"),
)
