"""The crisis guard on the project's labelled sets: recall on crisis messages, false positives on
hard negatives (idioms, third person, past, news, negated, general questions), precision, per kind
with n, for the dev set the rules were tuned on and the held-out set they were not.

    python benchmarks/guard_bench.py [--guard crisis] [--show-misses] [--time] [FILE ...] [KEY=VALUE ...]

``KEY=VALUE`` arguments are config overrides: the guard is then composed from conf/ (``guard=<name>``
plus them), e.g. ``--guard llm guard.base_url=http://localhost:8000/v1 guard.model=<model>``.

``--time`` also prints the mean microseconds per ``screen_user`` over every user message of the sets,
and per ``screen_reply`` over every reply.
``guard.learned=false`` scores the rules alone; a concern (the learned tier) counts as flagged and is
also counted apart.

    python benchmarks/guard_bench.py --cv [--threshold 0.6] [FILE ...]

``--cv``: leave one set out: the learned screen is trained on every labelled set but FILE (and on the
training-only ``learned.jsonl``), then FILE is scored by the rules alone, the learned screen alone and
the guard (rules, then concerns), with n; the guard's hard-negative false positives that are concerns
are shown apart.

A FILE of replies in their conversation (records ``{"history": [...], "reply": ..., "label": "unsafe"|"safe"}``,
e.g. soulchat/data/guard/replies_context.jsonl) is scored as such: unsafe replies caught and safe replies
flagged, with n, by the reply screen with the history and without it (the reply alone).

Goals (docs/guard.md): recall >= 0.98 on first-person crisis, false positives <= 3% on hard negatives;
replies in their conversation: recall >= 0.9 with the history, safe replies flagged <= 5%.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from soulchat.guard import measure
from soulchat.guard.measure import DEV, FRESH, HARD_NEGATIVES, HELDOUT, INDEPENDENT, cross_validate, default_guard, load, score

#: every scored set, in the order they were written (the default FILE list)
SETS = [DEV, *HELDOUT, *FRESH, *INDEPENDENT, measure.CONTEXT, measure.INDEPENDENT_CONTEXT]


def table(name: str, report) -> list[str]:
    lines = [f"## {name}", f"{'role':6} {'kind':20} {'n':>4} {'flagged':>8} {'concern':>8} {'rate':>6} {'category ok':>11}"]
    for (role, kind), t in sorted(report.kinds.items()):
        lines.append(f"{role:6} {kind:20} {t.n:4d} {t.flagged:8d} {t.concern:8d} {t.rate():6.3f} {t.category_ok:11d}")
    crisis = report.group("user", ("first_person_crisis",))
    hard = report.group("user", HARD_NEGATIVES)
    ordinary = report.group("user", ("ordinary",))
    replies_bad, replies_ok = report.group("reply", ("reply_unsafe",)), report.group("reply", ("reply_safe",))
    lines += [
        f"first-person crisis recall {crisis.rate():.3f} (n={crisis.n}; category right {crisis.category_ok})",
        f"hard-negative false positives {hard.rate():.3f} (n={hard.n}; {hard.concern} of them concerns); "
        f"ordinary talk {ordinary.rate():.3f} (n={ordinary.n}; {ordinary.concern} concerns)",
        f"unsafe replies caught {replies_bad.rate():.3f} (n={replies_bad.n}); safe replies flagged {replies_ok.rate():.3f} (n={replies_ok.n})",
        f"overall precision {report.precision():.3f} recall {report.recall():.3f} "
        f"(n={sum(t.n for t in report.kinds.values())}, tp={report.tp} fp={report.fp} fn={report.fn})",
    ]
    return lines


def context_table(name: str, guard, rows: list[dict], show_misses: bool = False) -> list[str]:
    """Unsafe replies caught and safe replies flagged, with the history and with the reply alone."""
    lines = [f"## {name} (replies in their conversation)"]
    for label, with_history in (("with history", True), ("reply alone", False)):
        r = measure.score_context(guard, rows, with_history)
        lines.append(f"{label:13} unsafe replies caught {r.unsafe.rate():.3f} ({r.unsafe.flagged} of n={r.unsafe.n}); "
                     f"safe replies flagged {r.safe.rate():.3f} ({r.safe.flagged} of n={r.safe.n})")
        if show_misses and with_history:
            for m in r.unsafe.misses + r.safe.misses:
                said = next(x["content"] for x in reversed(m["history"]) if x["role"] == "user")
                lines.append(f"  miss [{m['label']} -> {m['reason']}] {said} => {m['reply']}")
    return lines


def cv_table(paths: list, threshold: float | None, reply_threshold: float | None = None) -> list[str]:
    """Leave-one-set-out rows: recall and false positives of the rules, the learned screen, the guard;
    then the same for replies (unsafe caught, safe flagged) on the sets that have some."""
    from soulchat.guard.learned import REPLY_SETS, SETS

    head = (f"{'held out':12} {'crisis n':>8} {'rules':>6} {'learned':>7} {'guard':>6} | {'hard n':>6} {'rules':>6} "
            f"{'learned':>7} {'guard':>6} {'concerns':>8} | {'ordinary n':>10} {'guard':>5}")
    lines = ["## leave one set out: first-person crisis recall | hard-negative false positives | ordinary talk flagged",
             head]
    reply_lines = ["## leave one set out, replies: unsafe replies caught | safe replies flagged",
                   f"{'held out':12} {'unsafe n':>8} {'rules':>6} {'learned':>7} {'guard':>6} | {'safe n':>6} {'rules':>6} "
                   f"{'learned':>7} {'guard':>6}"]
    total = {k: [0, 0, 0, 0] for k in ("rules", "learned", "both")}  # unsafe n, caught, safe n, flagged
    for path in map(Path, paths):
        reports = cross_validate(path, [p for p in SETS if p.resolve() != path.resolve()], threshold, reply_threshold,
                                 [p for p in REPLY_SETS if p.resolve() != path.resolve()])
        bad = {k: r.group("reply", ("reply_unsafe",)) for k, r in reports.items()}
        ok = {k: r.group("reply", ("reply_safe",)) for k, r in reports.items()}
        for k in total:
            total[k] = [a + b for a, b in zip(total[k], (bad[k].n, bad[k].flagged, ok[k].n, ok[k].flagged))]
        if bad["rules"].n + ok["rules"].n:
            reply_lines.append(f"{path.stem:12} {bad['rules'].n:8d} {bad['rules'].rate():6.3f} {bad['learned'].rate():7.3f} "
                               f"{bad['both'].rate():6.3f} | {ok['rules'].n:6d} {ok['rules'].rate():6.3f} "
                               f"{ok['learned'].rate():7.3f} {ok['both'].rate():6.3f}")
        crisis = {k: r.group("user", ("first_person_crisis",)) for k, r in reports.items()}
        hard = {k: r.group("user", HARD_NEGATIVES) for k, r in reports.items()}
        ordinary = reports["both"].group("user", ("ordinary",))
        lines.append(f"{path.stem:12} {crisis['rules'].n:8d} {crisis['rules'].rate():6.3f} {crisis['learned'].rate():7.3f} "
                     f"{crisis['both'].rate():6.3f} | {hard['rules'].n:6d} {hard['rules'].rate():6.3f} "
                     f"{hard['learned'].rate():7.3f} {hard['both'].rate():6.3f} {hard['both'].concern:8d} | "
                     f"{ordinary.n:10d} {ordinary.flagged:5d}")
    n_bad, n_ok = total["rules"][0], total["rules"][2]
    rate = {k: (v[1] / max(n_bad, 1), v[3] / max(n_ok, 1)) for k, v in total.items()}
    reply_lines.append(f"{'all':12} {n_bad:8d} {rate['rules'][0]:6.3f} {rate['learned'][0]:7.3f} {rate['both'][0]:6.3f} | "
                       f"{n_ok:6d} {rate['rules'][1]:6.3f} {rate['learned'][1]:7.3f} {rate['both'][1]:6.3f}")
    return lines + reply_lines + [demo_line()]


def demo_line() -> str:
    """The guard (trained on every set) on the demo corpus's counselling questions and descriptions,
    ordinary talk that no set holds."""
    from soulchat.config import DATA_DIR
    from soulchat.io import read_jsonl

    qa = [rec for _, rec in read_jsonl(DATA_DIR / "demo" / "qa.jsonl")]
    texts = sorted({rec[key] for rec in qa for key in ("question", "description")})
    answers = sorted({a["answer_text"] for rec in qa for a in rec["answers"]} | {
        m["content"] for _, rec in read_jsonl(DATA_DIR / "demo" / "dialogues.jsonl") for m in rec["messages"]
        if m["role"] == "assistant"})
    guard = default_guard("crisis")
    verdicts = [guard.screen_user(t) for t in texts]
    replies = [guard.screen_reply(t) for t in answers]
    return (f"demo counselling talk (soulchat/data/demo/qa.jsonl, in no set): {sum(v.flagged for v in verdicts)} flagged, "
            f"{sum(v.concern for v in verdicts)} concerns (n={len(texts)}); its counsellors' answers and the demo "
            f"dialogues' replies: {sum(v.flagged for v in replies)} flagged, {sum(v.reason == 'unsafe_reply.learned' for v in replies)} "
            f"of them by the learned screen (n={len(answers)})")


def timing(guard, rows: list[dict], repeats: int = 5) -> str:
    """Mean and worst microseconds per ``screen_user`` and ``screen_reply`` call, best of ``repeats`` passes."""
    lines = []
    for role, screen in (("user", guard.screen_user), ("reply", guard.screen_reply)):
        texts = [r["text"] for r in rows if r["role"] == role]
        if not texts:
            continue
        best, worst = float("inf"), 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            for text in texts:
                t0 = time.perf_counter()
                screen(text)
                worst = max(worst, time.perf_counter() - t0)
            best = min(best, time.perf_counter() - start)
        lines.append(f"screen_{role}: {1e6 * best / len(texts):.0f} us mean, {1e6 * worst:.0f} us worst (n={len(texts)})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="labelled JSONL files (default: the dev set, the held-out and the fresh "
                    "sets) and KEY=VALUE config overrides (guard.base_url=...)")
    ap.add_argument("--guard", default="crisis", help="the guard component (schema defaults)")
    ap.add_argument("--show-misses", action="store_true", help="print the records the guard gets wrong")
    ap.add_argument("--time", action="store_true", help="print microseconds per screen_user call")
    ap.add_argument("--cv", action="store_true", help="leave one set out: rules, learned screen, guard (see above)")
    ap.add_argument("--threshold", type=float, default=None, help="--cv: the concern threshold (default: the schema's)")
    ap.add_argument("--reply-threshold", type=float, default=None, help="--cv: the reply threshold (default: the schema's)")
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # one event line per flag would bury the table
    if args.cv:
        print("\n".join(cv_table(args.files or [p for p in SETS if not measure.is_context_file(p)], args.threshold, args.reply_threshold)))
        return 0
    overrides = [a for a in args.files if "=" in a]
    if overrides:
        from soulchat.config import compose
        from soulchat.registry import build

        guard = build("guard", compose([f"guard={args.guard}", *overrides]).guard)
    else:
        guard = default_guard(args.guard)
    paths = [a for a in args.files if "=" not in a] or SETS
    for path in paths:
        if measure.is_context_file(path):
            print("\n".join(context_table(str(path), guard, measure.load_context(path), args.show_misses)) + "\n")
            continue
        report = score(guard, load(path))
        print("\n".join(table(str(path), report)))
        if args.show_misses:
            for t in report.kinds.values():
                for m in t.misses:
                    print(f"  miss [{m['role']}/{m['kind']}/{m['label']} -> {m['reason']}] {m['text']}")
        print()
    if args.time:
        print(timing(guard, [r for path in paths if not measure.is_context_file(path) for r in load(path)]))
    if hasattr(guard, "stats"):  # guard=llm: answers, flags added, failures by reason
        print(f"llm screen: {guard.stats.as_metrics()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
