//! The hybrid logical clock that orders edits across devices without trusting
//! any device's wall clock.
//!
//! A stamp is a wall-clock reading in milliseconds plus a counter. Every new
//! stamp a clock hands out is greater than every stamp it handed out or saw
//! before, so an edit made after seeing another always orders after it, even
//! when the phone's clock was set back or runs behind the other device's.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One hybrid-logical-clock stamp.
///
/// Ordered by wall-clock milliseconds, then counter. Stored as one signed
/// 64-bit integer (milliseconds in the high 47 bits, counter in the low 16)
/// so SQL can compare stamps directly; sent as 16 lower-case hex digits, a
/// string that sorts the same way and survives JSON parsers limited to 53-bit
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hlc(u64);

/// Errors reading a stamp from its text or integer form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlcError {
    /// The text was not 16 hex digits.
    #[error("a clock stamp is 16 hexadecimal digits, got {0:?}")]
    Malformed(String),
    /// The value has its sign bit set, which no clock produces.
    #[error("clock stamp {0} is out of range")]
    OutOfRange(i64),
    /// The text names a stamp past the largest any clock makes.
    #[error(
        "clock stamp {0:?} is later than any clock can stamp (the largest is 7fffffffffffffff, in the year 6429)"
    )]
    PastLargest(String),
}

impl Hlc {
    /// The smallest stamp: before anything was written.
    pub const ZERO: Hlc = Hlc(0);
    /// Largest wall-clock reading a stamp can carry (2^47 - 1 ms, in the
    /// year 6429): keeps the packed form a positive `i64`.
    pub const MAX_MILLIS: u64 = (1 << 47) - 1;

    /// Builds a stamp from its parts; milliseconds past [`Hlc::MAX_MILLIS`]
    /// are clamped to it.
    pub fn new(millis: u64, counter: u16) -> Self {
        Hlc((millis.min(Self::MAX_MILLIS) << 16) | u64::from(counter))
    }

    /// The wall-clock part, in milliseconds since the Unix epoch.
    pub fn millis(self) -> u64 {
        self.0 >> 16
    }

    /// The counter part, which orders stamps within one millisecond.
    pub fn counter(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// The packed integer form used in SQL columns.
    pub fn to_i64(self) -> i64 {
        // Never negative: millis is at most 47 bits wide.
        self.0 as i64
    }

    /// Reads the packed integer form.
    pub fn from_i64(value: i64) -> Result<Self, HlcError> {
        u64::try_from(value)
            .map(Hlc)
            .map_err(|_| HlcError::OutOfRange(value))
    }

    /// The largest stamp: the last counter of the last millisecond.
    pub const MAX: Hlc = Hlc((Self::MAX_MILLIS << 16) | 0xffff);

    /// The smallest stamp greater than this one; [`Hlc::MAX`] itself has
    /// none and stays (never going back, which would order a later event
    /// before this one).
    pub fn successor(self) -> Self {
        match self.counter().checked_add(1) {
            Some(counter) => Hlc::new(self.millis(), counter),
            // 65,536 stamps in one millisecond: borrow the next millisecond,
            // which is what the counter would have reached anyway.
            None if self.millis() < Self::MAX_MILLIS => Hlc::new(self.millis() + 1, 0),
            None => Self::MAX,
        }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Hlc {
    type Err = HlcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HlcError::Malformed(s.to_owned()));
        }
        let value = u64::from_str_radix(s, 16).map_err(|_| HlcError::Malformed(s.to_owned()))?;
        if value > Hlc::MAX.0 {
            return Err(HlcError::PastLargest(s.to_owned()));
        }
        Ok(Hlc(value))
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// The device store reads time only through this, so tests can make a clock
/// jump backwards or stand still.
pub trait WallClock: Send + Sync {
    /// Milliseconds since the Unix epoch, as the device believes.
    fn now_millis(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_millis(&self) -> u64 {
        // A clock before 1970 reads as 0; the logical part still orders.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

impl<C: WallClock + ?Sized> WallClock for Box<C> {
    fn now_millis(&self) -> u64 {
        (**self).now_millis()
    }
}

impl<C: WallClock + ?Sized> WallClock for std::sync::Arc<C> {
    fn now_millis(&self) -> u64 {
        (**self).now_millis()
    }
}

/// A wall clock set by hand, for tests and simulations of devices whose
/// clocks disagree. Clones share one reading.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl ManualClock {
    /// A clock reading `millis`.
    pub fn at(millis: u64) -> Self {
        let clock = Self::default();
        clock.set(millis);
        clock
    }

    /// Sets the reading (it may go backwards).
    pub fn set(&self, millis: u64) {
        self.0.store(millis, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the reading forward by `millis`.
    pub fn advance(&self, millis: u64) {
        self.0
            .fetch_add(millis, std::sync::atomic::Ordering::SeqCst);
    }
}

impl WallClock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A hybrid logical clock: hands out stamps that only ever go up.
#[derive(Debug, Clone)]
pub struct HlcClock<C> {
    last: Hlc,
    wall: C,
}

impl<C: WallClock> HlcClock<C> {
    /// A clock that has handed out nothing yet.
    pub fn new(wall: C) -> Self {
        Self::resume(Hlc::ZERO, wall)
    }

    /// A clock that continues after `last`, the greatest stamp it handed out
    /// or saw before (kept across restarts, so a clock set back while the app
    /// was closed cannot make new edits order before old ones).
    pub fn resume(last: Hlc, wall: C) -> Self {
        Self { last, wall }
    }

    /// The greatest stamp handed out or seen so far.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// The wall clock this clock reads.
    pub fn wall(&self) -> &C {
        &self.wall
    }

    /// A stamp for a local event, greater than every stamp before it.
    pub fn tick(&mut self) -> Hlc {
        let wall = Hlc::new(self.wall.now_millis(), 0);
        self.last = if wall > self.last {
            wall
        } else {
            self.last.successor()
        };
        self.last
    }

    /// Takes in a stamp from another device and returns a stamp for the
    /// local event of receiving it: greater than both that stamp and every
    /// stamp before it.
    pub fn observe(&mut self, remote: Hlc) -> Hlc {
        let wall = Hlc::new(self.wall.now_millis(), 0);
        let latest = self.last.max(remote);
        self.last = if wall > latest {
            wall
        } else {
            latest.successor()
        };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn follows_the_wall_clock_when_it_moves_forward() {
        let wall = ManualClock::at(1_000);
        let mut clock = HlcClock::new(wall.clone());
        assert_eq!(clock.tick(), Hlc::new(1_000, 0));
        wall.set(2_000);
        assert_eq!(clock.tick(), Hlc::new(2_000, 0));
    }

    #[test]
    fn counts_up_within_one_millisecond() {
        let mut clock = HlcClock::new(ManualClock::at(5_000));
        assert_eq!(clock.tick(), Hlc::new(5_000, 0));
        assert_eq!(clock.tick(), Hlc::new(5_000, 1));
        assert_eq!(clock.tick(), Hlc::new(5_000, 2));
    }

    #[test]
    fn tolerates_a_wall_clock_that_goes_backwards() {
        let wall = ManualClock::at(10_000);
        let mut clock = HlcClock::new(wall.clone());
        let before = clock.tick();
        wall.set(3_000); // the user set the phone's clock back
        let after = clock.tick();
        assert!(after > before);
        assert_eq!(after, Hlc::new(10_000, 1));
    }

    #[test]
    fn resuming_keeps_order_across_restarts() {
        let mut clock = HlcClock::resume(Hlc::new(9_000, 7), ManualClock::at(1));
        assert_eq!(clock.tick(), Hlc::new(9_000, 8));
    }

    #[test]
    fn observing_a_remote_stamp_from_the_future_orders_after_it() {
        let mut clock = HlcClock::new(ManualClock::at(1_000));
        clock.tick();
        let remote = Hlc::new(50_000, 3);
        let received = clock.observe(remote);
        assert_eq!(received, Hlc::new(50_000, 4));
        assert!(clock.tick() > remote);
    }

    #[test]
    fn observing_an_old_remote_stamp_keeps_local_time() {
        let mut clock = HlcClock::new(ManualClock::at(80_000));
        let local = clock.tick();
        let received = clock.observe(Hlc::new(20, 0));
        assert!(received > local);
        assert_eq!(received, Hlc::new(80_000, 1));
    }

    #[test]
    fn counter_overflow_borrows_the_next_millisecond() {
        let mut clock = HlcClock::resume(Hlc::new(7, u16::MAX), ManualClock::at(0));
        assert_eq!(clock.tick(), Hlc::new(8, 0));
    }

    #[test]
    fn the_largest_stamp_never_goes_back() {
        // Found by fuzzing: the successor of the largest stamp was the first
        // stamp of its millisecond, so a device that saw it stamped its next
        // edit before it.
        assert_eq!(Hlc::MAX.to_string(), "7fffffffffffffff");
        assert_eq!(Hlc::MAX.successor(), Hlc::MAX);
        assert!(Hlc::new(Hlc::MAX_MILLIS, 7).successor() > Hlc::new(Hlc::MAX_MILLIS, 7));
        let mut clock = HlcClock::new(ManualClock::at(1_000));
        assert!(clock.observe(Hlc::MAX) >= Hlc::MAX);
        assert!(clock.tick() >= Hlc::MAX);
    }

    #[test]
    fn far_future_wall_clock_is_clamped_not_wrapped() {
        let mut clock = HlcClock::new(ManualClock::at(u64::MAX));
        let stamp = clock.tick();
        assert_eq!(stamp.millis(), Hlc::MAX_MILLIS);
        assert!(stamp.to_i64() > 0);
        assert!(clock.tick() > stamp);
    }

    #[test]
    fn text_and_integer_forms_round_trip() {
        let stamp = Hlc::new(1_732_000_000_000, 42);
        assert_eq!(stamp.to_string().len(), 16);
        assert_eq!(stamp.to_string().parse::<Hlc>(), Ok(stamp));
        assert_eq!(Hlc::from_i64(stamp.to_i64()), Ok(stamp));
        let json = serde_json::to_string(&stamp).unwrap();
        assert_eq!(serde_json::from_str::<Hlc>(&json).unwrap(), stamp);
        assert!("xyz".parse::<Hlc>().is_err());
        assert!("ffffffffffffffff".parse::<Hlc>().is_err());
        // Said in the sender's terms: the text it sent, and the largest.
        let past = "ffffffffffffffff".parse::<Hlc>().unwrap_err().to_string();
        assert!(past.contains("\"ffffffffffffffff\""), "{past}");
        assert!(
            past.contains("7fffffffffffffff") && !past.contains("-1"),
            "{past}"
        );
        assert_eq!("7fffffffffffffff".parse::<Hlc>(), Ok(Hlc::MAX));
        assert!(Hlc::from_i64(-1).is_err());
    }

    proptest! {
        /// Whatever the wall clock does and whatever arrives from other
        /// devices, every stamp is greater than all before it and than the
        /// remote stamp it answered.
        #[test]
        fn stamps_only_go_up(events in proptest::collection::vec(
            (0u64..2_000_000, proptest::option::of(0u64..2_000_000), any::<u16>()), 1..200)) {
            let wall = ManualClock::default();
            let mut clock = HlcClock::new(wall.clone());
            let mut previous = Hlc::ZERO;
            for (now, remote_millis, remote_counter) in events {
                wall.set(now);
                let stamp = match remote_millis {
                    Some(m) => {
                        let remote = Hlc::new(m, remote_counter);
                        let stamp = clock.observe(remote);
                        prop_assert!(stamp > remote);
                        stamp
                    }
                    None => clock.tick(),
                };
                prop_assert!(stamp > previous);
                prop_assert!(stamp.millis() >= now.min(Hlc::MAX_MILLIS));
                previous = stamp;
            }
        }
    }
}
