"""ankplan's renderer against the Rust handlebars crate itself, template by template.

The reference is the crate Ankaios renders with, through the PyPI binding dotprompt-handlebars
0.1.1 (PyO3 over handlebars 6.3.2; Ankaios' server declares `handlebars = "6.1.0"`, so any 6.x).
It is set up as Ankaios' ConfigRenderer sets up the crate: `set_strict_mode(true)`, the
`no_escape` escape function and one partial, `indent` = `{{content}}`. The binding adds
helpers only through `register_extra_helpers()`, which is never called here, and
`test_binding_has_only_the_crate_builtins` shows that its extras (`json`, `ifEquals`) and the
crate's optional string helpers are absent, as in Ankaios.

The corpus (template_corpus.yaml) holds every templated string of the upstream manifests with
the workload's configs as the data, and ankplan's own edge cases. For each, the crate and
ankplan must both succeed with the same text or both fail, the result must be the one recorded
in the corpus, and a render error must name the line and column the crate names. After a
deliberate change, `python tests/unit/test_template_corpus.py` re-records the results.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from handlebarrz._native import HandlebarrzTemplate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankplan.manifests.templating import TemplateError, render

HERE = Path(__file__).resolve().parent
CORPUS_FILE = HERE / "template_corpus.yaml"
UPSTREAM = HERE.parents[2] / "shared" / "ankaios-manifests"
RENDER_ERROR = re.compile(r'^Error rendering "Unnamed template" line (\d+), col (\d+):')


def crate_engine() -> HandlebarrzTemplate:
    """The crate configured like Ankaios' ConfigRenderer::default()."""
    engine = HandlebarrzTemplate()
    engine.set_strict_mode(True)
    engine.set_escape_fn("no_escape")
    engine.register_partial("indent", "{{content}}")
    return engine


CRATE = crate_engine()


def crate_render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """("output", text) or ("error", first line of the crate's message); a panic is an error."""
    try:
        return "output", CRATE.render_template(template, json.dumps(context))
    except BaseException as error:  # a Rust panic arrives as pyo3's PanicException
        if isinstance(error, KeyboardInterrupt):
            raise
        prefix = "" if isinstance(error, ValueError) else "panic: "
        return "error", prefix + str(error).splitlines()[0]


def ankplan_render(template: str, context: dict[str, Any]) -> tuple[str, str | TemplateError]:
    try:
        return "output", render(template, context)
    except TemplateError as error:
        return "error", error


# --- the corpus --------------------------------------------------------------------------


def upstream_templates(folder: Path) -> list[dict[str, Any]]:
    """Every string Ankaios renders (agent, runtimeConfig, files data) that holds a template,
    in every workload with configs, with `{alias: configs[key]}` as the data."""
    found = []
    for path in sorted(folder.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            state = doc.get("desiredState", doc) if isinstance(doc, dict) else {}
            configs = state.get("configs") or {}
            for name, workload in (state.get("workloads") or {}).items():
                mapping = workload.get("configs") or {}
                context = {alias: configs[key] for alias, key in mapping.items() if key in configs}
                for field, text in _rendered_fields(workload):
                    if mapping and "{{" in text:
                        found.append({"source": f"{path.name}: workloads.{name}.{field}",
                                      "template": text, "context": context})
    return found


def _rendered_fields(workload: dict[str, Any]) -> list[tuple[str, str]]:
    fields = [(key, workload[key]) for key in ("agent", "runtimeConfig")
              if isinstance(workload.get(key), str)]
    for index, entry in enumerate(workload.get("files") or []):
        fields += [(f"files.{index}.{key}", entry[key]) for key in ("data", "binaryData")
                   if isinstance(entry.get(key), str)]
    return fields


def load_corpus() -> dict[str, Any]:
    return yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


CORPUS = load_corpus()


def cases() -> list[Any]:
    default = CORPUS["context"]
    upstream = [pytest.param(case, case["context"], id=case["source"])
                for case in CORPUS["upstream"]]
    edge = [pytest.param(case, {**default, **case.get("context", {})}, id=case["name"])
            for case in CORPUS["edge"]]
    return upstream + edge


# --- tests ---------------------------------------------------------------------------------


def test_corpus_covers_every_upstream_template_and_enough_edge_cases() -> None:
    recorded = [{key: case[key] for key in ("source", "template", "context")}
                for case in CORPUS["upstream"]]
    assert recorded == upstream_templates(UPSTREAM)
    assert len(recorded) == 24 and len(CORPUS["edge"]) >= 80
    names = [case["name"] for case in CORPUS["edge"]]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case, context", cases())
def test_renders_like_the_crate(case: dict[str, Any], context: dict[str, Any]) -> None:
    template = case["template"]
    crate_kind, crate_result = crate_render(template, context)
    kind, result = ankplan_render(template, context)
    recorded = ("output", case["output"]) if "output" in case else ("error", case["error"])
    assert (crate_kind, crate_result) == recorded, "the crate changed: re-record the corpus"
    assert kind == crate_kind, f"crate: {crate_result!r}; ankplan: {result!r}"
    if kind == "output":
        assert result == crate_result
        return
    assert isinstance(result, TemplateError) and result.message and result.line
    assert "\n" not in result.message
    position = RENDER_ERROR.match(crate_result)
    if position:  # a render error: the same place as the crate
        assert (result.line, result.column) == (int(position[1]), int(position[2]))


def test_binding_has_only_the_crate_builtins() -> None:
    for template in ('{{json x}}', '{{ifEquals x x}}', '{{unlessEquals x x}}',
                     '{{lowerCamelCase x}}', '{{toUpperCase x}}'):
        kind, message = crate_render(template, {"x": "a"})
        assert kind == "error" and "Helper not found" in message
    assert crate_render("{{eq x 'a'}}{{len x}}{{lookup y 0}}", {"x": "a", "y": ["b"]}) == \
        ("output", "true1b")


# --- generated templates ---------------------------------------------------------------------

_SPACE = st.sampled_from(["", "", " ", "\n", "  \n", "\n  ", "\t", "\r\n"])
_VALUE = st.sampled_from(["one", "this", "@index", "@key", "@first", "../one", "@root.one",
                          "m.a", "ports", "nl", "missing", "(len ports)", "(lookup ports 0)",
                          "(eq one \"x\")", "lst.0.n", "k", "v"])
_CONDITION = st.sampled_from(["t", "f", "missing", "(eq @index 0)", "@last", "e", "one",
                              "(or f (not t))", "../t"])
_COLLECTION = st.sampled_from(["ports", "lst", "m", "e", "eo", "one", "missing", "@root.ports"])


def _tag(inner: str, pre: bool, post: bool) -> str:
    return "{{" + ("~" if pre else "") + inner + ("~" if post else "") + "}}"


_LEAF = st.one_of(
    st.sampled_from(["a", "b c", "\\{{x}}", "\\\\", "{", "x: y"]), _SPACE,
    st.builds(_tag, _VALUE, st.booleans(), st.booleans()),
    st.builds(_tag, _VALUE.map("> indent content={}".format), st.booleans(), st.booleans()),
    st.sampled_from(["{{! c }}", "{{!-- x }} --}}", "{{{{raw}}}}\n {{x}} \n{{{{/raw}}}}"]))


def _block(parts: tuple[str, str, str, str, str, str, bool, bool]) -> str:
    name, argument, body, inverse, space, chain, pre, post = parts
    text = space + _tag(f"#{name} {argument}", pre, post) + space + body
    if chain:
        text += _tag("else if t", False, post) + space + inverse
    elif inverse:
        text += space + _tag("else", pre, False) + space + inverse
    return text + space + _tag(f"/{name}", post, pre) + space


def _blocks(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    body = st.lists(children, max_size=3).map("".join)
    conditional = st.tuples(st.sampled_from(["if", "unless"]), _CONDITION, body, body, _SPACE,
                            st.sampled_from(["", "chain"]), st.booleans(), st.booleans())
    scoped = st.tuples(st.sampled_from(["each", "with"]), _COLLECTION, body, body, _SPACE,
                       st.just(""), st.booleans(), st.booleans())
    return st.one_of(conditional, scoped).map(_block)


TEMPLATES = st.lists(st.recursive(_LEAF, _blocks, max_leaves=12), min_size=1, max_size=4).map(
    "".join)


@settings(max_examples=600, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(TEMPLATES)
def test_generated_templates_render_like_the_crate(template: str) -> None:
    context = CORPUS["context"]
    crate_kind, crate_result = crate_render(template, context)
    kind, result = ankplan_render(template, context)
    assert kind == crate_kind, f"crate: {crate_result!r}; ankplan: {result!r}"
    if kind == "output":
        assert result == crate_result


# --- re-recording ----------------------------------------------------------------------------


def _record() -> None:
    """Rewrite the corpus: upstream templates from the shared folder, results from the crate."""
    corpus = load_corpus()
    upstream = upstream_templates(UPSTREAM)
    for case in upstream:
        case.update(_result(case["template"], case["context"]))
    edge = []
    for case in corpus["edge"]:
        case = {key: case[key] for key in ("name", "template", "context") if key in case}
        case.update(_result(case["template"], {**corpus["context"], **case.get("context", {})}))
        edge.append(case)
    header = CORPUS_FILE.read_text(encoding="utf-8").split("\ncontext:", 1)[0]
    lines = [header, "context: " + _flow(corpus["context"]), "upstream:"]
    lines += [_entry(case, "source") for case in upstream]
    lines += ["edge:"] + [_entry(case, "name") for case in edge]
    CORPUS_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _result(template: str, context: dict[str, Any]) -> dict[str, str]:
    kind, result = crate_render(template, context)
    return {kind: result}


def _entry(case: dict[str, Any], first: str) -> str:
    keys = [first, "template", "context", "output", "error"]
    return "\n".join(("- " if index == 0 else "  ") + f"{key}: {_flow(case[key])}"
                     for index, key in enumerate(key for key in keys if key in case))


def _flow(value: Any) -> str:
    """JSON is YAML; escape the characters YAML would read as line breaks."""
    text = json.dumps(value, ensure_ascii=False)
    for char in ("\u0085", "\u2028", "\u2029", "\ufeff"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


if __name__ == "__main__":
    sys.exit(_record())
