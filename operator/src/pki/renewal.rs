//! What to issue next, decided from what is stored and the time alone ([`plan`]), and the
//! issuing itself ([`Plan::carry_out`], whose only impurity is fresh keys).
//!
//! The member certificate is renewed when a third of its life is left, when its names
//! no longer match the cluster's, or when it is unreadable or not signed by the CA the
//! members trust. The CA is rotated when a third of its life is left, in three steps so
//! that no two members ever disagree on whom to trust:
//!
//! 1. a new CA becomes current and the old one previous; the members' trust bundle
//!    becomes old + new while their certificate stays the old CA's;
//! 2. once the bundle has had [`Lifetimes::propagation`] to reach every pod, the member
//!    certificate is re-issued by the new CA;
//! 3. once that certificate has had as long, the old CA is dropped from the bundle.
//!
//! The operator's own client certificate is signed by the CA every member is sure to
//! trust at that moment ([`Plan::operator_signer`]).

use std::time::{Duration, SystemTime};

use super::authority::{Authority, Issued, PkiError, Profile, unix_seconds};
use super::inspect::CertInfo;

/// Lifetimes and timing of a cluster PKI (operator flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Validity of a generated CA.
    pub ca: Duration,
    /// Validity of a member certificate.
    pub certificate: Duration,
    /// Time a changed Secret takes, at most, to reach every pod's files (the kubelet's
    /// sync period and cache) and be re-read by the server.
    pub propagation: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            ca: Duration::from_secs(3650 * DAY),
            certificate: Duration::from_secs(90 * DAY),
            propagation: Duration::from_secs(300),
        }
    }
}

impl Lifetimes {
    /// Checks that renewals can complete: the CA outlives three member certificates and
    /// a member certificate outlives three propagation delays.
    pub fn check(&self) -> Result<(), String> {
        if self.ca < self.certificate * 3 {
            return Err(format!(
                "the CA validity ({:?}) must be at least three times the certificate validity ({:?})",
                self.ca, self.certificate
            ));
        }
        if self.certificate < self.propagation * 3 {
            return Err(format!(
                "the certificate validity ({:?}) must be at least three times the propagation delay ({:?})",
                self.certificate, self.propagation
            ));
        }
        Ok(())
    }
}

/// A CA certificate and its key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CaPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CaPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPair")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The stored CA: the current one and, during a rotation, the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCa {
    pub current: CaPair,
    pub previous: Option<CaPair>,
}

impl StoredCa {
    /// The trust bundle the members should hold: current CA, then previous.
    pub fn bundle(&self) -> String {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|ca| ca.cert_pem.trim_end())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    fn signer(&self, signer: Signer) -> &CaPair {
        match (signer, &self.previous) {
            (Signer::Previous, Some(previous)) => previous,
            _ => &self.current,
        }
    }
}

/// The stored member material: what the pods mount.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub bundle_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// When the certificate was issued and when the bundle last changed (Unix seconds).
    pub issued_at: i64,
    pub bundle_since: i64,
}

impl std::fmt::Debug for StoredMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredMember")
            .field("issued_at", &self.issued_at)
            .field("bundle_since", &self.bundle_since)
            .finish_non_exhaustive()
    }
}

/// Everything stored of a generated PKI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub ca: Option<StoredCa>,
    pub member: Option<StoredMember>,
}

/// Which of the stored CAs signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Current,
    Previous,
}

/// What happens to the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaChange {
    Keep,
    /// No CA yet: generate one.
    Create,
    /// Generate a new current CA; the current one becomes previous.
    Rotate,
    /// Drop the previous CA.
    Retire,
}

/// What happens to the member Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberPlan {
    Keep,
    /// Same certificate, a new trust bundle.
    Rebundle,
    /// A new certificate from `signer`, for `reason`.
    Issue {
        signer: Signer,
        reason: String,
    },
}

/// The decision of one reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub ca: CaChange,
    pub member: MemberPlan,
    pub operator_signer: Signer,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Why the member certificate cannot stay, or `None` when it is good: signed by one of
/// `signers`, naming exactly `sans`, with more than a third of `validity` left.
fn member_problem(
    member: Option<&StoredMember>,
    signers: &[&CertInfo],
    sans: &[String],
    validity: Duration,
    now: i64,
) -> Option<String> {
    let Some(member) = member else {
        return Some("no certificate yet".into());
    };
    let cert = match CertInfo::parse(&member.cert_pem) {
        Ok(cert) => cert,
        Err(e) => return Some(format!("the stored certificate is unreadable ({e})")),
    };
    if !signers.iter().any(|ca| cert.signed_by(ca)) {
        return Some("the stored certificate is not signed by the cluster CA".into());
    }
    if cert.sans != sans.iter().cloned().collect() {
        return Some("the cluster's names changed".into());
    }
    if cert.remaining(now) < secs(validity) / 3 {
        return Some("a third of its validity is left".into());
    }
    None
}

fn ca_info(pair: &CaPair, which: &str) -> Result<CertInfo, String> {
    CertInfo::parse(&pair.cert_pem).map_err(|e| format!("the {which} CA certificate: {e}"))
}

/// Decides what to issue, from what is stored, the member certificate's names and the
/// time. Fails only when the stored CA is unreadable: replacing it would leave every
/// member distrusting the others, so that needs a person (deleting the CA Secret).
pub fn plan(
    stored: &Stored,
    sans: &[String],
    lifetimes: &Lifetimes,
    now: SystemTime,
) -> Result<Plan, String> {
    let now = unix_seconds(now);
    let Some(ca) = &stored.ca else {
        return Ok(Plan {
            ca: CaChange::Create,
            member: MemberPlan::Issue {
                signer: Signer::Current,
                reason: "a new cluster CA".into(),
            },
            operator_signer: Signer::Current,
        });
    };
    let current = ca_info(&ca.current, "current")?;
    let member = stored.member.as_ref();
    let rebundle_if_needed = |bundle: &str| match member {
        Some(m) if m.bundle_pem == bundle => MemberPlan::Keep,
        _ => MemberPlan::Rebundle,
    };
    let Some(previous) = &ca.previous else {
        if current.remaining(now) < secs(lifetimes.ca) / 3 {
            // Step 1 of a rotation: the new bundle first. A member certificate that is
            // unusable anyway is re-issued by the CA every member still trusts alone.
            let member = match member_problem(member, &[&current], sans, lifetimes.certificate, now)
            {
                None => MemberPlan::Rebundle,
                Some(reason) => MemberPlan::Issue {
                    signer: Signer::Previous,
                    reason,
                },
            };
            return Ok(Plan {
                ca: CaChange::Rotate,
                member,
                operator_signer: Signer::Previous,
            });
        }
        let member = match member_problem(member, &[&current], sans, lifetimes.certificate, now) {
            None => rebundle_if_needed(&ca.bundle()),
            Some(reason) => MemberPlan::Issue {
                signer: Signer::Current,
                reason,
            },
        };
        return Ok(Plan {
            ca: CaChange::Keep,
            member,
            operator_signer: Signer::Current,
        });
    };
    let previous = ca_info(previous, "previous")?;
    let bundle = ca.bundle();
    let propagation = secs(lifetimes.propagation);
    let trusted_everywhere =
        member.is_some_and(|m| m.bundle_pem == bundle && now - m.bundle_since >= propagation);
    if !trusted_everywhere {
        // Step 1 still propagating: keep certificates of the previous CA.
        let member = match member_problem(
            member,
            &[&previous, &current],
            sans,
            lifetimes.certificate,
            now,
        ) {
            None => rebundle_if_needed(&bundle),
            Some(reason) => MemberPlan::Issue {
                signer: Signer::Previous,
                reason,
            },
        };
        return Ok(Plan {
            ca: CaChange::Keep,
            member,
            operator_signer: Signer::Previous,
        });
    }
    let plan = match member_problem(member, &[&current], sans, lifetimes.certificate, now) {
        // Step 2: the new CA's certificate.
        Some(reason) => Plan {
            ca: CaChange::Keep,
            member: MemberPlan::Issue {
                signer: Signer::Current,
                reason: format!("CA rotation ({reason})"),
            },
            operator_signer: Signer::Current,
        },
        // Step 3, once the new certificate reached every pod.
        None if member.is_some_and(|m| now - m.issued_at >= propagation) => Plan {
            ca: CaChange::Retire,
            member: MemberPlan::Rebundle,
            operator_signer: Signer::Current,
        },
        None => Plan {
            ca: CaChange::Keep,
            member: MemberPlan::Keep,
            operator_signer: Signer::Current,
        },
    };
    Ok(plan)
}

/// The PKI after a plan was carried out, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    pub ca: StoredCa,
    pub member: StoredMember,
    pub ca_changed: bool,
    pub member_changed: bool,
    /// One line per change, for Events.
    pub notes: Vec<String>,
    /// The CA the operator's client certificate is signed by.
    pub operator_signer: CaPair,
}

/// The profile of a member certificate naming `sans`.
pub fn member_profile(common_name: &str, sans: &[String]) -> Profile {
    Profile {
        common_name: common_name.into(),
        sans: sans.to_vec(),
        server: true,
    }
}

fn new_ca(common_name: &str, lifetimes: &Lifetimes, now: SystemTime) -> Result<CaPair, PkiError> {
    let (_, issued) = Authority::generate(common_name, now, lifetimes.ca)?;
    Ok(CaPair {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    })
}

impl Plan {
    /// Generates and signs what the plan calls for. `ca_name` names a new CA,
    /// `member` is the member certificate's profile.
    pub fn carry_out(
        &self,
        stored: &Stored,
        ca_name: &str,
        member: &Profile,
        lifetimes: &Lifetimes,
        now: SystemTime,
    ) -> Result<Next, PkiError> {
        let mut notes = Vec::new();
        let ca = match (self.ca, &stored.ca) {
            (CaChange::Create, _) | (_, None) => {
                notes.push("generated the cluster CA".to_string());
                StoredCa {
                    current: new_ca(ca_name, lifetimes, now)?,
                    previous: None,
                }
            }
            (CaChange::Rotate, Some(ca)) => {
                notes.push(
                    "rotating the cluster CA: members now trust the new CA beside the old one"
                        .to_string(),
                );
                StoredCa {
                    current: new_ca(ca_name, lifetimes, now)?,
                    previous: Some(ca.current.clone()),
                }
            }
            (CaChange::Retire, Some(ca)) => {
                notes
                    .push("CA rotation complete: the previous CA is no longer trusted".to_string());
                StoredCa {
                    current: ca.current.clone(),
                    previous: None,
                }
            }
            (CaChange::Keep, Some(ca)) => ca.clone(),
        };
        let now_secs = unix_seconds(now);
        let bundle_pem = ca.bundle();
        let member = match (&self.member, &stored.member) {
            (MemberPlan::Issue { signer, reason }, _) => {
                let pair = ca.signer(*signer);
                let Issued {
                    cert_pem,
                    key_pem,
                    not_after: _,
                } = Authority::load(&pair.cert_pem, &pair.key_pem)?.issue(
                    member,
                    now,
                    lifetimes.certificate,
                )?;
                notes.push(format!("issued the member certificate: {reason}"));
                StoredMember {
                    bundle_since: match &stored.member {
                        Some(m) if m.bundle_pem == bundle_pem => m.bundle_since,
                        _ => now_secs,
                    },
                    bundle_pem,
                    cert_pem,
                    key_pem,
                    issued_at: now_secs,
                }
            }
            (MemberPlan::Rebundle, Some(m)) if m.bundle_pem != bundle_pem => StoredMember {
                bundle_pem,
                bundle_since: now_secs,
                ..m.clone()
            },
            (_, Some(m)) => m.clone(),
            (_, None) => {
                return Err(PkiError::Invalid(
                    "no member certificate to keep (a plan without issuing)".into(),
                ));
            }
        };
        Ok(Next {
            ca_changed: stored.ca.as_ref() != Some(&ca),
            member_changed: stored.member.as_ref() != Some(&member),
            operator_signer: ca.signer(self.operator_signer).clone(),
            ca,
            member,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["*.orders-headless.shop.svc", "127.0.0.1"];

    fn sans() -> Vec<String> {
        NAMES.map(String::from).to_vec()
    }

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            ca: Duration::from_secs(9000),
            certificate: Duration::from_secs(900),
            propagation: Duration::from_secs(60),
        }
    }

    fn at(secs: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    /// Plans and carries out one reconcile at `t`.
    fn step(stored: &Stored, t: u64) -> (Plan, Stored, Next) {
        let plan = plan(stored, &sans(), &lifetimes(), at(t)).unwrap();
        let next = plan
            .carry_out(
                stored,
                "orders CA",
                &member_profile("orders", &sans()),
                &lifetimes(),
                at(t),
            )
            .unwrap();
        let stored = Stored {
            ca: Some(next.ca.clone()),
            member: Some(next.member.clone()),
        };
        (plan, stored, next)
    }

    fn info(pem: &str) -> CertInfo {
        CertInfo::parse(pem).unwrap()
    }

    /// Every member state `a` holds trusts every certificate state `b` presents.
    fn trusts(a: &StoredMember, b: &StoredMember) -> bool {
        let cert = info(&b.cert_pem);
        CertInfo::parse_all(&a.bundle_pem)
            .unwrap()
            .iter()
            .any(|ca| cert.signed_by(ca))
    }

    #[test]
    fn a_new_cluster_gets_a_ca_and_a_member_certificate_and_then_nothing_changes() {
        let (plan, stored, next) = step(&Stored::default(), 0);
        assert_eq!(plan.ca, CaChange::Create);
        assert!(next.ca_changed && next.member_changed);
        let member = stored.member.as_ref().unwrap();
        assert!(
            info(&member.cert_pem).signed_by(&info(&stored.ca.as_ref().unwrap().current.cert_pem))
        );
        assert_eq!(info(&member.cert_pem).sans, NAMES.map(String::from).into());
        assert!(trusts(member, member));
        let (plan, again, next) = step(&stored, 10);
        assert_eq!(plan.member, MemberPlan::Keep);
        assert_eq!(plan.ca, CaChange::Keep);
        assert!(!next.ca_changed && !next.member_changed);
        assert_eq!(again, stored);
    }

    #[test]
    fn the_member_certificate_is_renewed_with_a_third_of_its_life_left_or_when_names_change() {
        let (_, stored, _) = step(&Stored::default(), 0);
        // 900 s of validity: renewed once fewer than 300 s are left (after 600 s).
        assert_eq!(step(&stored, 599).0.member, MemberPlan::Keep);
        let (plan, renewed, _) = step(&stored, 601);
        assert!(
            matches!(
                plan.member,
                MemberPlan::Issue {
                    signer: Signer::Current,
                    ..
                }
            ),
            "{plan:?}"
        );
        assert_ne!(
            renewed.member.as_ref().unwrap().cert_pem,
            stored.member.as_ref().unwrap().cert_pem
        );
        assert_eq!(renewed.ca, stored.ca, "the CA stays");
        let other_names = plan_for(&stored, &["*.other.shop.svc".to_string()], 1);
        assert!(matches!(other_names.member, MemberPlan::Issue { .. }));
    }

    fn plan_for(stored: &Stored, sans: &[String], t: u64) -> Plan {
        plan(stored, sans, &lifetimes(), at(t)).unwrap()
    }

    #[test]
    fn a_tampered_or_foreign_member_certificate_is_replaced_and_an_unreadable_ca_is_refused() {
        let (_, stored, _) = step(&Stored::default(), 0);
        let (_, foreign, _) = step(&Stored::default(), 0);
        let mut swapped = stored.clone();
        swapped.member = foreign.member.clone();
        let p = plan_for(&swapped, &sans(), 1);
        assert!(
            matches!(&p.member, MemberPlan::Issue { reason, .. } if reason.contains("not signed")),
            "{p:?}"
        );
        let mut garbled = stored.clone();
        garbled.member.as_mut().unwrap().cert_pem = "garbage".into();
        assert!(matches!(
            plan_for(&garbled, &sans(), 1).member,
            MemberPlan::Issue { .. }
        ));
        let mut broken = stored;
        broken.ca.as_mut().unwrap().current.cert_pem = "garbage".into();
        assert!(plan(&broken, &sans(), &lifetimes(), at(1)).is_err());
    }

    #[test]
    fn a_ca_rotation_never_leaves_two_members_distrusting_each_other() {
        // Time passes in 30 s reconciles. Each pod sees each Secret change up to one
        // propagation delay (60 s) late; a pod lagging by that much holds the member
        // Secret as of 60 s ago. It must trust, and be trusted by, every member holding
        // the newest state.
        let (_, mut stored, _) = step(&Stored::default(), 0);
        let mut history: Vec<(u64, StoredMember)> = vec![(0, stored.member.clone().unwrap())];
        let first_ca = stored.ca.as_ref().unwrap().current.clone();
        let mut steps = Vec::new();
        let mut t = 0;
        // The CA (9000 s) rotates after 6000 s; member certificates renew every 600 s.
        while t < 7200 {
            t += 30;
            let (plan, next_stored, next) = step(&stored, t);
            if plan.ca != CaChange::Keep {
                steps.push((t, plan.ca));
            }
            stored = next_stored;
            if next.member_changed {
                history.push((t, stored.member.clone().unwrap()));
            }
            let newest = stored.member.as_ref().unwrap();
            // What a pod one propagation delay behind holds.
            let lagging = &history
                .iter()
                .rev()
                .find(|(at, _)| *at + 60 <= t)
                .unwrap_or(&history[0])
                .1;
            assert!(
                trusts(lagging, newest) && trusts(newest, lagging),
                "at {t}: a lagging member and an up-to-date one disagree"
            );
            // The operator's certificate is trusted by both.
            let operator = info(&next.operator_signer.cert_pem);
            for held in [lagging, newest] {
                assert!(
                    CertInfo::parse_all(&held.bundle_pem)
                        .unwrap()
                        .contains(&operator),
                    "at {t}"
                );
            }
        }
        let kinds: Vec<CaChange> = steps.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds, [CaChange::Rotate, CaChange::Retire], "{steps:?}");
        let (rotated, retired) = (steps[0].0, steps[1].0);
        assert!(rotated > 6000 && rotated <= 6030, "rotated at {rotated}");
        // Trust propagates (60 s), then the new certificate does (60 s).
        assert!(retired >= rotated + 120, "retired at {retired}");
        let ca = stored.ca.unwrap();
        assert_ne!(ca.current, first_ca);
        assert_eq!(ca.previous, None);
        let member = stored.member.unwrap();
        assert!(info(&member.cert_pem).signed_by(&info(&ca.current.cert_pem)));
        assert_eq!(CertInfo::parse_all(&member.bundle_pem).unwrap().len(), 1);
    }

    #[test]
    fn lifetimes_that_cannot_renew_in_time_are_refused() {
        assert!(Lifetimes::default().check().is_ok());
        let mut l = lifetimes();
        assert!(l.check().is_ok());
        l.propagation = Duration::from_secs(301);
        assert!(l.check().is_err());
        let mut l = lifetimes();
        l.ca = Duration::from_secs(2000);
        assert!(l.check().is_err());
    }
}
