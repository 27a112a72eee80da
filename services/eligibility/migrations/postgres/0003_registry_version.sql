-- Bumped by every transaction that writes the registry, with the persons it touched logged under
-- the new version, so an in-memory coverage index (in any process or replica) catches up exactly.
CREATE TABLE registry_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    -- Changes of versions up to this one were pruned: an index older than it reloads in full.
    pruned_through BIGINT NOT NULL
);
INSERT INTO registry_version (id, version, pruned_through) VALUES (1, 0, 0);

-- `id_hash` of each person whose coverage facts a version changed; an empty hash means
-- "everything" (a bulk import).
CREATE TABLE registry_changes (
    version BIGINT NOT NULL,
    id_hash BYTEA NOT NULL
);
CREATE INDEX registry_changes_by_version ON registry_changes (version);
