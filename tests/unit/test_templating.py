"""Templates as Ankaios renders them: values, blocks, built-ins, the indent partial, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ankplan.manifests.templating import TemplateError, has_template, render

CONTEXT = {
    "port": {"access_port": "8081"},
    "agent": {"agent_name": "agent_A"},
    "person": [{"name": "John Doe", "age": "30"}, {"name": "Chris Smith", "age": "40"}],
    "arrays_of": {"items": ["some", "of", {"which": {"again": ["and", "some", "arrays"]}}]},
    "flags": {"on": True, "off": False, "zero": "0", "empty": ""},
    "text": "line one\nline two\n",
}


def fails(template: str) -> TemplateError:
    with pytest.raises(TemplateError) as raised:
        render(template, CONTEXT)
    return raised.value


@pytest.mark.parametrize("template, expected", [
    ("{{port.access_port}}", "8081"),
    ("{{ port.access_port }}", "8081"),
    ("{{{port.access_port}}}", "8081"),
    ("prefix-{{arrays_of.items.2.which.again.2}}-suffix", "prefix-arrays-suffix"),
    ("{{person.1.name}}", "Chris Smith"),
    ("{{arrays_of.items}}", "[some, of, [object]]"),
    ("{{flags.on}}/{{flags.off}}", "true/false"),
    ("a \"quoted\" <b> & 'x'", "a \"quoted\" <b> & 'x'"),
    ("{{!-- a comment with }} inside --}}x", "x"),
    ("{{! short comment }}x", "x"),
    ("\\{{literal}} {{port.access_port}}", "{{literal}} 8081"),
    ("no templates here", "no templates here"),
])
def test_values(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize("template, expected", [
    ("{{lookup person 1}}", "[object]"),
    ("{{lookup (lookup person 1) 'name'}}", "Chris Smith"),
    ("{{len person}}/{{len port}}/{{len agent.agent_name}}", "2/1/7"),
    ("{{{{raw}}}}{{not rendered}}{{{{/raw}}}}", "{{not rendered}}"),
    ("a{{log 'seen only in the log'}}b", "ab"),
    ("{{#if flags.off}}1{{else if flags.on}}2{{else}}3{{/if}}", "2"),
    ("{{#each person as |p i|}}{{i}}:{{p.name}} {{/each}}", "0:John Doe 1:Chris Smith "),
    ("{{#each person}}{{#each ../arrays_of.items}}{{@../index}}{{/each}}{{/each}}", "000111"),
    ("{{#each port}}{{@key}}{{/each}}", "access_port"),
    ("{{#if (gt (len person) 1)}}many{{/if}}", "many"),
])
def test_builtins_ankaios_templates_use(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


def test_each_over_a_list_with_if_eq_like_upstream() -> None:
    template = ('{{#each person}}{{#if (eq this.age "40")}}Hello {{this.name}}'
                '(age: {{this.age}})\\n{{/if}}{{/each}}')
    assert render(template, CONTEXT) == "Hello Chris Smith(age: 40)\\n"


def test_each_over_a_mapping_with_key_and_index() -> None:
    template = "{{#each port}}{{@index}}:{{@key}}={{this}}{{/each}}"
    assert render(template, CONTEXT) == "0:access_port=8081"


def test_each_first_last_and_parent_context() -> None:
    template = ("{{#each person}}{{#if @first}}[{{/if}}{{name}}@{{../port.access_port}}"
                "{{#unless @last}}, {{/unless}}{{#if @last}}]{{/if}}{{/each}}")
    assert render(template, CONTEXT) == "[John Doe@8081, Chris Smith@8081]"


def test_each_else_on_empty() -> None:
    assert render("{{#each flags.empty}}x{{else}}none{{/each}}", CONTEXT) == "none"
    assert render("{{#each none}}x{{else}}none{{/each}}", {"none": []}) == "none"


def test_if_else_unless_and_truthiness() -> None:
    assert render("{{#if flags.on}}y{{else}}n{{/if}}", CONTEXT) == "y"
    assert render("{{#if flags.empty}}y{{else}}n{{/if}}", CONTEXT) == "n"
    assert render("{{#if flags.zero}}y{{else}}n{{/if}}", CONTEXT) == "y"  # "0" is a string
    assert render("{{#unless flags.off}}y{{/unless}}", CONTEXT) == "y"
    assert render("{{#if missing.value}}y{{else}}n{{/if}}", CONTEXT) == "n"


def test_helpers() -> None:
    assert render('{{#if (ne port.access_port "80")}}y{{/if}}', CONTEXT) == "y"
    assert render('{{#if (and flags.on (not flags.off))}}y{{/if}}', CONTEXT) == "y"
    assert render('{{#if (or flags.off flags.empty)}}y{{else}}n{{/if}}', CONTEXT) == "n"
    assert render("{{#if (gt 3 2)}}y{{/if}}", CONTEXT) == "y"
    assert render('{{#if (eq 1 "1")}}y{{else}}n{{/if}}', CONTEXT) == "n"


def test_root_reaches_the_top_context() -> None:
    assert render("{{#each person}}{{@root.port.access_port}} {{/each}}", CONTEXT) == "8081 8081 "


def test_with_block() -> None:
    assert render("{{#with port}}{{access_port}}{{/with}}", CONTEXT) == "8081"


def test_standalone_block_lines_are_removed() -> None:
    template = ('commandOptions:\n  - "--net=host"\n  {{#each person}}\n  - "-e"\n'
                '  - "{{name}}"\n  {{/each}}\nnext: 1\n')
    assert render(template, CONTEXT) == ('commandOptions:\n  - "--net=host"\n  - "-e"\n'
                                         '  - "John Doe"\n  - "-e"\n  - "Chris Smith"\n'
                                         'next: 1\n')


def test_indent_partial_standalone_reindents_every_line() -> None:
    template = "data:\n  conf: |\n    {{> indent content=text}}\nafter: 1\n"
    assert render(template, CONTEXT) == ("data:\n  conf: |\n    line one\n    line two\n"
                                         "after: 1\n")


def test_indent_partial_indents_blank_lines_too_like_the_crate() -> None:
    # handlebars-rust indents every line after a newline, blank ones included, and a
    # standalone partial swallows the newline after its tag
    assert render("  {{> indent content=x}}\n", {"x": "a\n\nb"}) == "  a\n  \n  b"


def test_indent_partial_inline_indents_by_the_whitespace_before_the_tag() -> None:
    # not by the tag's column: the crate takes the spaces right before `{{>` as the indent
    assert render("key: {{> indent content=text}}", CONTEXT) == "key: line one\n line two\n"
    assert render("key:   {{> indent content=text}}", CONTEXT) == "key:   line one\n   line two\n"


def test_whitespace_control() -> None:
    assert render("a  {{~port.access_port~}}  b", CONTEXT) == "a8081b"


@pytest.mark.parametrize("template, message, line, column", [
    ("{{#each port}}{{this}}{{/invalid_closing}}:80",
     "closing tag '{{/invalid_closing}}' does not match '{{#each}}'", 1, 23),
    ("x\n  {{port.acces_port}}", "'port.acces_port' not found: 'port' has no key 'acces_port'",
     2, 3),
    ("{{nope}}", "'nope' not found: no config alias or key 'nope'", 1, 1),
    ("{{person.5.name}}", "'person.5.name' not found: 'person' is a list of 2, no item '5'", 1, 1),
    ("{{#if x}}a", "'{{#if}}' is never closed", 1, 1),
    ("a{{/if}}", "unexpected closing tag '{{/if}}'", 1, 2),
    ("{{port", "'{{' does not start a valid tag (unclosed or malformed)", 1, 1),
    ("{{> other x=y}}", "unknown partial 'other'", 1, 1),
    ("{{#each port.access_port}}x{{/each}}",
     "'{{#each port.access_port}}' needs a list or mapping, got a string", 1, 1),
    ("{{#frob port}}x{{/frob}}", "unknown helper 'frob'", 1, 1),
    ("{{#if (eq 1)}}x{{/if}}", "helper 'eq' needs 2 argument(s); argument 2 is nothing", 1, 1),
    ("{{^port}}x{{/port}}", "'{{else}}' (or '{{^}}') outside a block", 1, 1),
    ("{{else}}", "'{{else}}' (or '{{^}}') outside a block", 1, 1),
    ("{{@index}}", "'@index' is only available inside {{#each}}", 1, 1),
])
def test_errors_name_the_problem_and_position(template: str, message: str, line: int,
                                              column: int) -> None:
    error = fails(template)
    assert (error.message, error.line, error.column) == (message, line, column)


def test_missing_key_hint_suggests_the_close_key() -> None:
    assert fails("{{port.acces_port}}").hint == "did you mean 'access_port'?"


def test_explosive_each_is_bounded() -> None:
    context = {"x": list(range(100))}
    template = "{{#each @root.x}}" * 5 + "." + "{{/each}}" * 5
    with pytest.raises(TemplateError, match="renders more than"):
        render(template, context)


def test_deep_block_nesting_is_bounded() -> None:
    template = "{{#if a}}" * 100 + "{{/if}}" * 100
    with pytest.raises(TemplateError, match="nested more than"):
        render(template, {"a": True})


def test_has_template() -> None:
    assert has_template("a {{b}}") and not has_template("a {b}")


@settings(max_examples=300, deadline=2000)
@given(st.lists(st.sampled_from(["{{", "}}", "#each", "#if", "/each", "/if", "else", " ",
                                 "port", ".", "access_port", "this", "(", ")", "eq", '"x"',
                                 "\n", "~", ">", "indent", "content=", "!", "@key", "../"]),
                max_size=40).map("".join))
def test_any_template_renders_or_raises_template_error(template: str) -> None:
    try:
        render(template, CONTEXT)
    except TemplateError as error:
        assert error.message and "\n" not in error.message
