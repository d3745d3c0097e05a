//! Engine queries across the cluster: `/v1/brands`, the dashboard's brands page and a
//! brand's series are answered from every partition, not only the ones the answering node
//! runs. Each node answers for its own partitions on `cw.q.<node>` (NATS request and reply,
//! JSON as in the API); the node asked merges its own answer with the other live nodes'.
//! A node that does not answer within [`ASK_TIMEOUT`] is left out of the answer and the
//! omission logged: a brands page with some brands missing beats no page during a failover.

use super::owner::{self, Registry};
use super::partition;
use crate::engine::{BrandStatus, SeriesPoint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a node waits for another's answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// A question one node asks another.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Question {
    /// Every brand's status.
    Status,
    /// Every brand's status with its series of the last `minutes`.
    Overview {
        /// Minutes of series.
        minutes: i64,
    },
    /// One brand's series.
    Series {
        /// Brand id.
        brand: String,
        /// Minutes of series.
        minutes: i64,
    },
}

/// An answer, for the partitions of the node that gives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Answer {
    /// Brand statuses.
    Status(Vec<BrandStatus>),
    /// Brand statuses with series.
    Overview(Vec<(BrandStatus, Vec<SeriesPoint>)>),
    /// A brand's series, if this node runs its partition.
    Series(Option<Vec<SeriesPoint>>),
}

/// The subject on which `node` answers.
pub fn subject(node: &str) -> String {
    format!("cw.q.{node}")
}

/// `q` answered from the partitions in `registry` (of `partitions`), each for its own brands.
pub fn local(q: &Question, registry: &Registry, partitions: u32) -> Answer {
    let parts: Vec<std::sync::Arc<owner::Partition>> =
        registry.lock().expect("registry lock").values().cloned().collect();
    let mine = |p: &owner::Partition, id: &str| partition::of(id, partitions) == p.id;
    match q {
        Question::Status => {
            let mut all = Vec::new();
            for p in &parts {
                let e = p.engine.lock().expect("engine lock");
                all.extend(e.brand_status(false).into_iter().filter(|b| mine(p, &b.id)));
            }
            Answer::Status(all)
        }
        Question::Overview { minutes } => {
            let mut all = Vec::new();
            for p in &parts {
                let e = p.engine.lock().expect("engine lock");
                for b in e.brand_status(false).into_iter().filter(|b| mine(p, &b.id)) {
                    let points = e.series(&b.id, *minutes).unwrap_or_default();
                    all.push((b, points));
                }
            }
            Answer::Overview(all)
        }
        Question::Series { brand, minutes } => Answer::Series(
            parts
                .iter()
                .find(|p| mine(p, brand))
                .and_then(|p| p.engine.lock().expect("engine lock").series(brand, *minutes)),
        ),
    }
}

/// Answers the other nodes' questions on `cw.q.<node>` until `stop`.
pub async fn answer(
    client: async_nats::Client,
    node: String,
    registry: Registry,
    partitions: u32,
    stop: CancellationToken,
) {
    super::respond::serve(client, subject(&node), "questions", stop, |payload| {
        let registry = registry.clone();
        async move {
            match serde_json::from_slice::<Question>(&payload) {
                Ok(q) => {
                    let a = tokio::task::spawn_blocking(move || local(&q, &registry, partitions)).await.ok()?;
                    Some(serde_json::to_vec(&a).expect("JSON"))
                }
                Err(e) => {
                    tracing::error!(error = %e, "a question from another node is not a question (not answered)");
                    None
                }
            }
        }
    })
    .await;
}

/// `q` asked of each of `others` at once; the answers that came in time.
pub async fn ask(client: &async_nats::Client, others: &[String], q: &Question) -> Vec<Answer> {
    let body = serde_json::to_vec(q).expect("JSON");
    let asks = others.iter().map(|n| {
        let body = body.clone();
        async move {
            match tokio::time::timeout(ASK_TIMEOUT, client.request(subject(n), body.into())).await {
                Ok(Ok(m)) => match serde_json::from_slice::<Answer>(&m.payload) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        tracing::error!(node = %n, error = %e, "an answer from another node is not an answer");
                        None
                    }
                },
                Ok(Err(e)) => {
                    tracing::warn!(node = %n, error = %e, "another node did not answer; its brands are left out");
                    None
                }
                Err(_) => {
                    tracing::warn!(node = %n, "another node did not answer in time; its brands are left out");
                    None
                }
            }
        }
    });
    futures_util::future::join_all(asks).await.into_iter().flatten().collect()
}

/// Merges answers to one question: each brand once (a partition moving between nodes may
/// be answered for by both), sorted by brand id.
pub fn merge(q: &Question, answers: Vec<Answer>) -> Answer {
    let mut seen = BTreeSet::new();
    match q {
        Question::Status => {
            let mut all: Vec<BrandStatus> = answers
                .into_iter()
                .flat_map(|a| if let Answer::Status(v) = a { v } else { Vec::new() })
                .filter(|b| seen.insert(b.id.clone()))
                .collect();
            all.sort_by(|a, b| a.id.cmp(&b.id));
            Answer::Status(all)
        }
        Question::Overview { .. } => {
            let mut all: Vec<(BrandStatus, Vec<SeriesPoint>)> = answers
                .into_iter()
                .flat_map(|a| if let Answer::Overview(v) = a { v } else { Vec::new() })
                .filter(|b| seen.insert(b.0.id.clone()))
                .collect();
            all.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            Answer::Overview(all)
        }
        Question::Series { .. } => {
            Answer::Series(answers.into_iter().find_map(|a| if let Answer::Series(s) = a { s } else { None }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{OpenStatus, WindowStatus};

    fn brand(id: &str) -> BrandStatus {
        BrandStatus {
            id: id.into(),
            name: id.to_uppercase(),
            mentions: vec![WindowStatus { window: "1h", observed: 40, expected: 31.5 }],
            negative_share_1h: Some(0.25),
            baseline_negative_share: 0.2,
            dispersion: 0.1,
            warm: true,
            open_incidents: vec![OpenStatus {
                id: format!("{id}-1"),
                rule: "negative-surge".into(),
                severity: crate::alert::Severity::Warning,
            }],
        }
    }

    #[test]
    fn answers_cross_the_wire_unchanged_and_merge_each_brand_once_in_order() {
        let point = SeriesPoint { minute: 29_000_000, mentions: 3, negative: 1, expected: 2.5, lower: 0.0, upper: 7.0 };
        let a = Answer::Overview(vec![(brand("globex"), vec![point]), (brand("acme"), vec![])]);
        let wire = serde_json::to_vec(&a).unwrap();
        let back: Answer = serde_json::from_slice(&wire).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&a).unwrap());
        let bad = String::from_utf8(wire).unwrap().replace("\"1h\"", "\"2h\"");
        let err = serde_json::from_str::<Answer>(&bad).unwrap_err().to_string();
        assert!(err.contains("`2h` is not a window"), "{err}");
        // a partition moving between nodes: both answer for acme
        let merged = merge(
            &Question::Status,
            vec![
                Answer::Status(vec![brand("globex"), brand("acme")]),
                Answer::Status(vec![brand("acme"), brand("initech")]),
            ],
        );
        let Answer::Status(all) = merged else { panic!() };
        assert_eq!(all.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["acme", "globex", "initech"]);
        let q = Question::Series { brand: "acme".into(), minutes: 60 };
        let found = merge(&q, vec![Answer::Series(None), Answer::Series(Some(vec![point]))]);
        assert!(matches!(found, Answer::Series(Some(p)) if p.len() == 1));
        assert!(matches!(merge(&q, vec![Answer::Series(None)]), Answer::Series(None)));
    }
}
