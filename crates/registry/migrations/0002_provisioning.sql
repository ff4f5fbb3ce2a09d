-- Roost registry, schema version 2: provisioning templates and bulk registration tasks.
-- Portable SQL, as in 0001: TEXT, BIGINT epoch milliseconds, BIGINT 0/1 booleans, JSON as TEXT.

-- Provisioning templates (CreateProvisioningTemplate). The bodies live in their versions; the
-- template names its default version.
CREATE TABLE provisioning_templates (
    name                  TEXT PRIMARY KEY,
    description           TEXT,
    template_type         TEXT NOT NULL,              -- FLEET_PROVISIONING | JITP
    enabled               BIGINT NOT NULL,
    provisioning_role_arn TEXT NOT NULL,
    hook_target_arn       TEXT,                       -- Lambda ARN or http(s):// webhook URL
    hook_payload_version  TEXT,
    default_version       BIGINT NOT NULL,
    last_version          BIGINT NOT NULL,            -- version ids are never reused
    created_ms            BIGINT NOT NULL,
    modified_ms           BIGINT NOT NULL
);

CREATE TABLE provisioning_template_versions (
    template_name         TEXT NOT NULL REFERENCES provisioning_templates (name),
    version               BIGINT NOT NULL,
    body                  TEXT NOT NULL,              -- stored verbatim, as AWS returns it
    created_ms            BIGINT NOT NULL,
    PRIMARY KEY (template_name, version)
);

-- Bulk registration (StartThingRegistrationTask). Counts are updated as the task runs, so
-- DescribeThingRegistrationTask shows progress; a task found InProgress at start-up was cut
-- short by a stop of the server and is marked Failed.
CREATE TABLE thing_registration_tasks (
    id                    TEXT PRIMARY KEY,
    template_body         TEXT NOT NULL,
    input_bucket          TEXT NOT NULL,
    input_key             TEXT NOT NULL,
    role_arn              TEXT NOT NULL,
    status                TEXT NOT NULL,              -- InProgress | Completed | Failed | Cancelled | Cancelling
    message               TEXT,
    total_count           BIGINT NOT NULL,            -- parameter lines in the input file
    success_count         BIGINT NOT NULL,
    failure_count         BIGINT NOT NULL,
    results_link          TEXT,                       -- file:// URL of the RESULTS report
    errors_link           TEXT,                       -- file:// URL of the ERRORS report
    created_ms            BIGINT NOT NULL,
    modified_ms           BIGINT NOT NULL
);
CREATE INDEX thing_registration_tasks_by_created ON thing_registration_tasks (created_ms, id);
CREATE INDEX thing_registration_tasks_by_status ON thing_registration_tasks (status, created_ms, id);
