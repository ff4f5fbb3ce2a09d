-- Roost registry, schema version 4: Device Shadows and retained messages.

-- One row per shadow of a thing, classic or named. A shadow does not need a registered thing,
-- and deleting a thing keeps its shadows (both as on AWS). A deleted shadow keeps its row with
-- no document, so that its next incarnation continues its version numbers as AWS does.
CREATE TABLE shadows (
    thing_name           TEXT NOT NULL,
    -- The shadow's name; the classic (unnamed) shadow is stored under ''.
    shadow_name          TEXT NOT NULL,
    -- The document as roost-shadow stores it ({state, metadata, version}); NULL once deleted.
    document             TEXT,
    version              BIGINT NOT NULL,
    updated_ms           BIGINT NOT NULL,
    PRIMARY KEY (thing_name, shadow_name)
);

-- Retained messages, one per topic, written before a retained QoS 1 publish is acknowledged
-- and loaded into the broker at start-up.
CREATE TABLE retained_messages (
    topic                TEXT PRIMARY KEY,
    -- Base64: one portable text type on SQLite and PostgreSQL.
    payload              TEXT NOT NULL,
    payload_bytes        BIGINT NOT NULL,
    qos                  INTEGER NOT NULL,
    -- MQTT 5 properties kept with the message: {contentType, payloadFormat, responseTopic,
    -- correlationData (base64), userProperties [[k, v]…]}; NULL when it has none.
    properties           TEXT,
    -- When the message expires (MQTT 5 Message Expiry), epoch milliseconds; NULL: never.
    expires_ms           BIGINT,
    updated_ms           BIGINT NOT NULL
);

-- Ownership tokens are stored as their SHA-256 from now on; tokens issued before (plain, and
-- valid for an hour at most) are dropped: a device whose token was pending asks for a new one.
DELETE FROM ownership_tokens;
