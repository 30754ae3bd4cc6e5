"""The data config: where events come from, how their columns and event names map, and how they are cleaned."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataConfig:
    name: str = "simulator"
    source: str = "simulator"  # simulator | files
    simulator: object | None = None  # a SimulatorConfig when source == simulator

    # Reading (source == files)
    format: str | None = None  # csv | parquet | jsonl | otto | retailrocket; None = from the file suffix
    events_path: str | None = None
    catalog_path: str | None = None
    properties_paths: list = field(default_factory=list)  # RetailRocket item_properties parts
    category_tree_path: str | None = None  # RetailRocket category_tree.csv
    csv: dict = field(default_factory=dict)  # read options: sep, header (bool), names (list of column names)
    columns: dict = field(default_factory=dict)  # the file's column name -> neurec's
    constants: dict = field(default_factory=dict)  # neurec column -> value, for columns a source lacks
    event_map: dict = field(default_factory=dict)  # the file's event name -> view | add_to_cart | purchase | drop
    exclude_items: list = field(default_factory=list)  # item ids that are no product (postage, fees): dropped
    timestamp_unit: str = "s"  # unit of numeric timestamps: s | ms

    # Cleaning: problem -> error | drop | fix (see neurec.data.validate.DEFAULT_POLICIES)
    policies: dict = field(default_factory=dict)
    max_bad_fraction: float = 0.05  # dropping more than this share of rows for one problem is an error
    session_gap_minutes: float = 30.0  # sessions by inactivity when the source has no session id
    min_item_count: int = 1  # training-period events an item needs to enter the vocabulary
    min_user_events: int = 1  # customers with fewer events are left out

    # Plausibility (problems implausible_timestamp and long_id; see neurec.data.plausible)
    min_timestamp: str | None = "2000-01-01"  # earlier events are implausible (a 0 or a default date)
    max_timestamp: str | None = None  # later events are implausible; None = one day after now
    timestamp_outlier_factor: float | None = 1.0  # farther than this x the span of the bulk (1st-99th pct) from it
    max_id_length: int = 256  # characters in a user, session or item id

    # Task and split
    target: str = "purchase"  # purchase: purchase decisions | next: every next event (click-only data)
    max_history: int = 50
    summary_size: int = 32  # items in the whole-history summary (model.summary_size owns it, like max_history)
    split_by: str = "time"  # time: fractions of the time range | events: fractions of the events (uneven traffic)
    valid_frac: float = 0.1  # share of the time range (or of the events), when valid_start is not given
    test_frac: float = 0.15
    valid_start: str | None = None  # dates (ISO) override the fractions
    test_start: str | None = None
    # Decisions each period needs (problem too_few_decisions: error, or warn and go on)
    min_train_decisions: int = 30
    min_eval_decisions: int = 10  # in the validation period and in the test period

    # Out-of-core preparation (neurec-data prepare; neurec.data.outofcore.settings): memory cap, chunk, partitions
    out_of_core: dict = field(default_factory=dict)
