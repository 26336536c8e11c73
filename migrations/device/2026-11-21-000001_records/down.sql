DROP TABLE journal_meta;
DROP TABLE outbox;
DROP TABLE records;
