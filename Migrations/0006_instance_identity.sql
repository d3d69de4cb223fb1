-- This database's instance id (issue 12 item 8). Training containers carry it in their names and
-- labels, so two Trainyard servers on one Docker engine (whose job ids both start at 1) never
-- adopt, stop or remove each other's containers.
-- It lives in the database rather than in a file beside it: container names pair it with job
-- ids, which are the database's, so a database restored from a backup (README "Backing up and
-- restoring") keeps finding its own containers, and a copied data dir is the same instance.
-- Generated once, when the migration runs: 8 random bytes, 16 hex digits.
CREATE TABLE instance_identity (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    instance_id TEXT    NOT NULL CHECK (length(instance_id) = 16)
) STRICT;

INSERT INTO instance_identity (singleton, instance_id) VALUES (1, lower(hex(randomblob(8))));
