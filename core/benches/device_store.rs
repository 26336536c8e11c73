//! Device-store speed on a journal of 10,000 entries: saving one entry,
//! listing a page of 50, and full-text search — plain, then encrypted.
//!
//! Run: `cargo bench -p journal-core --features device --bench device_store`.
//! Under `cargo test` each case runs once, as a smoke test.
//! Targets: save ≤ 1 ms, list 50 of 10,000 ≤ 2 ms, search ≤ 5 ms.

// A benchmark whose setup fails has nothing to measure: stopping is right.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use journal_core::Phase;
use journal_core::records::{JournalEntry, RecordBody};
use journal_core::store::{JournalStore, ListQuery, SearchQuery};

const ENTRIES: usize = 10_000;

/// Words a journal is made of, most frequent first. Drawn with a Zipf
/// distribution over these plus made-up words (3,000 in all), so that, as in
/// real writing, a few words are in almost every entry and most are rare.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "felt", "today", "session", "body", "breath", "calm", "light", "music", "fear", "heavy",
    "memory", "warmth", "mother", "chest", "grief", "walk", "morning", "tears", "dream",
    "home", "safe", "held", "open", "notice", "quiet", "space", "kindness", "father", "work",
    "relief", "sleep", "evening", "voice", "child", "color", "anger", "shame", "forgive",
    "wave", "forest", "river", "mountain", "sister", "friend", "therapist", "intention",
    "letting", "future", "past", "present", "laughter", "garden", "ocean", "noise", "trust",
];
const VOCABULARY: usize = 3_000;
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "tha", "vu", "sel", "dor", "pi", "an",
];

/// A deterministic stream of pseudo-random numbers (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

struct Corpus {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new() -> Self {
        let mut words: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
        let mut n = 0;
        while words.len() < VOCABULARY {
            let (a, b, c) = (n % 10, (n / 10) % 10, (n / 100) % 10);
            words.push(format!("{}{}{}", SYLLABLES[a], SYLLABLES[b], SYLLABLES[c]));
            n += 1;
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Self { words, cumulative }
    }

    fn word(&self, rng: &mut Lcg) -> &str {
        let target = rng.unit() * self.cumulative[self.cumulative.len() - 1];
        let index = self.cumulative.partition_point(|c| *c < target);
        &self.words[index.min(self.words.len() - 1)]
    }

    fn text(&self, rng: &mut Lcg, words: usize) -> String {
        let mut out = String::new();
        for i in 0..words {
            if i > 0 {
                out.push(if i % 14 == 0 { '\n' } else { ' ' });
            }
            out.push_str(self.word(rng));
        }
        out
    }

    fn entry(&self, rng: &mut Lcg) -> RecordBody {
        let words = 60 + rng.next() % 240;
        let phase = Phase::ALL[rng.next() % 3];
        let mut entry =
            JournalEntry::new(self.text(rng, words), phase).expect("generated entries are valid");
        if rng.next().is_multiple_of(2) {
            entry.title = Some(self.text(rng, 3));
        }
        entry.into()
    }
}

/// The share of entries whose text holds `word`, to say what a case measures.
fn share_containing(bodies: &[RecordBody], word: &str) -> f64 {
    let hits = bodies
        .iter()
        .filter(|b| match b {
            RecordBody::JournalEntry(e) => {
                e.body.split_whitespace().any(|w| w == word)
                    || e.title
                        .as_deref()
                        .is_some_and(|t| t.split(' ').any(|w| w == word))
            }
            _ => false,
        })
        .count();
    hits as f64 / bodies.len() as f64
}

fn bench(c: &mut Criterion) {
    // The same journal plain and encrypted (SQLCipher, as apps open it), in
    // one run, so the cost of encryption reads as a ratio.
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = JournalStore::open(dir.path().join("plain.db")).expect("open");
    bench_store(c, &plain, "device_store_10k");
    drop(plain);
    let key = journal_core::encryption::DatabaseKey::generate().expect("key");
    let encrypted =
        JournalStore::open_encrypted(dir.path().join("encrypted.db"), &key).expect("open");
    bench_store(c, &encrypted, "device_store_10k_encrypted");
}

fn bench_store(c: &mut Criterion, store: &JournalStore, group_name: &str) {
    let corpus = Corpus::new();
    let mut rng = Lcg(42);
    let bodies: Vec<RecordBody> = (0..ENTRIES).map(|_| corpus.entry(&mut rng)).collect();
    for chunk in bodies.chunks(1_000) {
        store.create_many(chunk.to_vec()).expect("populate");
    }
    // What the patient types, and the case it stands for (the share of
    // entries holding the first word is printed when the benchmark starts).
    let searches = [
        ("felt", "search_word_in_every_entry"),
        ("felt ", "search_whole_word_in_every_entry"),
        ("grief", "search_word_in_most_entries"),
        ("trust", "search_word_in_a_third"),
        ("renvuren", "search_word_in_few_entries"),
        ("ocean wa", "search_word_and_prefix"),
    ];
    for (text, name) in searches {
        let first = text.split(' ').next().unwrap_or(text);
        eprintln!(
            "{name}: {text:?}, first word in {:.1}% of entries",
            100.0 * share_containing(&bodies, first)
        );
    }

    let mut group = c.benchmark_group(group_name);
    group.bench_function("list_50_newest", |b| {
        let query = ListQuery {
            limit: Some(50),
            ..ListQuery::all()
        };
        b.iter(|| store.list(black_box(&query)).expect("list"))
    });
    group.bench_function("list_50_by_phase_page_20", |b| {
        let mut query = ListQuery {
            limit: Some(50),
            phase: Some(Phase::Integration),
            ..ListQuery::all()
        };
        for _ in 0..19 {
            query.cursor = store.list(&query).expect("list").next_cursor;
        }
        b.iter(|| store.list(black_box(&query)).expect("list"))
    });
    for (text, name) in searches {
        group.bench_function(name, |b| {
            let query = SearchQuery::new(text);
            b.iter(|| store.search(black_box(&query)).expect("search"))
        });
    }
    // Last: every save grows the journal, which the cases above must not see.
    group.bench_function("save_entry", |b| {
        b.iter(|| {
            store
                .create(black_box(corpus.entry(&mut rng)))
                .expect("save")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
