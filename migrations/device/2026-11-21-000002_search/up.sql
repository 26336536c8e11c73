-- Full-text search over entry titles and bodies and over intentions with
-- their reflections. Keyed by records.seq; the store keeps it in step in the
-- same transaction as every write.
CREATE VIRTUAL TABLE search_index USING fts5(
    title,
    body,
    tokenize = 'unicode61 remove_diacritics 2',
    -- Indexes of 2- and 3-letter prefixes: as-you-type search on a phone
    -- starts with short prefixes, which otherwise scan many terms.
    prefix = '2 3'
);

-- Index what was written before search existed. Must compose the text
-- exactly as RecordBody::searchable_text does.
INSERT INTO search_index (rowid, title, body)
SELECT seq, COALESCE(json_extract(body, '$.title'), ''), json_extract(body, '$.body')
FROM records WHERE kind = 'journalEntry' AND deleted = 0;

INSERT INTO search_index (rowid, title, body)
SELECT seq, json_extract(body, '$.text'),
    CASE WHEN json_extract(body, '$.reflection') IS NULL THEN ''
    ELSE COALESCE(json_extract(body, '$.reflection.howItWent'), '') || char(10)
        || COALESCE(json_extract(body, '$.reflection.carryForward'), '') END
FROM records WHERE kind = 'intention' AND deleted = 0;
