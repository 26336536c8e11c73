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
        base_hlc -> Nullable<BigInt>,
        changed_fields -> Nullable<Text>,
    }
}

diesel::table! {
    /// Text that lost a conflict, pulled from the server.
    revisions (id) {
        id -> Text,
        record_id -> Text,
        kind -> Text,
        hlc -> BigInt,
        reason -> Text,
        body -> Text,
        created_at -> BigInt,
        resolved_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The server's version of records pulled while they still had local
    /// changes waiting to be pushed.
    held_pulls (record_id) {
        record_id -> Text,
        version -> BigInt,
        state -> Text,
    }
}

diesel::table! {
    /// Facts about this installation: its device id, the pull cursor, the
    /// greatest clock stamp pulled.
    journal_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    /// Care plans the patient's linked therapists wrote.
    assigned_plans (id) {
        id -> Text,
        therapist_id -> Text,
        author -> Text,
        body -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// Therapists' comments on the patient's records.
    comments (id) {
        id -> Text,
        record_id -> Text,
        therapist_id -> Text,
        author -> Text,
        text -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        from_patient -> Bool,
        reply_to -> Nullable<Text>,
        pending -> Nullable<Text>,
    }
}
