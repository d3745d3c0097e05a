//! `[cluster]` and `--cluster`: run the service as one node of a cluster on NATS JetStream
//! (see `serve::cluster`). Absent: the single-node service (ingest log + SQLite), the
//! default.
//!
//! ```toml
//! [cluster]
//! servers = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
//! partitions = 16      # fixed when the cluster's streams are first created
//! replicas = 3         # JetStream replicas of every stream and bucket
//! node = "cw-a"        # this node's name (default: the host name and the listen port)
//! lease_ttl = "6s"     # a partition owner that stops renewing loses it after this
//! retention = "7d"     # how long the mention stream keeps records (snapshots cover them)
//! ```

use crate::diag::{Diagnostic, Source};
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// `[cluster]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRaw {
    /// NATS server URLs.
    #[serde(default)]
    pub servers: Option<Spanned<Vec<Spanned<String>>>>,
    /// Partition count.
    pub partitions: Option<Spanned<u32>>,
    /// Replicas of every stream and bucket.
    pub replicas: Option<Spanned<u32>>,
    /// This node's name.
    pub node: Option<Spanned<String>>,
    /// Lease time to live.
    pub lease_ttl: Option<Spanned<String>>,
    /// How long the mention stream keeps records.
    pub retention: Option<Spanned<String>>,
}

/// The cluster settings the service runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// NATS server URLs (`nats://host:port`), tried in turn.
    pub servers: Vec<String>,
    /// Partitions of the mention stream (brands are hashed onto them). Fixed once the
    /// streams exist: a node configured with another count refuses to start.
    pub partitions: u32,
    /// JetStream replicas of every stream, bucket and object store (1, 3 or 5 in practice).
    pub replicas: usize,
    /// This node's name, unique in the cluster (`None`: host name and listen port).
    pub node: Option<String>,
    /// How long a partition lease lives without renewal: the longest a partition can be
    /// without an owner after its owner died. Renewed every third of it.
    pub lease_ttl: Duration,
    /// How long the mention stream keeps records (its `max_age`, set when the stream is
    /// created). Partition snapshots make older records unnecessary; a partition whose
    /// snapshot is older than this (an owner stopped for that long) loses what it missed.
    pub retention: Duration,
}

/// The default partition count: enough for a few nodes to share evenly.
pub const DEFAULT_PARTITIONS: u32 = 16;
/// How long the mention stream keeps records by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// The largest partition count accepted.
pub const MAX_PARTITIONS: u32 = 4096;

/// Checks one NATS URL: `nats://host:port` (or `tls://`), a host and a port.
///
/// # Errors
/// What is wrong with it.
pub fn check_server(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("nats://")
        .or_else(|| s.strip_prefix("tls://"))
        .ok_or_else(|| format!("`{s}`: a NATS URL starts with nats:// or tls://"))?;
    let hostport = rest.rsplit('@').next().unwrap_or(rest); // user:pass@ is NATS's own syntax
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(format!("`{s}`: give host:port, e.g. nats://127.0.0.1:4222")),
    }
}

fn check_node(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("node name `{s}`: 1 to 64 of A-Z, a-z, 0-9, `-` and `_`"));
    }
    Ok(())
}

/// Validates `[cluster]` with `--cluster` (comma-separated URLs) on top: `None` when neither
/// is given. Every problem goes to `errs`, at its value (the flag's at the file's start).
pub fn validate(
    raw: Option<&ClusterRaw>,
    flag: Option<&str>,
    src: &Source<'_>,
    errs: &mut Vec<Diagnostic>,
) -> Option<Cluster> {
    if raw.is_none() && flag.is_none() {
        return None;
    }
    let empty = ClusterRaw::default();
    let raw = raw.unwrap_or(&empty);
    let mut servers = Vec::new();
    match (flag, &raw.servers) {
        (Some(f), _) => {
            for s in f.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match check_server(s) {
                    Ok(()) => servers.push(s.to_string()),
                    Err(e) => errs.push(src.at(0..0, format!("--cluster: {e}"))),
                }
            }
            if servers.is_empty() && !f.split(',').any(|s| !s.trim().is_empty()) {
                errs.push(src.at(0..0, "--cluster: give at least one nats://host:port"));
            }
        }
        (None, Some(list)) => {
            for s in list.get_ref() {
                match check_server(s.get_ref()) {
                    Ok(()) => servers.push(s.get_ref().clone()),
                    Err(e) => errs.push(src.at(s.span(), format!("[cluster] servers: {e}"))),
                }
            }
            if list.get_ref().is_empty() {
                errs.push(src.at(list.span(), "[cluster] servers: give at least one nats://host:port"));
            }
        }
        (None, None) => errs.push(src.at(0..0, "[cluster]: `servers` is missing (or pass --cluster nats://host:port)")),
    }
    let partitions = match &raw.partitions {
        Some(p) if !(1..=MAX_PARTITIONS).contains(p.get_ref()) => {
            errs.push(src.at(p.span(), format!("[cluster] partitions: 1 to {MAX_PARTITIONS}")));
            DEFAULT_PARTITIONS
        }
        Some(p) => *p.get_ref(),
        None => DEFAULT_PARTITIONS,
    };
    let replicas = match &raw.replicas {
        Some(r) if !(1..=5).contains(r.get_ref()) => {
            errs.push(src.at(r.span(), "[cluster] replicas: 1 to 5 (JetStream's limit)"));
            1
        }
        Some(r) => *r.get_ref() as usize,
        None => 1,
    };
    let node = raw.node.as_ref().and_then(|n| match check_node(n.get_ref()) {
        Ok(()) => Some(n.get_ref().clone()),
        Err(e) => {
            errs.push(src.at(n.span(), format!("[cluster] {e}")));
            None
        }
    });
    let lease_ttl = match &raw.lease_ttl {
        Some(s) => match crate::units::parse_duration(s.get_ref()) {
            Ok(d) if d >= Duration::from_secs(1) => d,
            Ok(_) => {
                errs.push(src.at(s.span(), "[cluster] lease_ttl: at least 1s"));
                Duration::from_secs(6)
            }
            Err(e) => {
                errs.push(src.at(s.span(), format!("[cluster] lease_ttl: {e}")));
                Duration::from_secs(6)
            }
        },
        None => Duration::from_secs(6),
    };
    let retention = match &raw.retention {
        Some(s) => match crate::units::parse_duration(s.get_ref()) {
            Ok(d) if d >= Duration::from_secs(3600) => d,
            Ok(_) => {
                errs.push(src.at(s.span(), "[cluster] retention: at least 1h"));
                DEFAULT_RETENTION
            }
            Err(e) => {
                errs.push(src.at(s.span(), format!("[cluster] retention: {e}")));
                DEFAULT_RETENTION
            }
        },
        None => DEFAULT_RETENTION,
    };
    Some(Cluster { servers, partitions, replicas, node, lease_ttl, retention })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(text: &str, flag: Option<&str>) -> (Option<Cluster>, Vec<Diagnostic>) {
        #[derive(Deserialize)]
        struct F {
            cluster: Option<ClusterRaw>,
        }
        let f: F = toml::from_str(text).unwrap();
        let src = Source { path: Path::new("c.toml"), text };
        let mut errs = Vec::new();
        let c = validate(f.cluster.as_ref(), flag, &src, &mut errs);
        (c, errs)
    }

    #[test]
    fn absent_means_single_node_and_the_flag_alone_is_enough() {
        assert_eq!(run("", None).0, None);
        let (c, e) = run("", Some("nats://127.0.0.1:4222, nats://h2:4223"));
        assert!(e.is_empty(), "{e:?}");
        let c = c.unwrap();
        assert_eq!(c.servers, ["nats://127.0.0.1:4222", "nats://h2:4223"]);
        assert_eq!((c.partitions, c.replicas, c.lease_ttl), (16, 1, Duration::from_secs(6)));
    }

    #[test]
    fn every_problem_is_reported_at_its_value() {
        let text = "[cluster]\nservers = [\"http://x:1\", \"nats://y\"]\npartitions = 0\nreplicas = 7\nnode = \"a b\"\nlease_ttl = \"10ms\"\n";
        let (_, e) = run(text, None);
        let lines: Vec<usize> = e.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 2, 3, 4, 5, 6], "{e:?}");
        assert!(e[0].message.contains("nats://"), "{}", e[0].message);
        assert!(e[1].message.contains("host:port"), "{}", e[1].message);
        let (_, e) = run("[cluster]\npartitions = 4\n", None);
        assert!(e[0].message.contains("`servers` is missing"), "{e:?}");
        let (_, e) = run("", Some(" , "));
        assert!(e[0].message.contains("at least one"), "{e:?}");
    }

    #[test]
    fn the_flag_replaces_the_file_servers() {
        let (c, e) = run("[cluster]\nservers = [\"nats://a:1\"]\npartitions = 8\nnode = \"n1\"\n", Some("nats://b:2"));
        assert!(e.is_empty());
        let c = c.unwrap();
        assert_eq!((c.servers, c.partitions, c.node.as_deref()), (vec!["nats://b:2".to_string()], 8, Some("n1")));
    }
}
