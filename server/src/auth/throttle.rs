//! Per-address throttling of the endpoints that guess at secrets (sign-in,
//! registration, refresh, invitation codes): a fixed window per client
//! address, kept in memory. Per-account throttling of sign-in lives in the
//! database (`login_throttle`) so that it holds across server instances.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts attempts per client address in fixed windows.
#[derive(Debug)]
pub struct AddressLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Past this many addresses, expired windows are swept before adding one.
const SWEEP_AT: usize = 10_000;

impl AddressLimiter {
    /// At most `max` attempts per address per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `address`; `Err(seconds)` when it is one too
    /// many, with how long until the window ends.
    pub fn check(&self, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(address).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_per_address() {
        let limiter = AddressLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(
            limiter.check(b).is_ok(),
            "another address has its own window"
        );
    }

    #[test]
    fn a_new_window_starts_afresh() {
        let limiter = AddressLimiter::new(1, Duration::from_millis(20));
        let a: IpAddr = "::1".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.check(a).is_ok());
    }
}
