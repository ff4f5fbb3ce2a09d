-- Roost registry, schema version 5: persistent MQTT sessions survive a restart.

-- One row per persistent session (Clean Session 0, or a Session Expiry Interval above 0).
CREATE TABLE mqtt_sessions (
    client_id            TEXT PRIMARY KEY,
    -- Session Expiry Interval in seconds; 4294967295: never expires.
    expiry_secs          BIGINT NOT NULL,
    -- When its client went away, epoch milliseconds; NULL while connected (a session whose
    -- broker stopped while it was connected is counted as disconnected at the next start).
    disconnected_ms      BIGINT,
    -- Its subscriptions, as the broker encodes them (JSON).
    subscriptions        TEXT NOT NULL,
    updated_ms           BIGINT NOT NULL
);

-- QoS 1 and 2 messages the session owes its client, in order, written before the publisher's
-- PUBACK when they were queued for an offline session, and forgotten once the client has them.
CREATE TABLE mqtt_session_messages (
    client_id            TEXT NOT NULL,
    seq                  BIGINT NOT NULL,
    -- The delivery, as the broker encodes it (JSON).
    delivery             TEXT NOT NULL,
    PRIMARY KEY (client_id, seq)
);
