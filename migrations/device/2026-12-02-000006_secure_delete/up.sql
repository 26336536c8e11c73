-- Deleting an entry removes its words from the full-text index at once,
-- instead of leaving them in the index's segments until they are merged
-- (FTS5's secure-delete option, kept in the index's own configuration).
INSERT INTO search_index (search_index, rank) VALUES ('secure-delete', 1);
