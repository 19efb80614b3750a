"""English rules of the ``crisis`` guard (decisions and examples: docs/guard.md)."""

from __future__ import annotations

import re

from soulchat.guard.engine import Lexicon, Rule

C = re.compile

_MASKS = [
    r"\bdying (?:to|for)\b", r"\bto die for\b", r"\bkilling (?:it|time|me)\b", r"\bkill(?:s|ed)? (?:time|the (?:process|app|engine|lights|mood|vibe))\b",
    r"\b(?:i'?m|i am|we'?re) (?:so )?dead\b(?! serious)", r"\bd(?:ied|ie|ying) (?:laughing|of (?:laughter|embarrassment|boredom|shame|cuteness|hunger))\b",
    r"\bcould (?:kill|murder) (?:for )?an?\b", r"\b(?:career|political|social) suicide\b", r"\bsuicide (?:bomb\w*|squad|attack\w*|mission)\b",
    r"\bkill two birds\b", r"\bdead (?:tired|serious|end|line)\b", r"\bkiller\b", r"\b(?:my|the) (?:phone|battery|laptop) (?:died|is dead)\b",
    r"\bcut (?:myself|me) (?:some )?slack\b", r"\bhit me with (?:a|the|her|his|my) (?:pillow|ball|snowball|joke|question|idea)\b", r"\bhit me up\b", r"\bhits me (?:that|how|when)\b", r"\bit hit me\b",
]
# a desire or plan (want to, thinking about, ready to) before a way of ending one's life
_DESIRE = (r"(?:want|wanna|going|gonna|plan\w*|think\w* about|thought about|decided|ready|rather|tempted|considering|"
           r"wish i could|(?:i'?m|i am) (?:just )?done)")
_END = (r"(?:die|dying|be dead|kill(?:ing)? myself|end(?:ing)? (?:it|it all|my life|things|everything|myself)|commit(?:ting)? suicide|"
        r"tak(?:e|ing) my (?:own )?life|disappear(?:ing)?(?: forever)?(?! for (?:a|the|some|\w+ (?:days?|weeks?|hours?)))|stop existing|not (?:be here|exist|wake up)|overdos\w*|"
        r"jump(?:ing)? (?:off|in front)|hang(?:ing)? myself|tak(?:e|ing) (?:all|the rest) of my (?:pills|meds|medication)|"
        r"tak(?:e|ing) all my (?:pills|meds|medication)|go to sleep and never wake up)")
_RULES = [
    ("abuse", "threat", r"\bthreat\w* to (?:kill|hurt|beat) (?:me|us)\b", "any"),
    ("abuse", "physical", r"\b(?:hits?|hitting|beats?|beating|beat|kicks?|kicked|chokes?|choked|chok\w+|slaps?|slapped|punch\w*|hurts|hurt|abus\w+|strangl\w+) (?:me|us)\b", "any"),
    ("abuse", "sexual", r"\b(?:rap\w+|molest\w*|sexually assault\w*|touch\w* me without)\b(?: me)?", "self"),
    ("abuse", "physical", r"\b(?:being|been|was|am|got) (?:abused|beaten|hit|raped|assaulted|molested)\b|\bdomestic (?:violence|abuse)\b", "self"),
    ("suicide", "method", r"\b(?:how many|how much)\b.{0,30}\b(?:kill|die|lethal|fatal|overdose)\b|\blethal dose\b|\bpainless way to (?:die|go)\b", "any"),
    ("suicide", "intent", rf"\b{_DESIRE}(?: (?:to|of|about))?(?: \w+){{0,2}}? {_END}\b", "self"),
    ("suicide", "intent", r"\bkill(?:ed|ing)? myself\b|\b(?:took|swallowed|taken) (?:a bunch of|a lot of|all (?:of )?(?:my|the)|a whole bottle of|too many|an overdose of|\d+) ?(?:sleeping )?(?:pills|tablets)\b|\bend(?:ing)? my (?:own )?life\b|\bpills (?:ready|saved|stockpiled)\b|\btake them all\b|\btake my (?:own )?life\b|\bsuicidal\b|\bhang myself\b|\bjump(?:ing)? off (?:a|the) (?:bridge|building|roof)\b|\bsuicide note\b", "self"),
    ("suicide", "plan", r"\b(?:goodbye|farewell) (?:letters?|notes?|messages?)\b|\bgiving away (?:all )?my (?:stuff|things|belongings)\b|\b(?:standing|sitting|i'?m) (?:on|at) (?:the|a) (?:bridge|roof|ledge|edge|railing|tracks)\b", "self"),
    ("suicide", "passive", r"\b(?:don'?t|do not|no longer) want to (?:live|be alive|wake up|exist|be here)\b|\bno (?:reason|point) (?:to live|in living|in going on|in being alive)\b|\b(?:don'?t|can'?t) see (?:the|any) point (?:in|of) (?:living|life|going on|being alive)\b|\bbetter off (?:dead|without me|if i (?:was|were) (?:gone|dead))\b|\bwish i (?:was|were) (?:dead|never born)\b|\bcan'?t go on (?:living|anymore)\b|\bnothing (?:left )?to live for\b|\btired of (?:living|being alive)\b|\bnever wake up\b", "self"),
    ("self_harm", "act", r"\bcut(?:ting)? again\b|\b(?:burn\w*|carv\w*|scratch\w*|cut|cutting) (?:my|into my) (?:arms?|wrists?|thighs?|skin)\b", "self"),
    ("abuse", "sexual", r"\b(?:he|she|they|step\w+|dad|father|uncle|brother|cousin|boss|teacher|coach) (?:\w+ ){0,2}touch(?:es|ed|ing)? me\b", "self"),
    ("self_harm", "act", r"\b(?:cut|cutting|burn|burning|hurt|hurting|harm|harming|punish|punishing) myself\b|\bself[- ]?harm\w*\b", "self"),
    ("harm_others", "intent", r"\b(?:want|wanna|going|gonna|plan\w*|will|i'?ll|ready) (?:to )?(?:kill|hurt|stab|shoot|strangle|poison) (?:him|her|them|my \w+|someone|people|everyone|everybody)\b", "self"),
]

LEXICON = Lexicon(
    masks=C("|".join(_MASKS)),
    rules=tuple(Rule(cat, code, C(p), person=person, tense="past" if cat == "abuse" else "resolved",
                     negatable=code != "method") for cat, code, p, person in _RULES),
    first=C(r"\b(?:i|i'm|i've|i'll|i'd|me|my|myself)\b"),
    other=C(r"^(?:is|are|does|do|can|could|why do|why does|why are|how do|how does|how can)\b(?! i\b)|\b(?:he|she|they|his|her|their|him|them|you|your|someone|somebody|people|friend\w*|brother|sister|"
            r"mom|dad|mother|father|son|daughter|husband|wife|boyfriend|girlfriend|news|article|movie|film|show|"
            r"book|novel|character|game)\b"),
    report=C(r"\b(?:said|says|told|tells|texted|posted|wrote)\b"),
    negation=C(r"\b(?:not|never|don'?t|doesn'?t|didn'?t|won'?t|wouldn'?t|no longer|not going)(?: \w+){0,2}\s*$"),
    past=C(r"\b(?:used to|years ago|as a (?:kid|child|teen)|when i was (?:young|a kid|little|in school)|back then|in the past|once|in (?:high|middle) school|in college)\b"),
    resolved=C(r"\b(?:(?:i'?m|i am) (?:ok|okay|fine|better) now|got better|recovered|over it|doing (?:better|well) now|no longer|been clean|haven'?t (?:\w+ ){0,3}in (?:years|months|a long time|ages))\b"),
    ongoing=C(r"\b(?:right now|still|again|lately|recently|today|tonight|these days|every day|this week)\b"),
    clause=C(r"[,:]"),
)
