-- Roost registry, schema version 4: Device Shadows.

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
