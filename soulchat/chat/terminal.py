"""``soulchat chat``: talk with a trained model in the terminal.

    soulchat chat                                   # the model of the latest run (make run)
    soulchat chat outputs/cache/train/<key>/hf      # a trained or exported folder
    soulchat chat <mlflow run id> generate.top_p=0.9 chat.disclosure="..."

Opens with the AI disclosure (``chat.disclosure``); replies stream as they are sampled (the paper's
top-p 0.75, temperature 0.95 from ``generate.*``); every message and reply passes the ``guard``.
Commands: ``/reset`` (a new conversation), ``/save FILE`` (the transcript as JSON), ``/exit``.
"""

from __future__ import annotations

import sys
from typing import Callable

USER_PROMPT = "你："
COUNSELLOR = "心理咨询师："
CRISIS = "【安全提示】"
HELP = "（输入消息后回车；/reset 重新开始，/save 文件名 保存对话，/exit 退出）"


def run(conv, read: Callable[[], str], write: Callable[[str], None], meta: dict) -> None:
    """The loop: read a line, answer it or run a command, until ``/exit`` or end of input."""
    while True:
        try:
            line = read().strip()
        except EOFError:
            write("\n")
            return
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return
        if line == "/reset":
            conv.reset()
            write("（对话已重置）\n")
            continue
        if line.startswith("/save"):
            target = line[len("/save"):].strip()
            if not target:
                write("用法：/save 文件名\n")
                continue
            try:
                write(f"（已保存到 {conv.save(target, **meta)}）\n")
            except OSError as exc:
                write(f"（保存失败：{exc}）\n")
            continue
        if line.startswith("/"):
            write(f"（未知命令 {line.split()[0]}）{HELP}\n")
            continue
        answer(conv, line, write)


def answer(conv, text: str, write: Callable[[str], None]) -> None:
    """Stream the reply to ``text`` (or the guard's crisis response, marked :data:`CRISIS`)."""
    started = False

    def emit(kind: str, piece: str) -> None:
        nonlocal started
        if kind == "crisis":
            write(("\n" if started else "") + f"{CRISIS}{piece}")
        elif kind == "reply":
            write(COUNSELLOR)
            started = True
        else:
            write(piece)

    try:
        conv.say(text, emit)
    except KeyboardInterrupt:
        write("（已中断）")
    except RuntimeError as exc:
        write(f"（出错了：{exc}）")
    write("\n")


def main(argv: list[str] | None = None) -> int:
    from soulchat.chat.config import shown_disclosure
    from soulchat.chat.model import compose, load_engine, sampling
    from soulchat.chat.session import Conversation
    from soulchat.errors import SoulchatError
    from soulchat.registry import build

    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if any(a in ("-h", "--help") for a in argv):
            print(__doc__)
            return 0
        cfg, spec = compose(argv, "chat")
        engine = load_engine(cfg, spec, max_batch_size=1)
        guard = build("guard", cfg.guard)
        conv = Conversation(engine, guard, sampling(cfg))
    except SoulchatError as exc:
        print(f"soulchat chat: {exc}", file=sys.stderr)
        return 2

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def read() -> str:
        write(USER_PROMPT)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and history for input)

        read = lambda: input(USER_PROMPT)  # noqa: E731
    opening = shown_disclosure(cfg)
    write(f"{opening}\n{HELP}\n（模型：{engine.gen.model_dir}）\n")
    try:
        run(conv, read, write, {"model": str(engine.gen.model_dir), "disclosure": opening})
    except KeyboardInterrupt:
        write("\n")
    finally:
        engine.close()
    return 0
