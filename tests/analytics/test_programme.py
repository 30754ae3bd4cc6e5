"""Programme metrics on a log whose every figure is worked out by hand (see conftest.make_small_log)."""

import numpy as np
import pandas as pd
import pytest

from neurec.analytics.programme import format_programme, programme_metrics
from neurec.analytics.reclog import NO_VARIANT, validate_reclog
from neurec.data.errors import DataError

# sessions a1/s1 (order 120, Y accepted), a1/s2 (cart abandoned), a2/s1 (order 150, Z bought before its
# impression: not accepted), b1/s1 (order 140, Y accepted twice), b2/s1 (view only), b2/s2 (order 20, Y accepted)
EXPECTED = {
    "all": dict(sessions=6, orders=4, conversion_rate=4 / 6, cart_abandonment_rate=1 / 5, revenue=430, aov=107.5,
                rec_conversion_rate=3 / 4, upsell_conversion_rate=0, cross_sell_conversion_rate=3 / 4, attachment_rate=3 / 4,
                rec_revenue=80, rec_revenue_share=80 / 430, aov_with_rec=280 / 3, aov_without_rec=150,
                aov_lift_with_rec=(280 / 3) / 150 - 1, impressions=7, clicks=1, ctr=1 / 7, accepted_impressions=3,
                acceptance_rate=3 / 7, declines=1, decline_rate=1 / 7),
    "A": dict(sessions=3, orders=2, conversion_rate=2 / 3, cart_abandonment_rate=1 / 3, revenue=270, aov=135,
              rec_conversion_rate=1 / 2, attachment_rate=1 / 2, rec_revenue=20, aov_with_rec=120, aov_without_rec=150,
              impressions=3, clicks=1, accepted_impressions=1, declines=0, aov_lift_vs_control=0.0),
    "B": dict(sessions=3, orders=2, conversion_rate=2 / 3, cart_abandonment_rate=0, revenue=160, aov=80,
              rec_conversion_rate=1, attachment_rate=1, rec_revenue=60, aov_with_rec=80, impressions=4, clicks=0,
              accepted_impressions=2, declines=1, decline_rate=1 / 4, aov_lift_vs_control=80 / 135 - 1),
}


def test_summary_matches_hand_computed_table(small_log):
    report = programme_metrics(validate_reclog(small_log))
    assert list(report.summary.index) == ["all", "A", "B"] and report.control == "A"
    for variant, metrics in EXPECTED.items():
        for metric, value in metrics.items():
            assert report.summary.loc[variant, metric] == pytest.approx(value), (variant, metric)
    assert np.isnan(report.summary.loc["B", "aov_without_rec"])  # every B order took a recommendation


def test_acceptance_by_offer_kind_and_placement(small_log):
    offers = programme_metrics(validate_reclog(small_log)).by_offer
    overall = offers[offers["variant"] == "all"].set_index(["offer_kind", "placement"])
    expected = pd.DataFrame(
        [("cross_sell", "cart", 2, 1, 2, 0, 60.0), ("cross_sell", "checkout", 1, 0, 1, 0, 20.0),
         ("cross_sell", "product_page", 1, 0, 0, 0, 0.0), ("upsell", "cart", 1, 0, 0, 1, 0.0),
         ("upsell", "product_page", 2, 0, 0, 0, 0.0)],
        columns=["offer_kind", "placement", "impressions", "clicks", "accepted", "declines", "rec_revenue"],
    ).set_index(["offer_kind", "placement"])
    pd.testing.assert_frame_equal(overall[expected.columns], expected, check_dtype=False, check_index_type=False)
    assert overall.loc[("cross_sell", "cart"), "acceptance_rate"] == 1.0 and overall.loc[("cross_sell", "cart"), "ctr"] == 0.5
    b = offers[offers["variant"] == "B"].set_index(["offer_kind", "placement"])
    assert b.loc[("cross_sell", "cart"), "rec_revenue"] == 40.0  # two units credited to one impression


def test_log_without_variants_or_prices(small_log):
    report = programme_metrics(validate_reclog(small_log.drop(columns=["variant", "price"])))
    assert list(report.summary.index) == ["all"] and report.control is None
    s = report.summary.loc["all"]
    assert s["orders"] == 4 and s["rec_conversion_rate"] == 0.75
    assert np.isnan(s["revenue"]) and np.isnan(s["aov"]) and np.isnan(s["rec_revenue_share"])
    text = format_programme(report)
    assert "rec_conversion_rate" in text and "75.00 %" in text


def test_validation_fills_variant_per_customer(small_log):
    log = validate_reclog(small_log)
    assert set(log.loc[log["user_id"] == "a1", "variant"]) == {"A"}
    assert (log["ts"].diff().dropna() >= 0).all() and log["visit"].nunique() == 6
    assert set(validate_reclog(small_log.drop(columns="variant"))["variant"]) == {NO_VARIANT}


def _broken(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["session_id", "timestamp"]), r"missing column\(s\) \['session_id', 'timestamp'\]"),
    (lambda f: _broken(f, "event_type", 3, "wishlist"), r"1 row\(s\) with an unknown event_type \{'wishlist': 1\}"),
    (lambda f: _broken(f, "timestamp", 0, "yesterday"), r"1 row\(s\) with an unparsable timestamp"),
    (lambda f: _broken(f, "item_id", 2, None), r"1 row\(s\) with an empty 'item_id'"),
    (lambda f: _broken(f, "price", 4, None), r"1 purchase row\(s\) without a positive price"),
    (lambda f: _broken(f, "placement", 1, None), r"1 row\(s\) with an empty 'placement' \(needed on impression"),
    (lambda f: _broken(f, "offer_kind", 1, "bundle"), r"offer_kind other than"),
    (lambda f: _broken(f, "rank", 1, 0), r"rank that is not a whole number"),
    (lambda f: _broken(f, "variant", 3, "B"), r"1 customer\(s\) appear in more than one variant"),
    (lambda f: f.drop(columns=["request_id"]), r"impression/click/decline row\(s\) but no column\(s\) \['request_id'\]"),
])
def test_bad_logs_name_column_and_count(small_log, change, message):
    with pytest.raises(DataError, match=message):
        validate_reclog(change(small_log), "log.csv")
