//! The server's tables as diesel sees them; one schema for both backends
//! (the SQL is in `migrations/postgres/` and `migrations/sqlite/`).

// The column types diesel generates cannot carry doc comments; the tables do.
#![allow(missing_docs)]

diesel::table! {
    /// Patients and therapists.
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        display_name -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Attempts at guessable secrets per client address, per window.
    address_throttle (address) {
        address -> Text,
        window_start -> BigInt,
        attempts -> Integer,
    }
}

diesel::table! {
    /// Failed sign-ins per hashed email.
    login_throttle (email_hash) {
        email_hash -> Text,
        failures -> Integer,
        window_start -> BigInt,
        locked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Refresh tokens, stored hashed, in families that rotate.
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Invitation codes a therapist hands a patient.
    care_invitations (id) {
        id -> Text,
        therapist_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        used_by -> Nullable<Text>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Links between a patient and a therapist.
    care_links (id) {
        id -> Text,
        patient_id -> Text,
        therapist_id -> Text,
        created_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        ended_by -> Nullable<Text>,
    }
}

diesel::table! {
    /// Each owner's write counter.
    owner_versions (owner_id) {
        owner_id -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    /// Every patient's records, tombstones included.
    records (id) {
        id -> Text,
        owner_id -> Text,
        kind -> Text,
        phase -> Nullable<Text>,
        dosing_session_id -> Nullable<Text>,
        occurred_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        hlc -> BigInt,
        deleted -> Bool,
        body -> Text,
        version -> BigInt,
        origin_device -> Text,
        created_hlc -> Nullable<BigInt>,
        created_device -> Nullable<Text>,
        field_stamps -> Text,
    }
}

diesel::table! {
    /// The devices that push, each bound to its owner.
    sync_devices (device_id) {
        device_id -> Text,
        owner_id -> Text,
        last_mutation_id -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    /// The outcome each recent mutation first got, answered to replays.
    mutation_outcomes (device_id, mutation_id) {
        device_id -> Text,
        mutation_id -> BigInt,
        outcome -> Text,
        record_id -> Nullable<Text>,
        hlc -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Content that lost a conflict or to a delete, kept for the patient.
    record_revisions (id) {
        id -> Text,
        owner_id -> Text,
        record_id -> Text,
        kind -> Text,
        hlc -> BigInt,
        origin_device -> Text,
        reason -> Text,
        body -> Text,
        created_at -> BigInt,
        version -> BigInt,
    }
}

diesel::table! {
    /// Password resets by emailed code, per (hashed) email.
    password_resets (email_hash) {
        email_hash -> Text,
        user_id -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
        wrong_tries -> Integer,
        requests -> Integer,
        window_start -> BigInt,
    }
}

diesel::table! {
    /// Care plans therapists write for their patients.
    care_plans (id) {
        id -> Text,
        patient_id -> Text,
        therapist_id -> Text,
        body -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        version -> BigInt,
        withdrawn -> Bool,
    }
}

diesel::table! {
    /// Therapists' comments on patients' records.
    comments (id) {
        id -> Text,
        owner_id -> Text,
        record_id -> Text,
        therapist_id -> Text,
        text -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted -> Bool,
        version -> BigInt,
        from_patient -> Bool,
        reply_to -> Nullable<Text>,
    }
}

diesel::table! {
    /// Every therapist read of patient data (append-only).
    audit_log (id) {
        id -> Text,
        patient_id -> Text,
        therapist_id -> Text,
        action -> Text,
        record_id -> Nullable<Text>,
        record_kind -> Nullable<Text>,
        share_id -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::table! {
    /// Risk answers shared with a linked therapist.
    alerts (id) {
        id -> Text,
        patient_id -> Text,
        therapist_id -> Text,
        record_id -> Text,
        reason -> Text,
        status -> Text,
        created_at -> BigInt,
        acknowledged_at -> Nullable<BigInt>,
        resolved_at -> Nullable<BigInt>,
        note -> Nullable<Text>,
        email_due_at -> Nullable<BigInt>,
        email_attempts -> Integer,
        email_sent_at -> Nullable<BigInt>,
        email_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// The therapist portal's sign-ins (the cookie's id, hashed).
    portal_sessions (id_hash) {
        id_hash -> Text,
        therapist_id -> Text,
        csrf_token -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// When a therapist last opened each patient's portal page.
    portal_visits (therapist_id, patient_id) {
        therapist_id -> Text,
        patient_id -> Text,
        visited_at -> BigInt,
        seen_version -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    address_throttle,
    care_plans,
    password_resets,
    portal_sessions,
    portal_visits,
    comments,
    audit_log,
    alerts,
    users,
    login_throttle,
    refresh_tokens,
    care_invitations,
    care_links,
    owner_versions,
    records,
    sync_devices,
    mutation_outcomes,
    record_revisions,
);
