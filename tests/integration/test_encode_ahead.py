"""The encode-ahead plan: which queries are encoded together, never what they encode to."""
from pyserini_milco.integration import encode_ahead
from pyserini_milco.integration.encode_ahead import QueryPlan


def test_plan_gives_the_asked_query_and_the_ones_after_it():
    plan = QueryPlan(["a", "b", "c", "d", "e"])
    assert plan.upcoming("a", 3) == ["a", "b", "c"]
    assert plan.upcoming("d", 3) == ["d", "e"]  # the end of the plan


def test_repeated_texts_are_found_after_the_cursor():
    plan = QueryPlan(["a", "b", "a", "c"])
    assert plan.upcoming("a", 2) == ["a", "b"]
    assert plan.upcoming("a", 2) == ["a", "c"]  # the second "a", not the first again
    assert plan.upcoming("a", 2) == ["a"]  # no third: encoded alone


def test_texts_outside_the_plan_or_behind_the_cursor_are_encoded_alone():
    plan = QueryPlan(["a", "b", "c"])
    assert plan.upcoming("rewritten by a tokenizer", 2) == ["rewritten by a tokenizer"]
    assert plan.upcoming("c", 2) == ["c"]
    assert plan.upcoming("b", 2) == ["b"]  # asked out of order, behind the cursor


def test_planning_wrapper_makes_the_iterator_texts_the_plan(monkeypatch):
    monkeypatch.setattr(encode_ahead, "_plan", None)
    assert encode_ahead.upcoming("x") == ["x"]  # no plan: alone

    def get_query_iterator(path, kind):
        return [("q1", "x"), ("q2", "y")]

    planned = encode_ahead.planning(get_query_iterator)
    assert planned("topics.tsv", "default") == [("q1", "x"), ("q2", "y")]
    assert planned.__wrapped__ is get_query_iterator
    assert encode_ahead.upcoming("x") == ["x", "y"]
