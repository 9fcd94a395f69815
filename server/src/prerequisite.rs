//! What a test does when something it needs is missing: skip with the reason on a
//! developer's machine, fail with the reason where every suite must run.
//!
//! Every suite must run under `CI=true` (as `.ci/run` is started) or with
//! `SQSRAFT_REQUIRE_ALL=1`; there a missing prerequisite is a failure, so a green run
//! proves each suite ran. Shared by the server, operator and e2e test suites.

/// True when a missing prerequisite must fail the test instead of skipping it.
pub fn required() -> bool {
    flag("CI", "true") || flag("SQSRAFT_REQUIRE_ALL", "1")
}

fn flag(name: &str, on: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case(on))
}

/// Reports that `what` cannot run because of `reason`: panics when [`required`],
/// otherwise prints `SKIPPED` with the reason so the caller can return.
#[track_caller]
pub fn unavailable(what: &str, reason: impl std::fmt::Display) {
    if required() {
        panic!("{what} cannot run: {reason} (CI=true or SQSRAFT_REQUIRE_ALL=1 requires it)");
    }
    eprintln!("SKIPPED {what}: {reason}");
}
