/// Versioned schema migrations. Each runs once, in order, in its own transaction, and is
/// recorded in `schema_migrations`. DDL is per engine; queries are shared (see `SQL`).
struct Migration: Sendable {
    let version: Int
    let name: String
    let sqlite: String
    /// Empty where Postgres needs nothing: its schema began at version 8, in version 1.
    let postgres: String

    func ddl(_ dialect: SQL.Dialect) -> String {
        switch dialect {
        case .sqlite: sqlite
        case .postgres: postgres
        }
    }
}

enum Migrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "runs", sqlite: runsV1, postgres: postgresV1),
        Migration(version: 2, name: "queue indexes per tenant", sqlite: queueIndexesV2, postgres: ""),
        Migration(version: 3, name: "delivery signing secret", sqlite: deliverySecretV3, postgres: ""),
        Migration(version: 4, name: "api keys", sqlite: apiKeysV4, postgres: ""),
        Migration(version: 5, name: "checkpoints", sqlite: checkpointsV5, postgres: ""),
        Migration(version: 6, name: "artifacts and blob references", sqlite: artifactsV6, postgres: ""),
        Migration(version: 7, name: "usage idempotency keys", sqlite: usageIdempotencyV7, postgres: ""),
        Migration(version: 8, name: "active runs by status", sqlite: activeRunsV8, postgres: ""),
        Migration(version: 9, name: "events announce themselves", sqlite: "", postgres: postgresAnnounceV9),
        Migration(version: 10, name: "claim order in claim indexes", sqlite: claimOrderV10, postgres: claimOrderV10),
        Migration(
            version: 11, name: "workspaces", sqlite: workspacesV11.replacing(#" COLLATE "C""#, with: ""),
            postgres: workspacesV11),
        Migration(version: 12, name: "iam", sqlite: iamV12.replacing(#" COLLATE "C""#, with: ""), postgres: iamV12),
        Migration(
            version: 13, name: "object notifications", sqlite: objectNotificationsV13,
            postgres: objectNotificationsV13),
        Migration(
            version: 14, name: "run forks", sqlite: runForksV14.replacing(#" COLLATE "C""#, with: ""),
            postgres: runForksV14),
        Migration(
            version: 15, name: "checkpoint forks",
            sqlite: checkpointForksV15.replacing(#" COLLATE "C""#, with: ""), postgres: checkpointForksV15),
        Migration(
            version: 16, name: "studio sessions",
            sqlite: studioSessionsV16.replacing(#" COLLATE "C""#, with: ""), postgres: studioSessionsV16),
        Migration(
            version: 17, name: "paused queues, filtered run listings, forks by parent",
            sqlite: listingsV17.replacing("BIGINT", with: "INTEGER"), postgres: listingsV17),
        Migration(
            version: 18, name: "checkpoint histories in step order",
            sqlite: stepOrderV18.replacing("BIGINT", with: "INTEGER"), postgres: stepOrderV18),
        Migration(
            version: 19, name: "completed multipart uploads",
            sqlite: completedUploadsV19.replacing(#" COLLATE "C""#, with: "").replacing("BIGINT", with: "INTEGER"),
            postgres: completedUploadsV19),
        Migration(version: 20, name: "multipart part checksums", sqlite: partChecksumsV20, postgres: partChecksumsV20),
        Migration(
            version: 21, name: "events announced after commit", sqlite: "", postgres: postgresAnnounceAfterCommitV21),
        Migration(
            version: 22, name: "fork points in event order",
            sqlite: forkPointsV22.replacing(#" COLLATE "C""#, with: "").replacing("BIGINT", with: "INTEGER"),
            postgres: forkPointsV22),
    ]

    /// A fork's point as a place in its run's event log, not only a time: steps and state
    /// versions recorded in the same millisecond as the step forked at are before or after it by
    /// their event numbers. Rows from before this migration keep comparing by time.
    static let forkPointsV22 = """
        ALTER TABLE steps ADD COLUMN completed_seq BIGINT;
        ALTER TABLE state_versions ADD COLUMN seq BIGINT;
        ALTER TABLE run_forks ADD COLUMN point_run_id TEXT COLLATE "C";
        ALTER TABLE run_forks ADD COLUMN point_seq BIGINT;
        """

    /// Replicas announce events after their commit (`EventNoticeSender`), not from the writing
    /// transaction: a transaction that notifies holds a database-wide lock through its commit,
    /// so every writer's commit waited for the one before (32 workers' steps about 780/s,
    /// against 1,030 with no notice in the transaction).
    static let postgresAnnounceAfterCommitV21 = """
        DROP TRIGGER events_announce ON events;
        DROP FUNCTION cairn_announce_events();
        """

    /// A part's checksum by the algorithm its upload was created with (`x-amz-checksum-algorithm`),
    /// from which Complete makes the object's.
    static let partChecksumsV20 = "ALTER TABLE workspace_upload_parts ADD COLUMN checksum TEXT;"

    /// Which object each multipart upload completed into, for a day: a repeated Complete (a
    /// client retrying one whose answer it lost) answers the same again, as S3 does.
    static let completedUploadsV19 = """
        CREATE TABLE workspace_completed_uploads (
            id TEXT COLLATE "C" PRIMARY KEY,
            bucket_id TEXT COLLATE "C" NOT NULL,
            object_key TEXT COLLATE "C" NOT NULL,
            seq BIGINT NOT NULL,
            completed_at BIGINT NOT NULL
        );
        CREATE INDEX workspace_completed_uploads_age ON workspace_completed_uploads (completed_at);
        CREATE INDEX workspace_completed_uploads_bucket ON workspace_completed_uploads (bucket_id);
        """

    /// Whether a checkpoint workflow's saves came in ascending step order, so that a replay
    /// page from a step seeks to it (`CheckpointWorkflow.unorderedFrom`). Existing workflows get
    /// the first save whose step is not above every step saved before it; a fork gets 0 (read
    /// in save order, as before), since its history starts in its parent's.
    static let stepOrderV18 = """
        ALTER TABLE checkpoint_workflows ADD COLUMN unordered_from BIGINT;
        UPDATE checkpoint_workflows SET unordered_from = (
            SELECT MIN(s.sequence) FROM (
                SELECT c.sequence, c.step, MAX(c.step) OVER (
                    ORDER BY c.sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS highest_before
                FROM checkpoints c
                WHERE c.tenant_id = checkpoint_workflows.tenant_id AND c.workflow_id = checkpoint_workflows.workflow_id
            ) s WHERE s.step <= s.highest_before);
        UPDATE checkpoint_workflows SET unordered_from = 0 WHERE EXISTS (
            SELECT 1 FROM checkpoint_forks f
            WHERE f.tenant_id = checkpoint_workflows.tenant_id AND f.workflow_id = checkpoint_workflows.workflow_id);
        """

    /// A paused queue keeps its runs but gives none out. The runs list filtered by status or by
    /// workflow reads its own index in list order, so a filter that matches little does not walk
    /// the tenant's whole history; a run's forks are listed newest first from their index.
    static let listingsV17 = """
        ALTER TABLE queue_configs ADD COLUMN paused_at BIGINT;
        CREATE INDEX runs_tenant_status_created ON runs (tenant_id, status, created_at DESC, id DESC);
        CREATE INDEX runs_tenant_workflow_created ON runs (tenant_id, workflow_name, created_at DESC, id DESC);
        DROP INDEX run_forks_parent;
        CREATE INDEX run_forks_parent ON run_forks (parent_run_id, created_at DESC, run_id DESC);
        """

    /// Studio's signed-in browsers: only a hash of each cookie's token is kept. Expired rows are
    /// removed when someone signs in.
    static let studioSessionsV16 = """
        CREATE TABLE studio_sessions (
            token_hash TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            scopes_json TEXT NOT NULL,
            is_root BIGINT NOT NULL,
            key_id TEXT COLLATE "C",
            csrf_token TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked_at BIGINT
        );
        CREATE INDEX studio_sessions_expiry ON studio_sessions (expires_at);
        """

    /// Where a forked checkpoint workflow reads its history up to the fork point: the parent's
    /// saves with a sequence at most `parent_sequence` (nothing is copied). Each save also
    /// records the workflow's running size and error totals through it, so a fork at any
    /// step takes its totals from one row; saves made before this migration have NULL there
    /// and the totals are summed when such a save is forked at.
    static let checkpointForksV15 = """
        CREATE TABLE checkpoint_forks (
            tenant_id TEXT COLLATE "C" NOT NULL,
            workflow_id TEXT COLLATE "C" NOT NULL,
            parent_workflow_id TEXT COLLATE "C" NOT NULL,
            step BIGINT NOT NULL,
            parent_sequence BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id)
        );
        CREATE INDEX checkpoint_forks_parent ON checkpoint_forks (tenant_id, parent_workflow_id);
        ALTER TABLE checkpoints ADD COLUMN running_size_bytes BIGINT;
        ALTER TABLE checkpoints ADD COLUMN running_error_count BIGINT;
        """

    /// Where a forked run came from (the parent's rows are read, never copied).
    static let runForksV14 = """
        CREATE TABLE run_forks (
            run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            parent_run_id TEXT COLLATE "C" NOT NULL,
            step_name TEXT COLLATE "C" NOT NULL,
            point BIGINT NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX run_forks_parent ON run_forks (parent_run_id);
        """

    /// A workspace's notification setting, its deliveries by channel (the bucket) for the log,
    /// and its change events for the event stream, numbered per bucket.
    static let objectNotificationsV13 = """
        ALTER TABLE workspace_buckets ADD COLUMN notifications_json TEXT;
        CREATE INDEX deliveries_channel ON deliveries (channel_id, created_at) WHERE channel_id IS NOT NULL;
        CREATE TABLE workspace_events (
            bucket_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            payload_json TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (bucket_id, seq)
        );
        CREATE INDEX workspace_events_created ON workspace_events (created_at);
        """

    /// The Postgres schema as of version 8 (Postgres support began there, so its history starts
    /// with everything SQLite reached in eight steps). Differences from SQLite's DDL: 64-bit
    /// integers, identity columns instead of `rowid` (`ord` orders rows by insertion, the
    /// `insertionOrder` hook), and byte-order collation so text sorts as it does in SQLite.
    static let postgresV1 = """
        CREATE TABLE runs (
            id TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            workflow_name TEXT COLLATE "C" NOT NULL,
            input_json TEXT COLLATE "C" NOT NULL,
            metadata_json TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            result_json TEXT COLLATE "C",
            error_json TEXT COLLATE "C",
            recovery_webhook TEXT COLLATE "C",
            lease_owner TEXT COLLATE "C",
            lease_expires_at BIGINT,
            attempt BIGINT NOT NULL DEFAULT 0,
            queue_name TEXT COLLATE "C",
            dedupe_key TEXT COLLATE "C",
            priority BIGINT NOT NULL DEFAULT 0,
            run_at BIGINT,
            max_attempts BIGINT NOT NULL DEFAULT 1,
            claimed_at BIGINT,
            deadline_at BIGINT,
            cancel_requested_at BIGINT,
            cancelled_at BIGINT,
            cancel_reason TEXT COLLATE "C",
            cancel_actor TEXT COLLATE "C",
            failure_class TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            completed_at BIGINT
        );
        CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at DESC, id DESC);
        CREATE UNIQUE INDEX runs_queue_dedupe_active ON runs (tenant_id, queue_name, dedupe_key)
            WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
        CREATE INDEX runs_lease_expiry ON runs (lease_expires_at) WHERE status = 'running';
        CREATE INDEX runs_deadline ON runs (deadline_at) WHERE deadline_at IS NOT NULL;

        CREATE TABLE steps (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            input_hash TEXT COLLATE "C" NOT NULL,
            input_json TEXT COLLATE "C" NOT NULL,
            options_json TEXT COLLATE "C" NOT NULL,
            resume_contract_json TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            output_json TEXT COLLATE "C",
            error_json TEXT COLLATE "C",
            lease_owner TEXT COLLATE "C",
            lease_expires_at BIGINT,
            attempt BIGINT NOT NULL,
            started_at BIGINT,
            completed_at BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            UNIQUE (run_id, name)
        );

        CREATE TABLE events (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seq BIGINT NOT NULL,
            type TEXT COLLATE "C" NOT NULL,
            payload_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            UNIQUE (run_id, seq)
        );

        CREATE TABLE run_state (
            run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            value_json TEXT COLLATE "C" NOT NULL,
            version BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );

        CREATE TABLE state_streams (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            target_type TEXT COLLATE "C" NOT NULL,
            target_id TEXT COLLATE "C",
            current_version BIGINT NOT NULL,
            current_value_json TEXT COLLATE "C" NOT NULL,
            metadata_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            UNIQUE (run_id, name)
        );

        CREATE TABLE state_versions (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            stream_id TEXT COLLATE "C" NOT NULL REFERENCES state_streams (id) ON DELETE CASCADE,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_id TEXT COLLATE "C",
            version BIGINT NOT NULL,
            value_json TEXT COLLATE "C" NOT NULL,
            patch_json TEXT COLLATE "C",
            label TEXT COLLATE "C",
            reason TEXT COLLATE "C",
            importance TEXT COLLATE "C" NOT NULL,
            metadata_json TEXT COLLATE "C" NOT NULL,
            created_by TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            UNIQUE (stream_id, version)
        );
        CREATE INDEX state_versions_run ON state_versions (run_id, created_at);

        CREATE TABLE run_edges (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            parent_run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            child_run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            edge_type TEXT COLLATE "C" NOT NULL,
            metadata_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            UNIQUE (parent_run_id, name)
        );
        CREATE INDEX run_edges_child ON run_edges (child_run_id);

        CREATE TABLE gates (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            prompt TEXT COLLATE "C" NOT NULL,
            data_json TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            decision TEXT COLLATE "C",
            actor TEXT COLLATE "C",
            decision_json TEXT COLLATE "C",
            capability_json TEXT COLLATE "C",
            channels_json TEXT COLLATE "C" NOT NULL,
            resolve_token TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            resolved_at BIGINT,
            UNIQUE (run_id, name)
        );

        CREATE TABLE usage_records (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_id TEXT COLLATE "C",
            kind TEXT COLLATE "C" NOT NULL,
            provider TEXT COLLATE "C",
            model TEXT COLLATE "C",
            label TEXT COLLATE "C",
            quantity DOUBLE PRECISION,
            unit TEXT COLLATE "C",
            input_tokens BIGINT,
            output_tokens BIGINT,
            total_tokens BIGINT,
            cost_usd DOUBLE PRECISION,
            metadata_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            idempotency_key TEXT COLLATE "C"
        );
        CREATE INDEX usage_records_run ON usage_records (run_id, created_at);

        CREATE TABLE channels (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            type TEXT COLLATE "C" NOT NULL,
            url TEXT COLLATE "C" NOT NULL,
            secret TEXT COLLATE "C",
            events_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX channels_run ON channels (run_id);

        CREATE TABLE recovery_attempts (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            reason TEXT COLLATE "C" NOT NULL,
            webhook_url TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            http_status BIGINT,
            response_body TEXT COLLATE "C",
            error_text TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            completed_at BIGINT
        );
        CREATE INDEX recovery_attempts_run ON recovery_attempts (run_id, created_at);


        CREATE TABLE queue_configs (
            tenant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            concurrency BIGINT,
            rate_per_minute BIGINT,
            invoke_url TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, name)
        );

        CREATE TABLE schedules (
            tenant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            cron TEXT COLLATE "C" NOT NULL,
            workflow_name TEXT COLLATE "C" NOT NULL,
            input_json TEXT COLLATE "C" NOT NULL,
            queue_name TEXT COLLATE "C" NOT NULL,
            max_attempts BIGINT NOT NULL,
            enabled BIGINT NOT NULL,
            next_run_at BIGINT,
            last_enqueued_at BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, name)
        );
        CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1;
        CREATE INDEX runs_queue_due ON runs (tenant_id, queue_name, status, priority DESC, run_at)
            WHERE queue_name IS NOT NULL;
        CREATE INDEX runs_queue_claimed ON runs (tenant_id, queue_name, claimed_at) WHERE queue_name IS NOT NULL;
        CREATE TABLE api_keys (
            id TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C",
            prefix TEXT COLLATE "C" NOT NULL,
            secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
            scopes_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        );
        CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);
        CREATE TABLE checkpoint_workflows (
            tenant_id TEXT COLLATE "C" NOT NULL,
            workflow_id TEXT COLLATE "C" NOT NULL,
            latest_step BIGINT NOT NULL,
            total_checkpoints BIGINT NOT NULL,
            total_size_bytes BIGINT NOT NULL,
            error_count BIGINT NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            resumed BIGINT NOT NULL,
            started_at BIGINT NOT NULL,
            last_activity_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id)
        );
        CREATE INDEX checkpoint_workflows_expiry ON checkpoint_workflows (expires_at);
        CREATE INDEX checkpoint_workflows_activity ON checkpoint_workflows (tenant_id, last_activity_at);

        CREATE TABLE checkpoints (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            workflow_id TEXT COLLATE "C" NOT NULL,
            step BIGINT NOT NULL,
            sequence BIGINT NOT NULL,
            label TEXT COLLATE "C",
            state_json TEXT COLLATE "C" NOT NULL,
            metadata_json TEXT COLLATE "C",
            agent_id TEXT COLLATE "C",
            etag TEXT COLLATE "C" NOT NULL,
            diff_json TEXT COLLATE "C" NOT NULL,
            size_bytes BIGINT NOT NULL,
            error_type TEXT COLLATE "C",
            error_message TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id, step),
            UNIQUE (tenant_id, workflow_id, sequence)
        );
        CREATE INDEX checkpoints_failures ON checkpoints (tenant_id, created_at) WHERE error_type IS NOT NULL;

        CREATE TABLE checkpoint_workflow_agents (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            workflow_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C" NOT NULL,
            checkpoints BIGINT NOT NULL,
            first_seen_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, workflow_id, agent_id)
        );
        CREATE INDEX checkpoint_workflow_agents_agent ON checkpoint_workflow_agents (tenant_id, agent_id);

        CREATE TABLE checkpoint_webhooks (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            url TEXT COLLATE "C" NOT NULL,
            events_json TEXT COLLATE "C" NOT NULL,
            secret TEXT COLLATE "C",
            created_at BIGINT NOT NULL
        );
        CREATE INDEX checkpoint_webhooks_tenant ON checkpoint_webhooks (tenant_id, created_at);

        CREATE TABLE agents (
            serial BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C",
            description TEXT COLLATE "C",
            capabilities_json TEXT COLLATE "C" NOT NULL,
            metadata_json TEXT COLLATE "C" NOT NULL,
            last_seen_at BIGINT,
            created_at BIGINT NOT NULL,
            UNIQUE (tenant_id, agent_id)
        );

        CREATE TABLE deliveries (
            ord BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT COLLATE "C" PRIMARY KEY,
            kind TEXT COLLATE "C" NOT NULL,
            run_id TEXT COLLATE "C" REFERENCES runs (id) ON DELETE CASCADE,
            channel_id TEXT COLLATE "C",
            gate_id TEXT COLLATE "C",
            url TEXT COLLATE "C" NOT NULL,
            secret TEXT COLLATE "C",
            event_type TEXT COLLATE "C" NOT NULL,
            payload_json TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT,
            http_status BIGINT,
            response_body TEXT COLLATE "C",
            error_text TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            completed_at BIGINT
        );
        CREATE INDEX deliveries_run ON deliveries (run_id, created_at) WHERE run_id IS NOT NULL;
        CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
        CREATE TABLE artifacts (
            id TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            content_type TEXT COLLATE "C" NOT NULL,
            size BIGINT NOT NULL,
            sha256 TEXT COLLATE "C" NOT NULL,
            owner TEXT COLLATE "C",
            metadata_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            idempotency_key TEXT COLLATE "C"
        );
        CREATE UNIQUE INDEX artifacts_idempotency_key ON artifacts (tenant_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX artifacts_tenant_name ON artifacts (tenant_id, name, id);
        CREATE INDEX artifacts_tenant_owner ON artifacts (tenant_id, owner, name, id) WHERE owner IS NOT NULL;
        CREATE INDEX artifacts_expiry ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
        CREATE INDEX artifacts_sha256 ON artifacts (sha256);
        CREATE TABLE blobs (
            tenant_id TEXT COLLATE "C" NOT NULL,
            sha256 TEXT COLLATE "C" NOT NULL,
            size BIGINT NOT NULL,
            refcount BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, sha256)
        );
        CREATE INDEX blobs_sha256 ON blobs (sha256);
        CREATE TABLE artifact_usage (
            tenant_id TEXT COLLATE "C" PRIMARY KEY,
            bytes BIGINT NOT NULL,
            count BIGINT NOT NULL
        );
                CREATE UNIQUE INDEX usage_records_idempotency ON usage_records (run_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX runs_active_status ON runs (status) WHERE status IN ('queued', 'running');
        """

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

    /// Every index a claim's plan can choose now holds the claim's whole order (`created_at`
    /// last), so whichever the planner picks reads the first `limit` entries and never sorts;
    /// the claimed-at index (rate caps) holds only claimed runs, so a claim cannot choose it.
    /// Before, a plan made while the queue was small (a prepared statement's cached plan, or
    /// statistics older than the queue) could go through the claimed-at, active-runs or
    /// due-runs index and sort every run of the queue: 23 to 67 ms a claim on a 20,000-run
    /// queue instead of 0.3 to 0.4, and a third of the throughput. The reconciler's look for
    /// stalled webhook runs gets an index of its own: through the lease index it stepped over
    /// every expired queue run first (36,000 after a replica holding that many leases died:
    /// 29 to 42 ms a tick).
    static let claimOrderV10 = """
        DROP INDEX runs_active_status;
        CREATE INDEX runs_active_status ON runs (status, tenant_id, queue_name, priority DESC, run_at, created_at)
            WHERE status IN ('queued', 'running');
        DROP INDEX runs_queue_due;
        CREATE INDEX runs_queue_due ON runs (tenant_id, queue_name, status, priority DESC, run_at, created_at)
            WHERE queue_name IS NOT NULL;
        DROP INDEX runs_queue_claimed;
        CREATE INDEX runs_queue_claimed ON runs (tenant_id, queue_name, claimed_at)
            WHERE queue_name IS NOT NULL AND claimed_at IS NOT NULL;
        CREATE INDEX runs_webhook_lease_expiry ON runs (lease_expires_at)
            WHERE status = 'running' AND queue_name IS NULL AND recovery_webhook IS NOT NULL;
        """

    /// Every statement that appends events notifies the other replicas when its transaction
    /// commits (dropped by migration 21, which announces after the commit instead): one line
    /// `run lowSeq highSeq` per run after the sending replica's id, in notices under 8000 bytes. Done by the database so a write needs no round trip of its own for it.
    /// The channel and replica id are settings of the connection (`cairn.events_channel`,
    /// `cairn.replica`); a session without them (psql, say) announces nothing.
    static let postgresAnnounceV9 = """
        CREATE FUNCTION cairn_announce_events() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            channel text := current_setting('cairn.events_channel', true);
            sender text := COALESCE(current_setting('cairn.replica', true), '');
            payload text := sender;
            line text;
        BEGIN
            IF channel IS NULL OR channel = '' THEN
                RETURN NULL;
            END IF;
            FOR line IN
                SELECT E'\\n' || run_id || ' ' || MIN(seq) || ' ' || MAX(seq) FROM announced GROUP BY run_id
            LOOP
                IF octet_length(payload) + octet_length(line) > 7000 THEN
                    PERFORM pg_notify(channel, payload);
                    payload := sender;
                END IF;
                payload := payload || line;
            END LOOP;
            IF payload <> sender THEN
                PERFORM pg_notify(channel, payload);
            END IF;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER events_announce AFTER INSERT ON events REFERENCING NEW TABLE AS announced
            FOR EACH STATEMENT EXECUTE FUNCTION cairn_announce_events();
        """

    /// Workspaces (S3 buckets) as append-only object versions. `seq` is the bucket's version clock
    /// (19 digits: milliseconds × 10⁶, bumped past the last one); an object's version id and a
    /// snapshot's version are points on it. A snapshot is one row; a fork is one bucket row whose
    /// parent is (bucket, point): reads resolve through the parents, so neither copies anything.
    /// A version replaced or deleted in a snapshot-enabled bucket is kept with `removed_seq`
    /// (snapshots and forks still see it as of their point); elsewhere its row goes. Each version
    /// holds a reference per blob segment in `blobs`, like an artifact. S3 secrets are stored as
    /// they are: SigV4 verification needs them.
    static let workspacesV11 = """
        CREATE TABLE workspace_buckets (
            id TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            snapshots_enabled INTEGER NOT NULL,
            versioning TEXT COLLATE "C" NOT NULL,
            parent_id TEXT COLLATE "C",
            parent_name TEXT COLLATE "C",
            parent_point BIGINT,
            last_seq BIGINT NOT NULL,
            lifecycle_xml TEXT COLLATE "C",
            deleted_at BIGINT
        );
        CREATE UNIQUE INDEX workspace_buckets_name ON workspace_buckets (tenant_id, name) WHERE deleted_at IS NULL;
        CREATE INDEX workspace_buckets_parent ON workspace_buckets (parent_id) WHERE parent_id IS NOT NULL;
        CREATE TABLE workspace_snapshots (
            bucket_id TEXT COLLATE "C" NOT NULL,
            seq BIGINT NOT NULL,
            name TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            PRIMARY KEY (bucket_id, seq)
        );
        CREATE TABLE workspace_objects (
            bucket_id TEXT COLLATE "C" NOT NULL,
            object_key TEXT COLLATE "C" NOT NULL,
            seq BIGINT NOT NULL,
            removed_seq BIGINT,
            null_version INTEGER NOT NULL,
            delete_marker INTEGER NOT NULL,
            size BIGINT NOT NULL,
            etag TEXT COLLATE "C" NOT NULL,
            segments TEXT COLLATE "C" NOT NULL,
            headers_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (bucket_id, object_key, seq)
        );
        CREATE TABLE workspace_uploads (
            id TEXT COLLATE "C" PRIMARY KEY,
            bucket_id TEXT COLLATE "C" NOT NULL,
            object_key TEXT COLLATE "C" NOT NULL,
            headers_json TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX workspace_uploads_bucket ON workspace_uploads (bucket_id, object_key, id);
        CREATE TABLE workspace_upload_parts (
            upload_id TEXT COLLATE "C" NOT NULL,
            part_number BIGINT NOT NULL,
            size BIGINT NOT NULL,
            etag TEXT COLLATE "C" NOT NULL,
            sha256 TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (upload_id, part_number)
        );
        CREATE TABLE s3_keys (
            access_key_id TEXT COLLATE "C" PRIMARY KEY,
            tenant_id TEXT COLLATE "C" NOT NULL,
            secret TEXT COLLATE "C" NOT NULL,
            scopes TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        );
        """

    /// IAM for S3 keys: a key can be deactivated (and reactivated), a tenant's managed policies by
    /// name, and which keys have which policies attached (the access key id is IAM's user name).
    static let iamV12 = """
        ALTER TABLE s3_keys ADD COLUMN inactive INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE iam_policies (
            tenant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            id TEXT COLLATE "C" NOT NULL,
            document TEXT COLLATE "C" NOT NULL,
            description TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, name)
        );
        CREATE TABLE iam_attachments (
            access_key_id TEXT COLLATE "C" NOT NULL,
            tenant_id TEXT COLLATE "C" NOT NULL,
            policy_name TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (access_key_id, policy_name)
        );
        CREATE INDEX iam_attachments_policy ON iam_attachments (tenant_id, policy_name);
        """
}
