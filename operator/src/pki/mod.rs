//! The PKI of a cluster's internal port (Raft, forwarding, the admin API): one CA per
//! QueueCluster, one member certificate its pods share (its SANs cover every pod's DNS
//! name and the Services), and the operator's own client certificate, issued in memory.
//!
//! [`authority`] creates keys and signs; [`inspect`] reads stored certificates;
//! [`renewal`] decides, purely from what is stored and the time, what to issue next,
//! including a CA rotation whose old and new CA are trusted side by side until every
//! member holds a certificate of the new one. Nothing here talks to Kubernetes.

pub mod authority;
pub mod inspect;
pub mod renewal;

pub use authority::{Authority, Issued, PkiError, Profile, unix_seconds};
pub use inspect::CertInfo;
pub use renewal::{
    CaChange, CaPair, Lifetimes, MemberPlan, Next, Plan, Signer, Stored, StoredCa, StoredMember,
    member_profile, plan,
};
