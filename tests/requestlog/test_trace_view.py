from django.template.loader import render_to_string

from reviewapp.requestlog.trace_view import agent_steps, span_tree
from tests.requestlog.helpers import span, trace_dict


def test_it_nests_spans_under_their_parents_with_type_duration_and_io():
    roots = span_tree(trace_dict("Where is it?", "Over there", docs=[("docs://x", "X marks it")]))
    assert [r.name for r in roots] == ["chain"]
    chain = roots[0]
    assert (chain.span_type, chain.duration_ms, chain.depth) == ("CHAIN", 120.0, 0)
    assert "Where is it?" in chain.inputs
    assert chain.outputs == "Over there"
    [retriever] = chain.children
    assert (retriever.name, retriever.span_type, retriever.duration_ms, retriever.depth) == (
        "retrieve",
        "RETRIEVER",
        4.0,
        1,
    )
    assert "docs://x" in retriever.outputs


def test_children_come_in_the_order_they_started():
    spans = [
        span("r", "root", "CHAIN", {}, {}, 0, 100),
        span("b", "second", "LLM", {}, {}, 50, 60, parent="r"),
        span("a", "first", "TOOL", {}, {}, 10, 20, parent="r"),
    ]
    [root] = span_tree({"info": {}, "data": {"spans": spans}})
    assert [c.name for c in root.children] == ["first", "second"]


def test_it_reads_mlflow_2_span_dicts_too():
    spans = [
        {
            "name": "root",
            "context": {"span_id": "1"},
            "parent_id": None,
            "start_time": 0,
            "end_time": 2_000_000,
            "status_code": "OK",
            "attributes": {"mlflow.spanType": '"CHAIN"'},
        },
        {
            "name": "llm",
            "context": {"span_id": "2"},
            "parent_id": "1",
            "start_time": 0,
            "end_time": 1_000_000,
            "attributes": {"mlflow.spanType": '"LLM"'},
        },
    ]
    [root] = span_tree({"info": {}, "data": {"spans": spans}})
    assert (root.name, root.duration_ms, [c.name for c in root.children]) == ("root", 2.0, ["llm"])


def test_orphans_and_cycles_are_shown_not_dropped_and_no_trace_is_an_empty_tree():
    spans = [
        span("a", "orphan", "TOOL", {}, {}, 0, 1, parent="missing"),
        span("b", "loop-1", "TOOL", {}, {}, 2, 3, parent="c"),
        span("c", "loop-2", "TOOL", {}, {}, 4, 5, parent="b"),
    ]
    roots = span_tree({"info": {}, "data": {"spans": spans}})
    assert sorted(r.name for r in roots) == ["loop-1", "loop-2", "orphan"]
    assert span_tree(None) == [] and span_tree({"info": {}}) == []


def test_an_error_span_says_so_and_long_outputs_are_cut():
    bad = span("e", "tool", "TOOL", {}, "x" * 30_000, 0, 1)
    bad["status"] = {"code": "STATUS_CODE_ERROR", "message": "Timed out"}
    [node] = span_tree({"info": {}, "data": {"spans": [bad]}})
    assert node.is_error and node.error == "Timed out"
    assert len(node.outputs) < 21_000 and node.outputs.endswith("(10000 more characters)")


def test_an_agents_tool_calls_and_results_are_shown_in_order_once_and_escaped():
    outputs = {
        "output": [
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": "<b>x</b>"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "<script>alert(1)</script>"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        ]
    }
    spans = [
        span("r", "chain", "CHAIN", {}, outputs, 0, 100),
        span("a", "predict", "AGENT", {}, outputs, 1, 99, parent="r"),
    ]
    roots = span_tree({"info": {}, "data": {"spans": spans}})

    steps = roots[0].steps
    assert [(s.kind, s.name) for s in steps] == [
        ("tool_call", "lookup"),
        ("tool_result", "lookup"),
        ("message", "assistant"),
    ]
    assert roots[0].children[0].steps == []
    html = render_to_string("requestlog/trace_tree.html", {"nodes": roots})
    assert html.count('data-testid="agent-steps"') == 1
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_chat_agents_messages_become_steps_and_a_plain_answer_has_none():
    messages = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "ticket", "arguments": "{}"}}],
        },
        {"role": "tool", "name": "ticket", "content": "closed"},
        {"role": "assistant", "content": "It is closed."},
    ]

    assert [(s.kind, s.name, s.text) for s in agent_steps({"messages": messages})] == [
        ("tool_call", "ticket", "{}"),
        ("tool_result", "ticket", "closed"),
        ("message", "assistant", "It is closed."),
    ]
    assert agent_steps({"messages": [{"role": "assistant", "content": "Hi"}]}) == []
    assert agent_steps("just text") == []


def test_a_malformed_imported_trace_is_shown_without_failing():
    messages = [
        {"role": "assistant", "content": "", "tool_calls": [{"function": "x"}, "call", None]},
        {"role": "assistant", "content": "Hi", "tool_calls": "not a list"},
        "not a message",
        {"role": "tool", "content": [{"type": "text", "text": "ok"}, "part"]},
    ]
    odd = span("o", "agent", "AGENT", {}, {"messages": messages}, "soon", "later", parent=["r"])
    odd.update(status=["ERROR"], context="ctx")
    no_attributes = {"span_id": "n", "attributes": "none", "status": None, "events": 3}
    trace = {"info": {}, "data": {"spans": [odd, no_attributes, "not a span", None]}}

    roots = span_tree(trace)
    html = render_to_string("requestlog/trace_tree.html", {"nodes": roots})

    agent = next(r for r in roots if r.name == "agent")
    assert [(s.kind, s.name) for s in agent.steps] == [
        ("tool_call", "(unnamed tool)"),
        ("message", "assistant"),
        ("tool_result", ""),
    ]
    assert agent.duration_ms is None and 'data-testid="span-tree"' in html
    assert span_tree({"info": {}, "data": "spans"}) == []


def test_a_long_agent_step_is_cut_and_many_steps_end_with_a_count():
    long_text = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "y" * 30_000}],
    }
    call = {"type": "function_call", "call_id": "c", "name": "lookup", "arguments": "{}"}

    steps = agent_steps({"output": [long_text, call]})
    many = agent_steps({"output": [call] * 250})

    assert len(steps[0].text) < 21_000 and steps[0].text.endswith("(10000 more characters)")
    assert len(many) == 201 and many[-1].text == "… 50 more steps"
    html = render_to_string(
        "requestlog/trace_tree.html", {"nodes": span_tree(_trace_with_outputs({"output": [call] * 250}))}
    )
    assert html.count('class="agent-step agent-step-tool_call"') == 200 and "… 50 more steps" in html


def _trace_with_outputs(outputs) -> dict:
    return {"info": {}, "data": {"spans": [span("r", "chain", "CHAIN", {}, outputs, 0, 1)]}}
