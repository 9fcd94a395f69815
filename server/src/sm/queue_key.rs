//! Queue identity across regions: the catalog key a queue is stored and named under.
//!
//! A queue of the home region (`--region`) is keyed by its bare name, as every queue was
//! before other regions could be accepted, so existing states and logs keep their meaning.
//! A queue of any other accepted region is keyed `<region>/<name>`; neither part can
//! contain `/` (queue names are `[A-Za-z0-9_-]`, optionally `.fifo`), so same-name queues
//! of two regions are distinct keys. The edge qualifies names with the region the request
//! was signed for; apply only ever combines a key with another name of the same region
//! ([`sibling`]), so it needs no region of its own.

/// Separates the region from the name in a qualified key.
const SEPARATOR: char = '/';

/// The key of queue `name` in `region`, given the cluster's home region. A "name" holding
/// the separator (a GetQueueUrl QueueName or ListQueues prefix no queue can have) is
/// qualified even in the home region, so it can never reach another region's queues.
pub fn key(home: &str, region: &str, name: &str) -> String {
    if region == home && !name.contains(SEPARATOR) {
        name.to_string()
    } else {
        format!("{region}{SEPARATOR}{name}")
    }
}

/// The queue name a key stands for (what URLs and ARNs show).
pub fn name(key: &str) -> &str {
    key.split_once(SEPARATOR).map_or(key, |(_, name)| name)
}

/// The region of a key, given the cluster's home region.
pub fn region<'a>(key: &'a str, home: &'a str) -> &'a str {
    key.split_once(SEPARATOR).map_or(home, |(region, _)| region)
}

/// The key of queue `name` in the same region as `key`: a dead-letter queue is always in
/// its source queue's region, as in AWS.
pub fn sibling(key: &str, name: &str) -> String {
    match key.split_once(SEPARATOR) {
        Some((region, _)) => format!("{region}{SEPARATOR}{name}"),
        None => name.to_string(),
    }
}

/// Whether `key` belongs to the region a ListQueues key prefix selects: a qualified prefix
/// (`<region>/…`) selects by itself; a bare one selects only home-region (bare) keys.
pub fn listed_under(key: &str, prefix: &str) -> bool {
    prefix.contains(SEPARATOR) || !key.contains(SEPARATOR)
}

/// The ARN of the queue a key stands for.
pub fn arn(key: &str, home: &str, account_id: &str) -> String {
    format!(
        "arn:aws:sqs:{}:{account_id}:{}",
        region(key, home),
        name(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_region_queues_keep_their_bare_names_and_others_are_qualified() {
        assert_eq!(key("us-east-1", "us-east-1", "q"), "q");
        let other = key("us-east-1", "eu-west-1", "q");
        assert_eq!(other, "eu-west-1/q");
        assert_ne!(other, key("us-east-1", "ap-south-1", "q"));
        assert_eq!(name(&other), "q");
        assert_eq!(region(&other, "us-east-1"), "eu-west-1");
        assert_eq!(region("q", "us-east-1"), "us-east-1");
        assert_eq!(sibling(&other, "dlq"), "eu-west-1/dlq");
        assert_eq!(sibling("q", "dlq"), "dlq");
        assert_eq!(
            arn(&other, "us-east-1", "000000000000"),
            "arn:aws:sqs:eu-west-1:000000000000:q"
        );
        assert_eq!(
            arn("q.fifo", "us-east-1", "1"),
            "arn:aws:sqs:us-east-1:1:q.fifo"
        );
        assert!(listed_under("q", "") && !listed_under(&other, "q"));
        assert!(listed_under(&other, "eu-west-1/"));
        // From the home region, a name naming another region's key stays out of it.
        assert_eq!(
            key("us-east-1", "us-east-1", "eu-west-1/q"),
            "us-east-1/eu-west-1/q"
        );
    }
}
