//! The device database's tables as diesel sees them. The SQL that makes them
//! is in `migrations/device/`; `search_index` (FTS5) is reached with raw SQL
//! because diesel has no notion of virtual tables.

diesel::table! {
    /// Every record of every kind; tombstones included.
    records (seq) {
        seq -> BigInt,
        id -> Text,
        kind -> Text,
        phase -> Nullable<Text>,
        dosing_session_id -> Nullable<Text>,
        occurred_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        hlc -> BigInt,
        deleted -> Bool,
        body -> Text,
    }
}

diesel::table! {
    /// Local changes not yet acknowledged by the server, oldest first.
    outbox (mutation_id) {
        mutation_id -> BigInt,
        record_id -> Text,
        kind -> Text,
        op -> Text,
        hlc -> BigInt,
        body -> Nullable<Text>,
        queued_at -> BigInt,
    }
}

diesel::table! {
    /// Facts about this installation: its device id, the clock.
    journal_meta (key) {
        key -> Text,
        value -> Text,
    }
}
