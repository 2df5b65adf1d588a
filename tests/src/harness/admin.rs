//! Envoy's admin API, as far as the harness needs it.
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy() // loopback only; an HTTP_PROXY in the environment must not capture it
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

pub async fn get(admin_port: u16, path: &str) -> anyhow::Result<String> {
    let url = format!("http://127.0.0.1:{admin_port}{path}");
    let resp = client()
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .with_context(|| format!("reading {url}"))?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}: {body}");
    Ok(body)
}

/// The address the named listener is bound to (the harness gives Envoy port 0).
pub async fn listener_port(admin_port: u16, name: &str) -> anyhow::Result<u16> {
    let body = get(admin_port, "/listeners?format=json").await?;
    let json: Value = serde_json::from_str(&body).context("admin /listeners is not JSON")?;
    json["listener_statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["name"] == name)
        .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .with_context(|| format!("listener {name} not in admin /listeners: {body}"))
}

/// Counters and gauges (histograms are left out) from admin `/stats?format=json`.
pub fn parse_stats(body: &str) -> anyhow::Result<BTreeMap<String, u64>> {
    let json: Value = serde_json::from_str(body).context("admin /stats is not JSON")?;
    Ok(json["stats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["value"].as_u64()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_keep_counters_and_gauges_and_skip_histograms() {
        let body = r#"{"stats":[{"name":"a.b","value":3},{"name":"c","value":0},
            {"histograms":{"computed_quantiles":[]}}]}"#;
        let stats = parse_stats(body).unwrap();
        assert_eq!(stats.len(), 2);
        assert_eq!(stats["a.b"], 3);
    }
}
