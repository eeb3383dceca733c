from reviewapp.requestlog.trace_view import span_tree
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
