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

-- The node that holds each persistent session in a cluster (NULL on a single node): a node
-- loads its own at start-up, and a node a client moves to asks this one to hand it over.
ALTER TABLE mqtt_sessions ADD COLUMN node TEXT;
