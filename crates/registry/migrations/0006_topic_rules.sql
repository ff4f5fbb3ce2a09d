-- Roost registry, schema version 6: topic rules and topic rule destinations.

-- One row per rule (CreateTopicRule). The payload is the TopicRulePayload as the API received
-- it, normalized: awsIotSqlVersion filled in, ruleDisabled left out (the column holds it, as
-- EnableTopicRule and DisableTopicRule change it).
CREATE TABLE topic_rules (
    rule_name            TEXT PRIMARY KEY,
    payload              TEXT NOT NULL,
    -- The SQL's FROM topic filter; '' for a rule reached only by Basic Ingest.
    topic_pattern        TEXT NOT NULL,
    rule_disabled        BIGINT NOT NULL,
    sql_version          TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    updated_ms           BIGINT NOT NULL
);
CREATE INDEX topic_rules_by_topic_pattern ON topic_rules (topic_pattern);

-- URLs an http action may reach once confirmed (CreateTopicRuleDestination, or created by a
-- rule whose http action names a URL no destination covers).
CREATE TABLE topic_rule_destinations (
    arn                  TEXT PRIMARY KEY,
    url                  TEXT NOT NULL UNIQUE,
    -- ENABLED, IN_PROGRESS, DISABLED, ERROR or DELETING.
    status               TEXT NOT NULL,
    status_reason        TEXT,
    -- The SHA-256 (hex) of the confirmation token last sent, never the token itself.
    confirmation_token   TEXT,
    created_ms           BIGINT NOT NULL,
    updated_ms           BIGINT NOT NULL
);
CREATE INDEX topic_rule_destinations_by_token ON topic_rule_destinations (confirmation_token);
