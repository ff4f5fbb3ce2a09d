-- Roost registry, schema version 1.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Timestamps are epoch milliseconds
-- (BIGINT), booleans are BIGINT 0/1, JSON documents are TEXT (stored verbatim, as AWS returns them).

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE ca_certificates (
    id                   TEXT PRIMARY KEY,            -- lowercase hex SHA-256 of the DER
    pem                  TEXT NOT NULL,
    subject_key          TEXT NOT NULL,               -- hex of the raw subject DN (issuer lookup)
    status               TEXT NOT NULL,               -- ACTIVE | INACTIVE
    auto_registration    TEXT NOT NULL,               -- ENABLE | DISABLE
    registration_config  TEXT,                        -- JSON {templateBody, roleArn, templateName}
    certificate_mode     TEXT NOT NULL,               -- DEFAULT | SNI_ONLY
    not_before_ms        BIGINT NOT NULL,
    not_after_ms         BIGINT NOT NULL,
    customer_version     BIGINT NOT NULL,
    generation_id        TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    modified_ms          BIGINT NOT NULL
);
CREATE INDEX ca_certificates_by_subject ON ca_certificates (subject_key);
CREATE INDEX ca_certificates_by_created ON ca_certificates (created_ms, id);

CREATE TABLE certificates (
    id                   TEXT PRIMARY KEY,
    pem                  TEXT NOT NULL,
    ca_id                TEXT,                        -- the registered CA that signed it, if any
    status               TEXT NOT NULL,
    certificate_mode     TEXT NOT NULL,
    not_before_ms        BIGINT NOT NULL,
    not_after_ms         BIGINT NOT NULL,
    customer_version     BIGINT NOT NULL,
    generation_id        TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    modified_ms          BIGINT NOT NULL
);
CREATE INDEX certificates_by_created ON certificates (created_ms, id);
CREATE INDEX certificates_by_ca ON certificates (ca_id, created_ms, id);

CREATE TABLE thing_types (
    name                 TEXT PRIMARY KEY,
    id                   TEXT NOT NULL,
    properties           TEXT NOT NULL,               -- JSON ThingTypeProperties as given
    deprecated           BIGINT NOT NULL,
    deprecated_ms        BIGINT,
    created_ms           BIGINT NOT NULL
);

CREATE TABLE billing_groups (
    name                 TEXT PRIMARY KEY,
    id                   TEXT NOT NULL,
    description          TEXT,
    version              BIGINT NOT NULL,
    created_ms           BIGINT NOT NULL
);

CREATE TABLE things (
    name                 TEXT PRIMARY KEY,
    id                   TEXT NOT NULL,
    type_name            TEXT REFERENCES thing_types (name),
    attributes           TEXT NOT NULL,               -- JSON object of strings
    version              BIGINT NOT NULL,
    billing_group        TEXT REFERENCES billing_groups (name),
    created_ms           BIGINT NOT NULL
);
CREATE INDEX things_by_type ON things (type_name, name);
CREATE INDEX things_by_billing_group ON things (billing_group, name);

CREATE TABLE thing_groups (
    name                 TEXT PRIMARY KEY,
    id                   TEXT NOT NULL,
    parent               TEXT REFERENCES thing_groups (name),
    description          TEXT,
    attributes           TEXT NOT NULL,
    version              BIGINT NOT NULL,
    created_ms           BIGINT NOT NULL
);
CREATE INDEX thing_groups_by_parent ON thing_groups (parent, name);

CREATE TABLE thing_group_members (
    group_name           TEXT NOT NULL REFERENCES thing_groups (name),
    thing_name           TEXT NOT NULL REFERENCES things (name),
    PRIMARY KEY (group_name, thing_name)
);
CREATE INDEX thing_group_members_by_thing ON thing_group_members (thing_name, group_name);

CREATE TABLE policies (
    name                 TEXT PRIMARY KEY,
    default_version      BIGINT NOT NULL,
    last_version         BIGINT NOT NULL,             -- version ids are never reused
    generation_id        TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    modified_ms          BIGINT NOT NULL
);

CREATE TABLE policy_versions (
    policy_name          TEXT NOT NULL REFERENCES policies (name),
    version              BIGINT NOT NULL,
    document             TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    PRIMARY KEY (policy_name, version)
);

-- Policy attachments: target is an ARN (certificate or thing group).
CREATE TABLE policy_attachments (
    policy_name          TEXT NOT NULL REFERENCES policies (name),
    target               TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    PRIMARY KEY (policy_name, target)
);
CREATE INDEX policy_attachments_by_target ON policy_attachments (target, policy_name);

-- Thing principals: principal is an ARN (certificate).
CREATE TABLE thing_principals (
    thing_name           TEXT NOT NULL REFERENCES things (name),
    principal            TEXT NOT NULL,
    exclusive            BIGINT NOT NULL,
    created_ms           BIGINT NOT NULL,
    PRIMARY KEY (thing_name, principal)
);
CREATE INDEX thing_principals_by_principal ON thing_principals (principal, thing_name);

CREATE TABLE tags (
    resource_arn         TEXT NOT NULL,
    tag_key              TEXT NOT NULL,
    tag_value            TEXT NOT NULL,
    PRIMARY KEY (resource_arn, tag_key)
);
