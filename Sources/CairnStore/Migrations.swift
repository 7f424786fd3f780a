/// Versioned schema migrations. Each runs once, in order, in its own transaction, and is
/// recorded in `schema_migrations`. DDL is per engine; queries are shared (see `SQL`).
struct Migration: Sendable {
    let version: Int
    let name: String
    let sqlite: String
}

enum Migrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "runs", sqlite: runsV1),
        Migration(version: 2, name: "queue indexes per tenant", sqlite: queueIndexesV2),
        Migration(version: 3, name: "delivery signing secret", sqlite: deliverySecretV3),
        Migration(version: 4, name: "api keys", sqlite: apiKeysV4),
        Migration(version: 5, name: "checkpoints", sqlite: checkpointsV5),
        Migration(version: 6, name: "artifacts and blob references", sqlite: artifactsV6),
        Migration(version: 7, name: "usage idempotency keys", sqlite: usageIdempotencyV7),
        Migration(version: 8, name: "active runs by status", sqlite: activeRunsV8),
    ]

    /// The checkpoint protocol: a head row per workflow (latest step and totals) over its
    /// append-only checkpoints, the same stream shape as run state; webhooks and agents per
    /// tenant. Deliveries gain a kind and lose the run requirement, so checkpoint webhooks go
    /// through the same retrying delivery log as run channels.
    static let checkpointsV5 = """
        CREATE TABLE checkpoint_workflows (
            tenant_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            latest_step INTEGER NOT NULL,
            total_checkpoints INTEGER NOT NULL,
            total_size_bytes INTEGER NOT NULL,
            error_count INTEGER NOT NULL,
            status TEXT NOT NULL,
            resumed INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            last_activity_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id)
        );
        CREATE INDEX checkpoint_workflows_expiry ON checkpoint_workflows (expires_at);
        CREATE INDEX checkpoint_workflows_activity ON checkpoint_workflows (tenant_id, last_activity_at);

        CREATE TABLE checkpoints (
            tenant_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            sequence INTEGER NOT NULL,
            label TEXT,
            state_json TEXT NOT NULL,
            metadata_json TEXT,
            agent_id TEXT,
            etag TEXT NOT NULL,
            diff_json TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            error_type TEXT,
            error_message TEXT,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id, step),
            UNIQUE (tenant_id, workflow_id, sequence)
        );
        CREATE INDEX checkpoints_failures ON checkpoints (tenant_id, created_at) WHERE error_type IS NOT NULL;

        CREATE TABLE checkpoint_workflow_agents (
            tenant_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            checkpoints INTEGER NOT NULL,
            first_seen_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id, agent_id)
        );
        CREATE INDEX checkpoint_workflow_agents_agent ON checkpoint_workflow_agents (tenant_id, agent_id);

        CREATE TABLE checkpoint_webhooks (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            url TEXT NOT NULL,
            events_json TEXT NOT NULL,
            secret TEXT,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX checkpoint_webhooks_tenant ON checkpoint_webhooks (tenant_id, created_at);

        CREATE TABLE agents (
            serial INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            name TEXT,
            description TEXT,
            capabilities_json TEXT NOT NULL,
            metadata_json TEXT NOT NULL,
            last_seen_at INTEGER,
            created_at INTEGER NOT NULL,
            UNIQUE (tenant_id, agent_id)
        );

        CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            run_id TEXT REFERENCES runs (id) ON DELETE CASCADE,
            channel_id TEXT,
            gate_id TEXT,
            url TEXT NOT NULL,
            secret TEXT,
            event_type TEXT NOT NULL,
            payload_json TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            http_status INTEGER,
            response_body TEXT,
            error_text TEXT,
            created_at INTEGER NOT NULL,
            completed_at INTEGER
        );
        INSERT INTO deliveries (id, kind, run_id, channel_id, gate_id, url, secret, event_type, payload_json, status, \
            attempts, next_attempt_at, http_status, response_body, error_text, created_at, completed_at)
            SELECT id, 'run_channel', run_id, channel_id, gate_id, url, secret, event_type, payload_json, status, \
            attempts, next_attempt_at, http_status, response_body, error_text, created_at, completed_at
            FROM channel_deliveries;
        DROP TABLE channel_deliveries;
        CREATE INDEX deliveries_run ON deliveries (run_id, created_at) WHERE run_id IS NOT NULL;
        CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
        """

    /// Artifacts, the references each tenant holds on content-addressed blobs, and each tenant's
    /// stored bytes (for the quota, checked in the transaction that commits an artifact). An
    /// upload's `Idempotency-Key` is unique per tenant among the rows that carry one.
    static let artifactsV6 = """
        CREATE TABLE artifacts (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            owner TEXT,
            metadata_json TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            idempotency_key TEXT
        );
        CREATE UNIQUE INDEX artifacts_idempotency_key ON artifacts (tenant_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX artifacts_tenant_name ON artifacts (tenant_id, name, id);
        CREATE INDEX artifacts_tenant_owner ON artifacts (tenant_id, owner, name, id) WHERE owner IS NOT NULL;
        CREATE INDEX artifacts_expiry ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
        CREATE INDEX artifacts_sha256 ON artifacts (sha256);
        CREATE TABLE blobs (
            tenant_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            refcount INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, sha256)
        );
        CREATE INDEX blobs_sha256 ON blobs (sha256);
        CREATE TABLE artifact_usage (
            tenant_id TEXT PRIMARY KEY,
            bytes INTEGER NOT NULL,
            count INTEGER NOT NULL
        );
        """

    /// API keys: only a hash of each secret is kept, with a visible prefix.
    static let apiKeysV4 = """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            name TEXT,
            prefix TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            scopes_json TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        );
        CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);
        """

    /// Deliveries to a gate's inline channels have no channel row to read the key from.
    static let deliverySecretV3 = "ALTER TABLE channel_deliveries ADD COLUMN secret TEXT;"

    /// Claims and caps look runs up by tenant and queue.
    static let queueIndexesV2 = """
        DROP INDEX runs_queue_claim;
        CREATE INDEX runs_queue_due ON runs (tenant_id, queue_name, status, priority DESC, run_at)
            WHERE queue_name IS NOT NULL;
        CREATE INDEX runs_queue_claimed ON runs (tenant_id, queue_name, claimed_at) WHERE queue_name IS NOT NULL;
        """

    /// Runs, steps, gates, state, usage, events, channels; and the queue and schedule tables the
    /// reconciler uses. Timestamps are milliseconds since the epoch; JSON is stored as text.
    static let runsV1 = """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            workflow_name TEXT NOT NULL,
            input_json TEXT NOT NULL,
            metadata_json TEXT NOT NULL,
            status TEXT NOT NULL,
            result_json TEXT,
            error_json TEXT,
            recovery_webhook TEXT,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            attempt INTEGER NOT NULL DEFAULT 0,
            queue_name TEXT,
            dedupe_key TEXT,
            priority INTEGER NOT NULL DEFAULT 0,
            run_at INTEGER,
            max_attempts INTEGER NOT NULL DEFAULT 1,
            claimed_at INTEGER,
            deadline_at INTEGER,
            cancel_requested_at INTEGER,
            cancelled_at INTEGER,
            cancel_reason TEXT,
            cancel_actor TEXT,
            failure_class TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            completed_at INTEGER
        );
        CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at DESC, id DESC);
        CREATE UNIQUE INDEX runs_queue_dedupe_active ON runs (tenant_id, queue_name, dedupe_key)
            WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
        CREATE INDEX runs_queue_claim ON runs (queue_name, status, priority, run_at) WHERE queue_name IS NOT NULL;
        CREATE INDEX runs_lease_expiry ON runs (lease_expires_at) WHERE status = 'running';
        CREATE INDEX runs_deadline ON runs (deadline_at) WHERE deadline_at IS NOT NULL;

        CREATE TABLE steps (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            input_hash TEXT NOT NULL,
            input_json TEXT NOT NULL,
            options_json TEXT NOT NULL,
            resume_contract_json TEXT NOT NULL,
            status TEXT NOT NULL,
            output_json TEXT,
            error_json TEXT,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            attempt INTEGER NOT NULL,
            started_at INTEGER,
            completed_at INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (run_id, name)
        );

        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            payload_json TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (run_id, seq)
        );

        CREATE TABLE run_state (
            run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            value_json TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );

        CREATE TABLE state_streams (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            target_type TEXT NOT NULL,
            target_id TEXT,
            current_version INTEGER NOT NULL,
            current_value_json TEXT NOT NULL,
            metadata_json TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (run_id, name)
        );

        CREATE TABLE state_versions (
            id TEXT PRIMARY KEY,
            stream_id TEXT NOT NULL REFERENCES state_streams (id) ON DELETE CASCADE,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_id TEXT,
            version INTEGER NOT NULL,
            value_json TEXT NOT NULL,
            patch_json TEXT,
            label TEXT,
            reason TEXT,
            importance TEXT NOT NULL,
            metadata_json TEXT NOT NULL,
            created_by TEXT,
            created_at INTEGER NOT NULL,
            UNIQUE (stream_id, version)
        );
        CREATE INDEX state_versions_run ON state_versions (run_id, created_at);

        CREATE TABLE run_edges (
            id TEXT PRIMARY KEY,
            parent_run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            child_run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            edge_type TEXT NOT NULL,
            metadata_json TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (parent_run_id, name)
        );
        CREATE INDEX run_edges_child ON run_edges (child_run_id);

        CREATE TABLE gates (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            prompt TEXT NOT NULL,
            data_json TEXT NOT NULL,
            status TEXT NOT NULL,
            decision TEXT,
            actor TEXT,
            decision_json TEXT,
            capability_json TEXT,
            channels_json TEXT NOT NULL,
            resolve_token TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            resolved_at INTEGER,
            UNIQUE (run_id, name)
        );

        CREATE TABLE usage_records (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_id TEXT,
            kind TEXT NOT NULL,
            provider TEXT,
            model TEXT,
            label TEXT,
            quantity REAL,
            unit TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            total_tokens INTEGER,
            cost_usd REAL,
            metadata_json TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX usage_records_run ON usage_records (run_id, created_at);

        CREATE TABLE channels (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            type TEXT NOT NULL,
            url TEXT NOT NULL,
            secret TEXT,
            events_json TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX channels_run ON channels (run_id);

        CREATE TABLE recovery_attempts (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            reason TEXT NOT NULL,
            webhook_url TEXT NOT NULL,
            status TEXT NOT NULL,
            http_status INTEGER,
            response_body TEXT,
            error_text TEXT,
            created_at INTEGER NOT NULL,
            completed_at INTEGER
        );
        CREATE INDEX recovery_attempts_run ON recovery_attempts (run_id, created_at);

        CREATE TABLE channel_deliveries (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            channel_id TEXT,
            gate_id TEXT,
            url TEXT NOT NULL,
            event_type TEXT NOT NULL,
            payload_json TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            http_status INTEGER,
            response_body TEXT,
            error_text TEXT,
            created_at INTEGER NOT NULL,
            completed_at INTEGER
        );
        CREATE INDEX channel_deliveries_run ON channel_deliveries (run_id, created_at);
        CREATE INDEX channel_deliveries_due ON channel_deliveries (next_attempt_at) WHERE status = 'pending';

        CREATE TABLE queue_configs (
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            concurrency INTEGER,
            rate_per_minute INTEGER,
            invoke_url TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, name)
        );

        CREATE TABLE schedules (
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            cron TEXT NOT NULL,
            workflow_name TEXT NOT NULL,
            input_json TEXT NOT NULL,
            queue_name TEXT NOT NULL,
            max_attempts INTEGER NOT NULL,
            enabled INTEGER NOT NULL,
            next_run_at INTEGER,
            last_enqueued_at INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, name)
        );
        CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1;
        """

    /// A usage entry may carry a client key; one key records one entry per run, so a workflow
    /// that replays after a crash does not record its usage twice.
    static let usageIdempotencyV7 = """
        ALTER TABLE usage_records ADD COLUMN idempotency_key TEXT;
        CREATE UNIQUE INDEX usage_records_idempotency ON usage_records (run_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        """

    /// Counting queued and running runs (the `/metrics` gauges, sampled every few seconds)
    /// reads only the active runs, however many finished ones the table holds.
    static let activeRunsV8 = """
        CREATE INDEX runs_active_status ON runs (status) WHERE status IN ('queued', 'running');
        """
}
