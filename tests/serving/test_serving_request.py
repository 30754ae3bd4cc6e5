import pytest

from neurec.serving.request import MAX_HISTORY_EVENTS, RequestError, parse_request, parse_timestamp

T0 = 1_772_359_200  # 2026-03-01T10:00:00Z


@pytest.mark.parametrize(
    "value",
    ["2026-03-01T10:00:00Z", "2026-03-01T11:00:00+01:00", "2026-03-01T10:00:00", "2026-03-01 10:00:00.000z",
     T0, float(T0)],
)
def test_timestamp_forms_agree(value):
    assert parse_timestamp(value) == T0


@pytest.mark.parametrize(
    "value, message",
    [
        ("yesterday", "'yesterday' is not an ISO-8601 timestamp"),
        (float("inf"), "not a finite number"),
        (T0 * 1000, "milliseconds sent by mistake"),
        (True, "expected an ISO-8601 string or unix seconds, got a boolean"),
        (None, "got null"),
    ],
)
def test_bad_timestamps(value, message):
    with pytest.raises(RequestError, match=message):
        parse_timestamp(value, "history[0].timestamp")


def test_history_sorted_stably_by_time():
    history = [
        {"item_id": "b", "event_type": "view", "timestamp": T0 + 10},
        {"item_id": "a", "event_type": "purchase", "timestamp": "2026-03-01T10:00:00Z"},
        {"item_id": "c", "event_type": "add_to_cart", "timestamp": T0 + 10},
    ]
    req = parse_request({"history": history})
    assert req.history_items == ["a", "b", "c"]
    assert req.history_types.tolist() == [3, 1, 2]
    assert req.history_ts.tolist() == [T0, T0 + 10, T0 + 10]
    assert req.candidates is None and req.cart == [] and req.k is None and req.explain is False


def test_ids_are_normalized_and_candidates_deduplicated():
    req = parse_request({"history": [], "candidates": [42, "7", 42.0, "42"], "cart": [7]})
    assert req.candidates == ["42", "7"] and req.cart == ["7"]


@pytest.mark.parametrize(
    "data, message",
    [
        ([], r"^request: expected a JSON object, got a list"),
        ({"history": {}}, r"^history: expected a list of events, got an object"),
        ({"history": ["x"]}, r"^history\[0\]: expected an object"),
        ({"history": [{"item_id": "1", "event_type": "view", "timestamp": 0, "price": 3}]},
         r"^history\[0\]\.price: unknown field"),
        ({"history": [{"event_type": "view", "timestamp": 0}]}, r"^history\[0\]\.item_id: missing field"),
        ({"history": [{"item_id": [1], "event_type": "view", "timestamp": 0}]}, r"^history\[0\]\.item_id: expected"),
        ({"history": [{"item_id": "1", "event_type": 2, "timestamp": 0}]},
         r"^history\[0\]\.event_type: expected a string, got int"),
        ({"history": [{"item_id": "1", "event_type": "pad", "timestamp": 0}]}, r"unknown event type 'pad'"),
        ({"history": [], "candidates": "100001"}, r"^candidates: expected a list of item ids"),
        ({"history": [], "candidates": [1.5]}, r"^candidates\[0\]: expected an item id"),
        ({"history": [], "cart": [""]}, r"^cart\[0\]: empty item id"),
        ({"history": [], "k": "3"}, r"^k: expected an integer >= 1, got '3'"),
        ({"history": [], "k": True}, r"^k: expected an integer"),
        ({"history": [], "explain": "yes"}, r"^explain: expected true or false"),
    ],
)
def test_errors_name_the_field(data, message):
    with pytest.raises(RequestError, match=message):
        parse_request(data)


def test_history_length_limit():
    event = {"item_id": "1", "event_type": "view", "timestamp": T0}
    assert len(parse_request({"history": [event] * MAX_HISTORY_EVENTS}).history_items) == MAX_HISTORY_EVENTS
    with pytest.raises(RequestError, match=rf"^history: {MAX_HISTORY_EVENTS + 1} events; at most"):
        parse_request({"history": [event] * (MAX_HISTORY_EVENTS + 1)})


def test_new_fields_defaults():
    req = parse_request({"history": []})
    assert req.placement == "product_page" and req.anchor is None and req.cart_value is None
    assert req.declined == [] and req.shown == [] and req.segment is None and req.now is None


def test_new_fields_parse():
    req = parse_request({
        "history": [], "placement": "checkout", "anchor": 100001, "cart": ["7"], "cart_value": 12,
        "declined": [5, "6"], "shown": ["8", 9], "segment": "returning/vip", "now": "2026-03-01T10:00:00Z",
    })
    assert req.shown == ["8", "9"]
    assert req.placement == "checkout" and req.anchor == "100001" and req.cart_value == 12.0
    assert req.declined == ["5", "6"] and req.segment == "returning/vip" and req.now == T0
    assert parse_request({"history": [], "placement": None, "cart_value": 0}).cart_value == 0.0


@pytest.mark.parametrize(
    "data, message",
    [
        ({"placement": "homepage"}, r"^placement: expected one of product_page, cart, checkout, post_purchase"),
        ({"placement": 1}, r"^placement: expected one of"),
        ({"anchor": ["1"]}, r"^anchor: expected an item id"),
        ({"anchor": ""}, r"^anchor: empty item id"),
        ({"cart_value": -1}, r"^cart_value: expected a finite number >= 0, got -1"),
        ({"cart_value": "12"}, r"^cart_value: expected a finite number >= 0"),
        ({"cart_value": float("nan")}, r"^cart_value: expected a finite number >= 0, got nan"),
        ({"cart_value": float("inf")}, r"^cart_value: expected a finite number >= 0, got inf"),
        ({"cart_value": True}, r"^cart_value: expected a finite number >= 0, got True"),
        ({"declined": "100001"}, r"^declined: expected a list of item ids"),
        ({"declined": [None]}, r"^declined\[0\]: expected an item id"),
        ({"shown": "100001"}, r"^shown: expected a list of item ids"),
        ({"shown": [1.5]}, r"^shown\[0\]: expected an item id"),
        ({"segment": 3}, r"^segment: expected a string, got int"),
        ({"segment": "x" * 201}, r"^segment: 201 characters; at most 200"),
        ({"now": "soon"}, r"^now: 'soon' is not an ISO-8601 timestamp"),
        ({"now": T0 * 1000}, r"^now: .* \(milliseconds sent by mistake\?\)"),
        ({"placment": "cart"}, r"^placment: unknown field"),
    ],
)
def test_new_field_errors_name_the_field(data, message):
    with pytest.raises(RequestError, match=message):
        parse_request({"history": [], **data})
