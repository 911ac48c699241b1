#!/usr/bin/env python3
"""Render chat templates with python3-jinja2 the way transformers does, as the reference that
swapmoe's own Jinja interpreter must match byte for byte (src/chat/chat_templates_test.cpp).

The environment is transformers' (utils/chat_template_utils.py): an immutable sandbox with
trim_blocks and lstrip_blocks, loop controls, tojson as json.dumps with ensure_ascii=False,
raise_exception and strftime_now as globals. strftime_now uses a fixed time so that outputs
are reproducible.

Usage: render_expected.py --templates DIR --conversations FILE --out FILE
Writes {"template file name": {"conversation name": {"output": text} or {"error": message}}}.
"""
import argparse
import datetime
import json
import pathlib
import sys

try:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("python3-jinja2 is not installed (apt-get install python3-jinja2)", file=sys.stderr)
    sys.exit(77)

FIXED_NOW = datetime.datetime(2025, 3, 14, 12, 0, 0)  # chat_templates_test.cpp uses the same
BOS, EOS = "<s>", "</s>"


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def context_of(conversation):
    context = {
        "messages": conversation["messages"],
        "add_generation_prompt": conversation["add_generation_prompt"],
        "bos_token": BOS,
        "eos_token": EOS,
    }
    if "tools" in conversation:
        context["tools"] = conversation["tools"]
    context.update(conversation.get("variables", {}))
    return context


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", required=True, help="folder of *.jinja chat templates")
    parser.add_argument("--conversations", required=True, help="conversations.json")
    parser.add_argument("--out", required=True, help="where to write the rendered outputs (JSON)")
    args = parser.parse_args()

    conversations = json.loads(pathlib.Path(args.conversations).read_text(encoding="utf-8"))["conversations"]
    env = environment()
    results = {}
    for path in sorted(pathlib.Path(args.templates).glob("*.jinja")):
        template = env.from_string(path.read_text(encoding="utf-8"))
        per_conversation = {}
        for conversation in conversations:
            try:
                per_conversation[conversation["name"]] = {"output": template.render(**context_of(conversation))}
            except Exception as e:  # the template refused the conversation: swapmoe must refuse it too
                per_conversation[conversation["name"]] = {"error": f"{type(e).__name__}: {e}"}
        results[path.name] = per_conversation
    pathlib.Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
