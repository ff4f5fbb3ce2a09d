-- The registry's changes in commit order, for the other nodes of a cluster: each commit that
-- changed something adds one row in its own transaction (cluster mode only), numbered under a
-- lock so that the numbers follow commit order. Nodes read the rows after the last one they
-- saw; rows older than the follow window are deleted.
CREATE TABLE registry_events (
    seq BIGINT PRIMARY KEY,
    node TEXT NOT NULL,
    events TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
