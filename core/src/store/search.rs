//! Full-text search over what the patient wrote: entry titles and bodies,
//! intentions and their reflections (SQLite FTS5, ranked by BM25 with titles
//! weighing twice as much as bodies).
//!
//! The patient's words are never handed to FTS5 as query syntax: each word
//! becomes a quoted prefix term, so `"`, `*`, `NEAR` or `-` in a search box
//! find text instead of raising a syntax error.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use serde::{Deserialize, Serialize};

use super::schema::{journal_meta, records};
use super::{RecordRow, StoreError, pull};
use crate::records::{Record, RecordBody, RecordKind};
use crate::validation::{FieldViolation, InvalidInput};

/// The most hits one search returns.
pub const MAX_SEARCH_RESULTS: u32 = 100;
/// The longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 500;
/// At most this many words of the search text are used.
const MAX_TERMS: usize = 16;
/// When more entries than this match, only the newest this many are ranked
/// (docs/decisions/0003-search-ranking-window.md).
pub const RANKING_WINDOW: u32 = 2_000;

// Highlight markers inside FTS5 snippets. Record text can never contain them:
// every text rule rejects control characters.
const MARK_START: char = '\u{2}';
const MARK_END: char = '\u{3}';

/// A search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchQuery {
    /// What the patient typed. Every word must appear; the last may be the
    /// start of a longer word unless a space follows it. Case and accents
    /// are ignored.
    pub text: String,
    /// How many hits at most, 1–100.
    pub limit: u32,
}

impl SearchQuery {
    /// A search for `text` returning up to 20 hits.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            limit: 20,
        }
    }

    /// Checks the limit and the length of the text.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut problems = Vec::new();
        if !(1..=MAX_SEARCH_RESULTS).contains(&self.limit) {
            problems.push(FieldViolation {
                field: "limit".to_owned(),
                rule: "range".to_owned(),
                message: format!("must be between 1 and {MAX_SEARCH_RESULTS}"),
            });
        }
        if self.text.chars().count() > MAX_SEARCH_CHARS {
            problems.push(FieldViolation {
                field: "text".to_owned(),
                rule: "length".to_owned(),
                message: format!("must be at most {MAX_SEARCH_CHARS} characters"),
            });
        }
        InvalidInput::collect(Ok(()), problems)
    }

    /// The FTS5 expression for the text, or `None` when it has no words.
    ///
    /// Every word must appear as a whole word, except the last, which may be
    /// the start of a longer one while the patient is still typing it (not
    /// when a space follows it, and not when it is a single letter). Prefix
    /// terms cost far more than whole words on a word that is in most
    /// entries (measured: 6 ms against 0.7 ms on 10,000 entries), so only
    /// the word being typed gets one.
    fn match_expression(&self) -> Option<String> {
        let words: Vec<&str> = self
            .text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(MAX_TERMS)
            .collect();
        let last = words.len().checked_sub(1)?;
        let still_typing = self.text.chars().last().is_some_and(char::is_alphanumeric);
        // Words are alphanumeric only, so quoting them is enough.
        let terms: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == last && still_typing && w.chars().nth(1).is_some() {
                    format!("\"{w}\"*")
                } else {
                    format!("\"{w}\"")
                }
            })
            .collect();
        Some(terms.join(" "))
    }
}

/// One record that matched, with an excerpt around the match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The record.
    pub record: Record,
    /// A short excerpt of the matching text (`…` where it was cut).
    pub snippet: String,
    /// Where the matched words are in `snippet`, as character ranges
    /// `[start, end)`, for the app to highlight.
    pub highlights: Vec<(u32, u32)>,
}

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(embed)]
    record: RecordRow,
    #[diesel(sql_type = Text)]
    snippet: String,
}

pub(super) fn run(
    conn: &mut SqliteConnection,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, StoreError> {
    let Some(expression) = query.match_expression() else {
        return Ok(Vec::new());
    };
    // A first sync that has not caught up yet (or never will: the app was
    // closed meanwhile) left records out of the index: finish it first, so
    // a search never misses them.
    if is_stale(conn)? {
        finish(conn)?;
    }
    // Rank row numbers alone, then build records and snippets for the best
    // few only: in one query SQLite would make a snippet and carry a whole
    // record body through the sort for every match before the limit applies
    // (measured 5x slower on 10,000 entries). The index holds live records
    // only, so no tombstone can match.
    //
    // Scoring costs about a microsecond per match, so a word found in every
    // one of 10,000 entries took 12 ms; ranking only the newest
    // RANKING_WINDOW matches bounds that. Row numbers grow with creation
    // time, and FTS5 walks them newest first cheaply.
    //
    // One statement for both steps: the window is the inner query (FTS5
    // walks the matches newest first and stops after the window), scoring
    // the outer; a prefix term's matches are gathered once, not once per
    // step (it was two statements: 11.3 ms for a 4-letter prefix of a word
    // in every entry).
    let ranked: Vec<Ranked> = diesel::sql_query(
        "SELECT seq FROM (\
            SELECT rowid AS seq, bm25(search_index, 2.0, 1.0) AS score \
            FROM search_index WHERE search_index MATCH ? \
            ORDER BY rowid DESC LIMIT ?\
         ) ORDER BY score, seq DESC LIMIT ?",
    )
    .bind::<Text, _>(&expression)
    .bind::<BigInt, _>(i64::from(RANKING_WINDOW))
    .bind::<BigInt, _>(i64::from(query.limit))
    .load(conn)?;
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    let order: Vec<i64> = ranked.iter().map(|r| r.seq).collect();
    let list = order
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // The row numbers are integers from SQLite itself, so listing them in
    // the SQL text is safe.
    //
    // FTS5 is given the match and the range the hits span, and the list is
    // checked on its rows (the `+` keeps it from being offered to FTS5):
    // offered `rowid IN (…)`, FTS5 evaluates the match once per listed row,
    // which for a prefix term gathers its matches twenty times over
    // (8 ms of the 10 ms a 4-letter prefix of a word in every entry took).
    let (low, high) = order
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    let rows: Vec<HitRow> = diesel::sql_query(format!(
        "SELECT r.seq, r.id, r.kind, r.created_at, r.updated_at, r.hlc, r.body, \
                snippet(search_index, -1, char(2), char(3), '…', 16) AS snippet \
         FROM search_index JOIN records r ON r.seq = search_index.rowid \
         WHERE search_index MATCH ? AND search_index.rowid BETWEEN ? AND ? \
           AND +search_index.rowid IN ({list})"
    ))
    .bind::<Text, _>(&expression)
    .bind::<BigInt, _>(low)
    .bind::<BigInt, _>(high)
    .load(conn)?;
    let mut hits: Vec<(usize, SearchHit)> = rows
        .into_iter()
        .map(|row| {
            let rank = order
                .iter()
                .position(|s| *s == row.record.seq)
                .unwrap_or(usize::MAX);
            let (snippet, highlights) = split_marks(&row.snippet);
            Ok((
                rank,
                SearchHit {
                    record: row.record.into_record()?,
                    snippet,
                    highlights,
                },
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    hits.sort_by_key(|(rank, _)| *rank);
    Ok(hits.into_iter().map(|(_, hit)| hit).collect())
}

/// Removes the highlight markers, noting where they stood.
fn split_marks(marked: &str) -> (String, Vec<(u32, u32)>) {
    let mut text = String::with_capacity(marked.len());
    let mut ranges = Vec::new();
    let mut position: u32 = 0;
    let mut start = None;
    for c in marked.chars() {
        match c {
            MARK_START => start = Some(position),
            MARK_END => {
                if let Some(s) = start.take() {
                    ranges.push((s, position));
                }
            }
            _ => {
                text.push(c);
                position = position.saturating_add(1);
            }
        }
    }
    (text, ranges)
}

/// `journal_meta` key present while the index lacks records written
/// without it: from the first page of a first sync until the index is
/// built. Written in the same transaction as those records, so a crash
/// never leaves them out unnoticed.
const STALE_KEY: &str = "search_index_stale";

/// `journal_meta` key: while the index is being built, the greatest record
/// number (`seq`) it is complete for. Each step of the build moves it in
/// the step's own transaction, so a build cut off resumes where it was.
const BUILT_THROUGH_KEY: &str = "search_index_built_through";

/// FTS5's in-memory buffer while the index is being built: a large one
/// writes each step's records in one segment rather than several that must
/// then be merged (its default is 1 MiB).
const BUILD_HASH_SIZE: i64 = 16 * 1024 * 1024;
/// FTS5's default buffer, restored once the index is built.
const DEFAULT_HASH_SIZE: i64 = 1024 * 1024;

/// Records read and indexed per step of a build, each step one
/// transaction: short enough (tens of milliseconds) that a save or a list
/// the patient makes meanwhile waits barely at all.
const BUILD_STEP: i64 = 1_000;
/// Rows per insert into the index while building (3 values each).
const ROWS_PER_INSERT: usize = 100;

/// How a step of the build reads the records: by primary key, after the
/// last one indexed. Deleted records are read and skipped rather than
/// filtered in SQL: a `deleted = 0` term lets SQLite choose the timeline
/// index and then sort every remaining record, bodies included, for each
/// step (measured 593 ms against 6.5 ms for 10,000 records). The plan is
/// checked by a test (`the_build_reads_records_by_primary_key`).
pub(super) const BUILD_READ: &str =
    "SELECT seq, kind, body, deleted FROM records WHERE seq > ? ORDER BY seq LIMIT ?";

#[derive(QueryableByName)]
struct BuildRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

/// Whether the index is missing records (see [`STALE_KEY`]).
pub(super) fn is_stale(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    Ok(pull::meta(conn, STALE_KEY)?.is_some())
}

/// While the index is being built, the greatest record number it is
/// complete for; `None` when it is complete.
pub(super) fn built_through(conn: &mut SqliteConnection) -> Result<Option<i64>, StoreError> {
    if !is_stale(conn)? {
        return Ok(None);
    }
    match pull::meta(conn, BUILT_THROUGH_KEY)? {
        None => Ok(Some(0)),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("bad {BUILT_THROUGH_KEY} {text:?}: {e}"))),
    }
}

/// Whether records written now may leave the index to the build that
/// follows ([`build_step`]): when it is being built already, or when the
/// journal holds no record at all (a first sync) — then it is marked for
/// building, in the caller's transaction. Returns how far the index is
/// complete (records up to that number must still be indexed as written).
pub(super) fn defer_building(conn: &mut SqliteConnection) -> Result<Option<i64>, StoreError> {
    if let Some(through) = built_through(conn)? {
        return Ok(Some(through));
    }
    let any: bool = diesel::select(diesel::dsl::exists(records::table.select(records::seq)))
        .get_result(conn)?;
    if any {
        return Ok(None);
    }
    pull::set_meta(conn, STALE_KEY, "1")?;
    pull::set_meta(conn, BUILT_THROUGH_KEY, "0")?;
    set_hash_size(conn, BUILD_HASH_SIZE)?;
    Ok(Some(0))
}

/// While a first sync writes the journal (and its search index waits to
/// be built), the write-ahead log is copied into the database file only
/// once it holds this many pages (64 MiB), rather than SQLite's default
/// thousand: the copy, which encrypts every page a second time, is left
/// to the index build that follows, off the sync's path. The log stays
/// bounded for journals of any size.
const CHECKPOINT_PAGES_WHILE_PULLING: i64 = 16_000;
/// SQLite's default, which every other write keeps.
const CHECKPOINT_PAGES: i64 = 1_000;

/// Holds the log's copies back while the first sync writes (see
/// [`CHECKPOINT_PAGES_WHILE_PULLING`]). Only this connection's setting:
/// a journal opened again starts with the default.
pub(super) fn hold_checkpoints(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    conn.batch_execute(&format!(
        "PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES_WHILE_PULLING}"
    ))?;
    Ok(())
}

#[derive(QueryableByName)]
struct AutoCheckpoint {
    #[diesel(sql_type = BigInt)]
    wal_autocheckpoint: i64,
}

/// The log's size, in pages, past which this connection copies it into
/// the database.
pub(super) fn checkpoint_pages(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(diesel::sql_query("PRAGMA wal_autocheckpoint")
        .get_result::<AutoCheckpoint>(conn)?
        .wal_autocheckpoint)
}

/// Copies what the first sync left in the log into the database and
/// brings back the default, if the copies were held back.
pub(super) fn resume_checkpoints(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    if checkpoint_pages(conn)? == CHECKPOINT_PAGES {
        return Ok(());
    }
    conn.batch_execute(&format!(
        "PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}; PRAGMA wal_checkpoint(TRUNCATE);"
    ))?;
    Ok(())
}

/// One step of building the index, in the caller's transaction: the next
/// [`BUILD_STEP`] records after the last indexed. Text is composed by
/// [`RecordBody::searchable_text`], as when records are indexed one by
/// one. Returns `true` once the index is complete (and unmarked).
pub(super) fn build_step(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    build_step_of(conn, BUILD_STEP)
}

/// [`build_step`] over the next `count` records.
pub(super) fn build_step_of(conn: &mut SqliteConnection, count: i64) -> Result<bool, StoreError> {
    let Some(after) = built_through(conn)? else {
        return Ok(true);
    };
    let rows: Vec<BuildRow> = diesel::sql_query(BUILD_READ)
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(count)
        .load(conn)?;
    let Some(last) = rows.last().map(|row| row.seq) else {
        set_hash_size(conn, DEFAULT_HASH_SIZE)?;
        diesel::delete(journal_meta::table.find(STALE_KEY)).execute(conn)?;
        diesel::delete(journal_meta::table.find(BUILT_THROUGH_KEY)).execute(conn)?;
        return Ok(true);
    };
    // Records of this range written by the patient meanwhile were indexed
    // as they were saved; they are indexed again below with the rest.
    diesel::sql_query("DELETE FROM search_index WHERE rowid > ? AND rowid <= ?")
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(last)
        .execute(conn)?;
    let mut texts = Vec::with_capacity(rows.len());
    for row in rows.into_iter().filter(|row| !row.deleted) {
        let seq = row.seq;
        let corrupt = |e: String| StoreError::Corrupt(format!("record #{seq}: {e}"));
        let kind: RecordKind = row.kind.parse().map_err(|e| corrupt(format!("{e}")))?;
        let body = RecordBody::from_json(kind, &row.body).map_err(|e| corrupt(e.to_string()))?;
        if let Some(text) = body.searchable_text() {
            texts.push((seq, text));
        }
    }
    for chunk in texts.chunks(ROWS_PER_INSERT) {
        insert_many(conn, chunk)?;
    }
    pull::set_meta(conn, BUILT_THROUGH_KEY, &last.to_string())?;
    Ok(false)
}

/// Builds whatever is left of the index, a step per transaction, while the
/// caller holds the connection.
pub(super) fn finish(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    resume_checkpoints(conn)?;
    while !conn.immediate_transaction(build_step)? {}
    Ok(())
}

fn set_hash_size(conn: &mut SqliteConnection, bytes: i64) -> Result<(), StoreError> {
    diesel::sql_query("INSERT INTO search_index (search_index, rank) VALUES ('hashsize', ?)")
        .bind::<BigInt, _>(bytes)
        .execute(conn)?;
    Ok(())
}

/// Adds several records' text to the index in one statement.
fn insert_many(
    conn: &mut SqliteConnection,
    rows: &[(i64, (String, String))],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("INSERT INTO search_index (rowid, title, body) VALUES ");
    sql.push_str(&vec!["(?, ?, ?)"; rows.len()].join(", "));
    let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
    for (seq, (title, body)) in rows {
        query = query
            .bind::<BigInt, _>(*seq)
            .bind::<Text, _>(title.as_str())
            .bind::<Text, _>(body.as_str());
    }
    query.execute(conn)?;
    Ok(())
}

/// Adds a record's text to the index (kinds that are not searched are
/// skipped).
pub(super) fn index(
    conn: &mut SqliteConnection,
    seq: i64,
    body: &RecordBody,
) -> Result<(), StoreError> {
    if let Some((title, text)) = body.searchable_text() {
        diesel::sql_query("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)")
            .bind::<BigInt, _>(seq)
            .bind::<Text, _>(title)
            .bind::<Text, _>(text)
            .execute(conn)?;
    }
    Ok(())
}

/// Removes a record's text from the index.
pub(super) fn unindex(conn: &mut SqliteConnection, seq: i64) -> Result<(), StoreError> {
    diesel::sql_query("DELETE FROM search_index WHERE rowid = ?")
        .bind::<BigInt, _>(seq)
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_never_becomes_query_syntax() {
        let q = SearchQuery::new(r#"fear "NEAR" -grief* OR (xy"#);
        assert_eq!(
            q.match_expression().as_deref(),
            Some(r#""fear" "NEAR" "grief" "OR" "xy"*"#)
        );
        // A finished last word and a single letter are whole words.
        assert_eq!(
            SearchQuery::new("sea ").match_expression().as_deref(),
            Some(r#""sea""#)
        );
        assert_eq!(
            SearchQuery::new("a b").match_expression().as_deref(),
            Some(r#""a" "b""#)
        );
        assert_eq!(SearchQuery::new("  !!! ").match_expression(), None);
        assert_eq!(SearchQuery::new("").match_expression(), None);
    }

    #[test]
    fn markers_become_character_ranges() {
        let (text, ranges) = split_marks("…the \u{2}sea\u{3} and \u{2}é\u{3}");
        assert_eq!(text, "…the sea and é");
        assert_eq!(ranges, vec![(5, 8), (13, 14)]);
    }
}
