//! Waiting for what a test expects, never for a fixed time: poll until it holds or a deadline
//! generous enough for a loaded machine passes.
use std::time::{Duration, Instant};

/// Deadline for things that take a moment (a log line, a recorded close, a counter flush).
pub const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, and returns that; panics naming `what` at the deadline.
pub async fn until_some<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {DEADLINE:?} for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `check` until it holds; panics naming `what` at the deadline.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    until_some(what, || check().then_some(())).await;
}
