//! The operator's error type: every failure says what was being done and falls into a
//! [`Category`] that decides how it is reported (condition and Event reason) and retried.

use crate::build::InvalidSpec;
use crate::membership::DriverError;

/// Who can fix a failure, and so how it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The spec cannot work as written: nothing is retried until the object changes.
    Spec,
    /// Something the user provides (a Secret) is missing: looked at again periodically.
    Prerequisite,
    /// The Kubernetes API refused or failed a call: retried with backoff.
    Kubernetes,
    /// A server pod's admin API failed: retried with backoff.
    Cluster,
    /// The operator's own environment (no randomness): retried with backoff.
    Internal,
}

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid.
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    /// A user-supplied object the cluster needs is missing or unusable.
    #[error("{message}")]
    Missing {
        /// PascalCase condition and Event reason, e.g. `CredentialsSecretMissing`.
        reason: &'static str,
        message: String,
    },
    /// An object the operator would manage exists and belongs to someone else.
    #[error("{message}")]
    Conflict {
        /// PascalCase condition and Event reason, e.g. `ForeignObject`.
        reason: &'static str,
        message: String,
    },
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, e.g. `applying Service orders-headless`.
        action: String,
        source: kube::Error,
    },
    /// Observing or changing Raft membership (admin API, StatefulSet, pods, PVCs) failed.
    #[error(transparent)]
    Membership(#[from] DriverError),
    /// A Queue cannot be brought in sync with its SQS queue.
    #[error(transparent)]
    Queue(#[from] crate::queue::Problem),
    /// A certificate of the internal port could not be issued.
    #[error("issuing the internal port's certificates: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// The operating system's random source failed.
    #[error("generating {what}: {cause}")]
    Random {
        what: &'static str,
        cause: getrandom::Error,
    },
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::InvalidSpec(_) => Category::Spec,
            Error::Missing { .. } | Error::Conflict { .. } => Category::Prerequisite,
            Error::Kube { .. } => Category::Kubernetes,
            Error::Membership(DriverError::Admin(_)) => Category::Cluster,
            Error::Membership(DriverError::Workloads { .. }) => Category::Kubernetes,
            Error::Queue(p) => p.category(),
            Error::Random { .. } | Error::Pki(_) => Category::Internal,
        }
    }

    /// PascalCase reason for conditions, Events and the error metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Missing { reason, .. } | Error::Conflict { reason, .. } => reason,
            Error::Kube { .. } | Error::Membership(DriverError::Workloads { .. }) => "KubeApi",
            Error::Membership(DriverError::Admin(_)) => "AdminApi",
            Error::Queue(p) => p.reason(),
            Error::Random { .. } => "Random",
            Error::Pki(_) => "CertificateIssueFailed",
        }
    }

    /// Whether backing off and retrying may help without the user changing anything.
    pub fn is_transient(&self) -> bool {
        !matches!(self.category(), Category::Spec | Category::Prerequisite)
    }
}

/// Attaches what was being done to a Kubernetes API error.
pub trait KubeContext<T> {
    fn context(self, action: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> KubeContext<T> for Result<T, kube::Error> {
    fn context(self, action: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Kube {
            action: action(),
            source,
        })
    }
}

/// Longest Event note the API server stores (events.k8s.io/v1 `note`, in bytes).
pub const EVENT_NOTE_LIMIT: usize = 1024;

/// `note` cut to [`EVENT_NOTE_LIMIT`] bytes (on a character boundary, marked with an
/// ellipsis): a longer note makes the API server refuse the whole Event, so the Warning
/// about a long API error would never reach the user. The condition keeps the full text.
pub fn event_note(mut note: String) -> String {
    if note.len() <= EVENT_NOTE_LIMIT {
        return note;
    }
    const MORE: &str = "…";
    let mut end = EVENT_NOTE_LIMIT - MORE.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note.truncate(end);
    note.push_str(MORE);
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_notes_fit_the_api_servers_limit() {
        assert_eq!(event_note("short".into()), "short");
        let exact = "a".repeat(EVENT_NOTE_LIMIT);
        assert_eq!(event_note(exact.clone()), exact);
        let long = format!("{}é{}", "a".repeat(EVENT_NOTE_LIMIT - 4), "b".repeat(2000));
        let cut = event_note(long.clone());
        assert!(cut.len() <= EVENT_NOTE_LIMIT, "{}", cut.len());
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
    }

    #[test]
    fn categories_decide_retries_and_messages_carry_context() {
        let api = kube::Error::Api(Box::new(
            kube::core::Status::failure("spec.replicas: Invalid value", "Invalid").with_code(422),
        ));
        let e = Err::<(), _>(api)
            .context(|| "applying StatefulSet orders".into())
            .unwrap_err();
        assert_eq!(e.category(), Category::Kubernetes);
        assert_eq!(e.reason(), "KubeApi");
        assert!(e.is_transient());
        let text = e.to_string();
        assert!(text.starts_with("applying StatefulSet orders: "), "{text}");
        assert!(text.contains("spec.replicas: Invalid value"), "{text}");

        let e = Error::from(InvalidSpec::Replicas(0));
        assert_eq!((e.category(), e.reason()), (Category::Spec, "InvalidSpec"));
        assert!(!e.is_transient());
    }
}
