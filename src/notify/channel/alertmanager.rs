//! The Alertmanager webhook format (version 4) of a webhook notification, for consumers that
//! already speak it (`format = "alertmanager"` on a `webhook` receiver). One alert per
//! incident of the notification (the lead, then the related ones); the signature headers are
//! ours as for every webhook, computed over this body.
//!
//! Labels: `alertname` (`crisiswatch_<metric>`), `brand`, `severity`, `rule`, `metric`,
//! `source` (`crisiswatch`); annotations: `summary`, `description`, `incident`, `observed`,
//! `expected`, `p_value`, `ack_url`, `dashboard_url`, `first_reply`. `startsAt` is the
//! window's start, `endsAt` the resolution time (the zero time while firing, as Alertmanager
//! sends it), `fingerprint` a hash of the incident id.

use serde_json::{json, Map, Value};

/// Alertmanager's "no end" time.
const OPEN_END: &str = "0001-01-01T00:00:00Z";

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn alert(e: &Value, n: &Value) -> Value {
    let resolved = e["status"] == "resolved";
    let metric = text(&e["metric"]);
    let brand = e["brand_name"].as_str().or(e["brand"].as_str()).unwrap_or("");
    let mut labels = Map::new();
    labels.insert(
        "alertname".into(),
        json!(format!("crisiswatch_{}", if metric.is_empty() { "alert" } else { &metric })),
    );
    for k in ["brand", "severity", "rule", "metric"] {
        if let Some(v) = e[k].as_str() {
            labels.insert(k.into(), json!(v));
        }
    }
    labels.insert("source".into(), json!("crisiswatch"));
    let summary = format!(
        "{} {} for {brand}: {} observed, {} usual",
        text(&e["severity"]).to_uppercase(),
        metric,
        text(&e["observed"]),
        text(&e["expected"])
    );
    let description = e["top_posts"][0]["text"].as_str().unwrap_or("").chars().take(500).collect::<String>();
    let mut ann = Map::new();
    ann.insert("summary".into(), json!(summary));
    ann.insert("description".into(), json!(description));
    for (k, v) in [
        ("incident", &e["id"]),
        ("observed", &e["observed"]),
        ("expected", &e["expected"]),
        ("p_value", &e["p_value"]),
        ("ack_url", &n["ack_url"]),
        ("dashboard_url", &n["dashboard_url"]),
        ("first_reply", &e["suggested_responses"][0]["text"]),
    ] {
        if !v.is_null() {
            ann.insert(k.into(), json!(text(v)));
        }
    }
    let id = text(&e["id"]);
    json!({
        "status": if resolved { "resolved" } else { "firing" },
        "labels": labels,
        "annotations": ann,
        "startsAt": e["window_start"].as_str().or(e["at"].as_str()).unwrap_or(OPEN_END),
        "endsAt": if resolved { e["at"].as_str().unwrap_or(OPEN_END) } else { OPEN_END },
        "generatorURL": text(&n["dashboard_url"]),
        "fingerprint": format!("{:016x}", crate::hash::fnv1a(id.as_bytes())),
    })
}

/// The Alertmanager v4 body of a webhook notification body (ours: the lead event with
/// `notification` and `related`). A body that is not ours is passed through unchanged.
pub fn render(body: &str) -> String {
    let Ok(lead) = serde_json::from_str::<Value>(body) else { return body.to_string() };
    let n = &lead["notification"];
    if !n.is_object() {
        return body.to_string();
    }
    let mut alerts = vec![alert(&lead, n)];
    if let Some(rel) = lead["related"].as_array() {
        alerts.extend(rel.iter().map(|e| alert(e, n)));
    }
    let status = if alerts.iter().any(|a| a["status"] == "firing") { "firing" } else { "resolved" };
    let brand = text(&lead["brand"]);
    let external = n["dashboard_url"].as_str().and_then(|u| {
        let url = reqwest::Url::parse(u).ok()?;
        Some(url.origin().ascii_serialization())
    });
    let common = alerts[0]["labels"].as_object().cloned().unwrap_or_default();
    let common: Map<String, Value> =
        common.into_iter().filter(|(k, v)| alerts.iter().all(|a| a["labels"][k] == *v)).collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{brand=\"{brand}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": text(&n["receiver"]),
        "groupLabels": {"brand": brand},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external.unwrap_or_default(),
        "alerts": alerts,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_becomes_an_alertmanager_v4_message() {
        let mut lead = json!({"id": "test-1", "status": "firing", "severity": "warning", "brand": "acme",
            "brand_name": "Acme", "rule": "negative-surge", "metric": "negative", "at": "2027-01-15T08:00:00Z",
            "window_start": "2027-01-15T07:45:00Z", "observed": 240.0, "expected": 31.5, "p_value": 2.0e-9,
            "top_posts": [{"text": "Acme app is down again"}], "suggested_responses": [{"text": "We see it too."}]});
        let mut resolved = lead.clone();
        resolved["id"] = json!("other");
        resolved["status"] = json!("resolved");
        lead["notification"] = json!({"kind": "alert", "receiver": "playbooks", "step": 0,
            "ack_url": "https://cw.example.com/l/abc", "dashboard_url": "https://cw.example.com/incidents/test"});
        lead["related"] = json!([resolved]);
        let v: Value = serde_json::from_str(&render(&lead.to_string())).unwrap();
        // every field of Alertmanager's published webhook schema (version 4)
        for k in [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        ] {
            assert!(v.get(k).is_some(), "no `{k}`: {v}");
        }
        assert_eq!(
            (v["version"].as_str(), v["status"].as_str(), v["receiver"].as_str()),
            (Some("4"), Some("firing"), Some("playbooks"))
        );
        assert_eq!(v["externalURL"], "https://cw.example.com");
        let a = &v["alerts"][0];
        for k in ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"] {
            assert!(a.get(k).is_some(), "alert without `{k}`: {a}");
        }
        assert_eq!(a["labels"]["alertname"], "crisiswatch_negative");
        assert_eq!((a["labels"]["brand"].as_str(), a["labels"]["severity"].as_str()), (Some("acme"), Some("warning")));
        assert_eq!(a["endsAt"], OPEN_END);
        assert!(crate::time::parse_timestamp(a["startsAt"].as_str().unwrap()).is_ok());
        assert_eq!(a["annotations"]["ack_url"], "https://cw.example.com/l/abc");
        let b = &v["alerts"][1];
        assert_eq!(b["status"], "resolved");
        assert_ne!(a["fingerprint"], b["fingerprint"]);
        assert_eq!(v["commonLabels"]["brand"], "acme");
        assert!(v["commonLabels"].get("severity").is_some(), "same severity in both");
        // not ours: unchanged
        assert_eq!(render("{\"x\":1}"), "{\"x\":1}");
    }
}
