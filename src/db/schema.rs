// One schema for both backends: portable column types only.

diesel::table! {
    tenants (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        dpo_email -> Text,
        postal_address -> Text,
        locale -> Text,
        require_id_document -> Bool,
        allowed_origins -> Text,
        consent_policy -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_users (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_generation -> BigInt,
    }
}

diesel::table! {
    staff_tenants (staff_id, tenant_id) {
        staff_id -> Text,
        tenant_id -> Text,
        position -> Integer,
    }
}

diesel::table! {
    login_locks (lock_key) {
        lock_key -> Text,
        account_id -> Nullable<Text>,
        generation -> BigInt,
        window_until -> Timestamp,
        failures -> Integer,
        in_flight -> Integer,
        locked_until -> Nullable<Timestamp>,
        unlock_hash -> Nullable<Text>,
        unlock_until -> Nullable<Timestamp>,
        unlock_attempts -> Integer,
        forget_at -> Timestamp,
    }
}

diesel::table! {
    staff_revoked_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        at -> Timestamp,
        kind -> Text,
        actor_id -> Nullable<Text>,
        ip_pseudonym -> Nullable<Text>,
        subject_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        actor_pseudonym -> Nullable<Text>,
    }
}

diesel::joinable!(staff_users -> tenants (tenant_id));
diesel::joinable!(staff_tenants -> staff_users (staff_id));
diesel::joinable!(staff_tenants -> tenants (tenant_id));
diesel::joinable!(audit_events -> staff_users (actor_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    staff_users,
    staff_tenants,
    login_locks,
    staff_revoked_tokens,
    audit_events,
    consent_events,
    consent_strings,
    consent_daily_counts,
    mail_outbox,
    rights_requests,
    request_documents,
    request_events,
    request_messages,
    request_assignments,
    request_notes,
    suppression_list,
    tracking_tokens,
    scheduled_runs,
    request_counts,
    request_due_days,
    request_words,
    retention_runs,
    consent_file_folds,
    consent_policy_versions,
    consent_idempotency
);

diesel::table! {
    consent_policy_versions (id) {
        id -> Text,
        tenant_id -> Text,
        policy_version -> Text,
        sha256 -> Text,
        policy -> Text,
        valid_from -> Timestamp,
        valid_to -> Nullable<Timestamp>,
    }
}

diesel::table! {
    consent_idempotency (tenant_id, key_hash) {
        tenant_id -> Text,
        key_hash -> Text,
        request_hash -> Text,
        response -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    consent_file_folds (file) {
        file -> Text,
        tenant_id -> Text,
        month -> Text,
        events -> BigInt,
        run_id -> Nullable<Text>,
        folded_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::columns::{Hex16, Instant, Uuid16};

    /// The consent events, kept compact (`consent/stored.rs`): on
    /// PostgreSQL partitioned by month of `at`, on SQLite one table per
    /// month file. `context`, `user_agent` and `page_url` refer to
    /// `consent_strings`; a receipt is kept as its signature and rebuilt.
    consent_events (at, id) {
        at -> Instant,
        expires_at -> Nullable<Instant>,
        id -> Uuid16,
        subject_id -> Uuid16,
        tenant_id -> Uuid16,
        context -> Integer,
        user_agent -> Nullable<Integer>,
        page_url -> Nullable<Integer>,
        ip_pseudonym -> Nullable<Hex16>,
        tc_string -> Nullable<Text>,
        signature -> Nullable<Binary>,
        receipt -> Nullable<Text>,
    }
}

diesel::table! {
    /// The consent events' table before the compact rows: still the layout
    /// of SQLite's main file (whose events move into month files,
    /// `consent/upgrade.rs`) and of month files before version 3.
    #[sql_name = "consent_events"]
    legacy_consent_events (id) {
        id -> Text,
        tenant_id -> Text,
        subject_id -> Text,
        event -> Text,
        policy_version -> Text,
        choices -> Text,
        gpc -> Bool,
        at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        ip_pseudonym -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        page_url -> Nullable<Text>,
        tc_string -> Nullable<Text>,
        receipt -> Nullable<Text>,
    }
}

diesel::table! {
    /// The strings many consent events share, each kept once: an event's
    /// context (its kind, policy version, choices and receipt form), user
    /// agents, pages. Found by the SHA-256 of the value.
    consent_strings (id) {
        id -> Integer,
        digest -> Binary,
        value -> Text,
    }
}

diesel::table! {
    consent_daily_counts (tenant_id, day, purpose_id) {
        tenant_id -> Text,
        day -> Text,
        purpose_id -> Text,
        accepted -> BigInt,
        refused -> BigInt,
        withdrawn -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        message_id -> Text,
        template -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        sender_name -> Nullable<Text>,
        reply_to -> Nullable<Text>,
    }
}

diesel::table! {
    rights_requests (id) {
        id -> Text,
        tenant_id -> Text,
        reference -> Text,
        kind -> Text,
        status -> Text,
        is_open -> Bool,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        email -> Nullable<Text>,
        email_hash -> Nullable<Text>,
        postal_address -> Nullable<Text>,
        details -> Nullable<Text>,
        scope -> Nullable<Text>,
        grounds -> Nullable<Text>,
        search_text -> Nullable<Text>,
        received_at -> Timestamp,
        due_at -> Timestamp,
        paused_at -> Nullable<Timestamp>,
        extended -> Bool,
        extension_reason -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        outcome_reason -> Nullable<Text>,
        duplicate_of -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        subject_ids -> Nullable<Text>,
        identity_outcome -> Nullable<Text>,
        identity_method -> Nullable<Text>,
        identity_at -> Nullable<Timestamp>,
        identity_by -> Nullable<Text>,
        identity_note -> Nullable<Text>,
        new_document_at -> Nullable<Timestamp>,
        channel -> Text,
        case_id -> Nullable<Text>,
        on_behalf_first_name -> Nullable<Text>,
        on_behalf_last_name -> Nullable<Text>,
        on_behalf_relation -> Nullable<Text>,
    }
}

diesel::table! {
    request_counts (tenant_id, status, kind) {
        tenant_id -> Text,
        status -> Text,
        kind -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    request_due_days (tenant_id, span, due_day, status, kind) {
        tenant_id -> Text,
        span -> BigInt,
        due_day -> BigInt,
        status -> Text,
        kind -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    request_words (word, request_id) {
        word -> Text,
        request_id -> Text,
    }
}

diesel::table! {
    tracking_tokens (token_hash) {
        token_hash -> Text,
        request_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    request_documents (id) {
        id -> Text,
        request_id -> Text,
        filename -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        key_id -> Text,
        nonce -> Binary,
        ciphertext -> Nullable<Binary>,
        uploaded_at -> Timestamp,
        purged_at -> Nullable<Timestamp>,
        role -> Text,
        message_id -> Nullable<Text>,
    }
}

diesel::table! {
    request_messages (id) {
        id -> Text,
        request_id -> Text,
        at -> Timestamp,
        author -> Text,
        kind -> Text,
        body -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    request_events (id) {
        id -> Text,
        request_id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        status -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    suppression_list (tenant_id, email_hash) {
        tenant_id -> Text,
        email_hash -> Text,
        request_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    request_assignments (id) {
        id -> Text,
        request_id -> Text,
        tenant_id -> Text,
        referent_id -> Text,
        assigned_by -> Text,
        note -> Nullable<Text>,
        due_at -> Timestamp,
        created_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        reminded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    request_notes (id) {
        id -> Text,
        request_id -> Text,
        at -> Timestamp,
        author -> Text,
        body -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(request_assignments -> rights_requests (request_id));
diesel::joinable!(request_assignments -> staff_users (referent_id));
diesel::joinable!(request_notes -> rights_requests (request_id));
diesel::joinable!(request_documents -> rights_requests (request_id));
diesel::joinable!(request_events -> rights_requests (request_id));
diesel::joinable!(request_messages -> rights_requests (request_id));

diesel::table! {
    scheduled_runs (job, slot) {
        job -> Text,
        slot -> Text,
        claimed_at -> Timestamp,
    }
}

diesel::table! {
    retention_runs (id) {
        id -> Text,
        trigger -> Text,
        slot -> Nullable<Text>,
        tenant_id -> Nullable<Text>,
        as_of -> Timestamp,
        status -> Text,
        removed -> Text,
        error -> Nullable<Text>,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}
